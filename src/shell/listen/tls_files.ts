/**
 * Read the TLS certificate chain and private key (PEM) for a listener.
 *
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import { ListenError, type TlsPaths } from "./types.ts";

/** PEM material, read once at start. */
export interface TlsPem {
  cert: string;
  key: string;
  /** Client CA bundle, when client certificates are required. */
  ca?: string;
}

/**
 * Read cert and key; the key file must grant nothing to group or others (0600 or stricter).
 * @throws {ListenError} `tls_key_insecure`; file system errors as thrown by node:fs.
 */
export function readTlsFiles(tls: TlsPaths): TlsPem {
  const keyMode = statSync(tls.keyPath).mode & 0o777;
  if ((keyMode & 0o077) !== 0) {
    throw new ListenError(
      "tls_key_insecure",
      `TLS key file mode is ${keyMode.toString(8)}, need 600`,
    );
  }
  return {
    cert: readFileSync(tls.certPath, "utf8"),
    key: readFileSync(tls.keyPath, "utf8"),
    ...(tls.caPath !== undefined ? { ca: readFileSync(tls.caPath, "utf8") } : {}),
  };
}
