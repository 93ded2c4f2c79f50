/**
 * Downstream TLS (contract §12): the `fetch` the ledger, inputs and policy HTTP clients use.
 * `DOWNSTREAM_TLS=off` (default) | `required` (https only) | `mtls` (https with a client
 * certificate); `DOWNSTREAM_CA_PATH` (PEM bundle trusted for downstreams),
 * `DOWNSTREAM_CERT_PATH` and `DOWNSTREAM_KEY_PATH` (0600) for `mtls`. The configuration has
 * already refused an `http://` downstream under `required`/`mtls` and `mtls` without its files.
 *
 * Per runtime (docs/RUNTIMES.md "Downstream TLS"):
 * - Deno: `Deno.createHttpClient({ caCerts, cert, key })` (rustls: TLS 1.2 and 1.3 only,
 *   hostnames verified). Deno adds `caCerts` to its root store; it cannot replace it.
 * - Bun: `fetch`'s `tls` option (`ca` replaces the default roots, `rejectUnauthorized`).
 * - Node: `node:https` with an Agent (`ca` replaces the default roots, `minVersion`
 *   TLSv1.2, hostname checked by `checkServerIdentity`); no extra dependency.
 *
 * Hostnames are always verified and no option here turns verification off.
 *
 * @module
 */
import { readFile, stat } from "node:fs/promises";
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import type { Config, Runtime } from "../config/config.ts";
import { currentRuntime } from "../config/config.ts";

/** The fetch signature the downstream clients take. */
export type DownstreamFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** PEM material for downstream connections. */
export interface DownstreamTlsPem {
  /** Trusted roots (replacing the system's where the runtime allows it). */
  ca?: string;
  /** Client certificate chain (mtls). */
  cert?: string;
  /** Client private key (mtls). */
  key?: string;
}

/** A downstream HTTP client: its fetch, and close() to release pooled connections. */
export interface DownstreamClient {
  fetch: DownstreamFetch;
  close(): void;
}

/** Largest PEM file read, bytes (a bundle of a few hundred certificates). */
export const PEM_FILE_BYTES_MAX = 1024 * 1024;
/** Lowest TLS version offered to a downstream. */
export const DOWNSTREAM_TLS_MIN_VERSION = "TLSv1.2";

async function readPem(variable: string, path: string, secret: boolean): Promise<string> {
  const info = await stat(path).catch(() => {
    throw new Error(`Cannot read ${variable}: ${path} does not exist or is unreadable`);
  });
  if (secret && (info.mode & 0o077) !== 0) {
    throw new Error(
      `Cannot use ${variable}: ${path} has mode ${(info.mode & 0o777).toString(8)}, must be 0600`,
    );
  }
  if (info.size > PEM_FILE_BYTES_MAX) throw new Error(`Cannot use ${variable}: ${path} too large`);
  const text = await readFile(path, "utf8");
  if (!text.includes("-----BEGIN ")) throw new Error(`Cannot use ${variable}: ${path} is not PEM`);
  return text;
}

/**
 * Reads the files the configuration names; undefined when downstream connections use the
 * runtime's defaults (no CA bundle, no client certificate).
 */
export async function readDownstreamTls(
  config: Pick<
    Config,
    "downstreamTls" | "downstreamCaPath" | "downstreamCertPath" | "downstreamKeyPath"
  >,
): Promise<DownstreamTlsPem | undefined> {
  const pem: DownstreamTlsPem = {};
  if (config.downstreamCaPath !== undefined) {
    pem.ca = await readPem("DOWNSTREAM_CA_PATH", config.downstreamCaPath, false);
  }
  if (config.downstreamTls === "mtls") {
    if (config.downstreamCertPath === undefined || config.downstreamKeyPath === undefined) {
      throw new Error("Cannot use DOWNSTREAM_TLS=mtls: DOWNSTREAM_CERT_PATH and _KEY_PATH unset");
    }
    pem.cert = await readPem("DOWNSTREAM_CERT_PATH", config.downstreamCertPath, false);
    pem.key = await readPem("DOWNSTREAM_KEY_PATH", config.downstreamKeyPath, true);
  }
  return pem.ca === undefined && pem.cert === undefined ? undefined : pem;
}

/**
 * The downstream client for `pem` on `runtime`; the plain global `fetch` when there is no
 * material (the runtime's roots, no client certificate).
 *
 * @example
 * ```ts
 * const client = createDownstreamClient(await readDownstreamTls(config));
 * await client.fetch("https://ledger.internal/intents", { method: "POST", body });
 * client.close();
 * ```
 */
export function createDownstreamClient(
  pem: DownstreamTlsPem | undefined,
  runtime: Runtime = currentRuntime(),
): DownstreamClient {
  if (pem === undefined) return { fetch: (url, init) => fetch(url, init), close: () => {} };
  switch (runtime) {
    case "deno":
      return denoClient(pem);
    case "bun":
      return bunClient(pem);
    case "node":
      return nodeClient(pem);
  }
}

function denoClient(pem: DownstreamTlsPem): DownstreamClient {
  const client = Deno.createHttpClient({
    ...(pem.ca !== undefined ? { caCerts: [pem.ca] } : {}),
    ...(pem.cert !== undefined && pem.key !== undefined ? { cert: pem.cert, key: pem.key } : {}),
  });
  return {
    fetch: (url, init) => fetch(url, { ...init, client } as RequestInit),
    close: () => client.close(),
  };
}

function bunClient(pem: DownstreamTlsPem): DownstreamClient {
  const tls = { ...pem, rejectUnauthorized: true };
  return {
    fetch: (url, init) => fetch(url, { ...init, tls } as RequestInit),
    close: () => {},
  };
}

function nodeClient(pem: DownstreamTlsPem): DownstreamClient {
  let agent: import("node:https").Agent | undefined;
  let https: typeof import("node:https") | undefined;
  const tlsOptions = {
    ...pem,
    minVersion: DOWNSTREAM_TLS_MIN_VERSION,
    rejectUnauthorized: true,
  } as const;
  return {
    fetch: async (url, init = {}) => {
      const target = new URL(String(url));
      // Only https goes through the TLS agent; the configuration decides whether http is allowed.
      if (target.protocol !== "https:") return await fetch(url, init);
      https ??= await import("node:https");
      agent ??= new https.Agent({ keepAlive: true, ...tlsOptions });
      return await nodeHttpsFetch(https, agent, target, init);
    },
    close: () => agent?.destroy(),
  };
}

function bodyBytes(body: RequestInit["body"]): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError("downstream fetch: body must be a string or bytes");
}

/** A minimal `fetch` over node:https: method, headers, byte body, signal; streamed answer. */
function nodeHttpsFetch(
  https: typeof import("node:https"),
  agent: import("node:https").Agent,
  url: URL,
  init: RequestInit,
): Promise<Response> {
  const body = bodyBytes(init.body);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => headers[name] = value);
  if (body !== undefined) headers["content-length"] = String(body.byteLength);
  const signal = init.signal ?? undefined;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const req = https.request(url, { method: init.method ?? "GET", headers, agent }, (res) => {
      const out = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        if (Array.isArray(value)) { for (const v of value) out.append(name, v); }
        else if (value !== undefined) out.set(name, value);
      }
      const status = res.statusCode ?? 502;
      const empty = status === 204 || status === 304 || init.method === "HEAD";
      if (empty) res.resume();
      resolve(
        new Response(empty ? null : Readable.toWeb(res) as ReadableStream<Uint8Array>, {
          status,
          statusText: res.statusMessage ?? "",
          headers: out,
        }),
      );
    });
    const onAbort = () => req.destroy(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    req.once("close", () => signal?.removeEventListener("abort", onAbort));
    req.once("error", reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}

/**
 * Opens the downstream client the configuration asks for (reads the files once at start).
 * @throws {Error} one line naming the variable whose file is missing, loose or not PEM.
 */
export async function openDownstreamClient(
  config: Pick<
    Config,
    "downstreamTls" | "downstreamCaPath" | "downstreamCertPath" | "downstreamKeyPath"
  >,
  runtime: Runtime = currentRuntime(),
): Promise<DownstreamClient> {
  return createDownstreamClient(await readDownstreamTls(config), runtime);
}
