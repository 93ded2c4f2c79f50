/**
 * Where inputs and policies come from (contract §12): the local content store and POLICY_DIR
 * (embedded default), or read-only HTTP services. Every fetched byte is verified: inputs
 * against their CID, policies against their hash and governance signatures (by the caller).
 *
 * @module
 */
import { cidOf } from "../../core/cid.ts";
import { RewarderError } from "../../core/errors.ts";
import { CAS_OBJECT_BYTES_MAX, casGet } from "./cas.ts";

/** Largest HTTP response we read from a source (bytes). */
export const SOURCE_RESPONSE_BYTES_MAX = CAS_OBJECT_BYTES_MAX;
/** Largest policy envelope (bytes): policies are small documents. */
export const POLICY_ENVELOPE_BYTES_MAX = 256 * 1024;

/** Fetches an inputs document by CID, verified. */
export type InputsSource = (
  cid: string,
  ctx: { tenant: string; signal: AbortSignal },
) => Promise<Uint8Array>;

/** The local store as an inputs source. */
export function localInputsSource(dataDir: string): InputsSource {
  return (cid) => casGet(dataDir, cid);
}

/**
 * An HTTP accounting service serving `GET <base>/<cid>`: own deadline, capped size, bytes
 * verified against the CID. `tokenFor` supplies an attenuated bearer (or none).
 */
export function httpInputsSource(
  baseUrl: string,
  options: {
    attemptMs: number;
    tokenFor?: (tenant: string, cid: string) => string | undefined;
    /** The downstream client's fetch (DOWNSTREAM_TLS, src/shell/sources/downstream_tls.ts). */
    fetch?: (url: string | URL, init?: RequestInit) => Promise<Response>;
  },
): InputsSource {
  return async (cid, ctx) => {
    const token = options.tokenFor?.(ctx.tenant, cid);
    const bytes = await fetchCapped(`${baseUrl.replace(/\/$/, "")}/${cid}`, {
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(options.attemptMs)]),
      bytesMax: SOURCE_RESPONSE_BYTES_MAX,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(token === undefined ? {} : { headers: { Authorization: `Macaroon ${token}` } }),
    });
    if (cidOf(bytes) !== cid) throw new RewarderError("BAD_REQUEST", "cid_mismatch");
    return bytes;
  };
}

/** GET `url`, reading at most `bytesMax`; 404 → NOT_FOUND, other failures → 503. */
export async function fetchCapped(
  url: string,
  options: {
    signal: AbortSignal;
    bytesMax: number;
    headers?: Record<string, string>;
    fetch?: (url: string | URL, init?: RequestInit) => Promise<Response>;
  },
): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, {
      signal: options.signal,
      redirect: "error",
      ...(options.headers ? { headers: options.headers } : {}),
    });
  } catch (cause) {
    throw new RewarderError("DEPENDENCY_UNAVAILABLE", "source_unreachable", {
      retryAfterS: 5,
      cause,
    });
  }
  if (response.status === 404) {
    await response.body?.cancel();
    throw new RewarderError("NOT_FOUND", "unknown_cid");
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new RewarderError("DEPENDENCY_UNAVAILABLE", "source_status", { retryAfterS: 5 });
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > options.bytesMax) {
      await reader.cancel();
      throw new RewarderError("DEPENDENCY_UNAVAILABLE", "source_oversize", { retryAfterS: 5 });
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
