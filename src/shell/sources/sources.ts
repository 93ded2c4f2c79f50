/**
 * Where inputs and policies come from (contract §12): the local content store and POLICY_DIR
 * (embedded default), or read-only HTTP services. Every fetched byte is verified: inputs
 * against their CID (by the engine worker), policies against their hash and governance
 * signatures (by the caller).
 *
 * @module
 */
import { isCid } from "../../core/cid.ts";
import { RewarderError } from "../../core/errors.ts";
import type { EngineInputs } from "../engine/engine_worker.ts";
import { CAS_OBJECT_BYTES_MAX, casLocate } from "./cas.ts";
import { readBodyCapped } from "../http/read_body_capped.ts";

/** Largest HTTP response we read from a source (bytes). */
export const SOURCE_RESPONSE_BYTES_MAX = CAS_OBJECT_BYTES_MAX;
/** Largest policy envelope (bytes): policies are small documents. */
export const POLICY_ENVELOPE_BYTES_MAX = 256 * 1024;

/**
 * An inputs object found by its CID but not yet read: its size is known before any byte is
 * (local store: the file's size; HTTP: Content-Length when sent), so the cost guard decides
 * first (contract §12 MAX_EPOCH_COST_MS). The bytes are verified against the CID by the
 * engine worker, off the request loop (src/shell/engine/engine_worker.ts).
 */
export interface InputsObject {
  /** Size in bytes when known before reading, else undefined (counted while streaming). */
  readonly sizeBytes: number | undefined;
  /**
   * What the engine reads: the store's file (not read here), or the body streamed and cut
   * past `bytesMax` (then `oversize()` is thrown: the caller's error, e.g. the cost guard).
   */
  load(bytesMax: number, oversize: () => RewarderError): Promise<EngineInputs>;
  /** Releases an object not loaded (an HTTP body is cancelled). */
  discard(): Promise<void>;
}

/** Finds an inputs document by CID (contract §12: local store or HTTP source). */
export type InputsSource = (
  cid: string,
  ctx: { tenant: string; signal: AbortSignal },
) => Promise<InputsObject>;

/** The local store as an inputs source: a stat here, the read and hash in the worker. */
export function localInputsSource(dataDir: string): InputsSource {
  return async (cid) => {
    const at = await casLocate(dataDir, cid);
    return {
      sizeBytes: at.sizeBytes,
      load(bytesMax, oversize) {
        if (at.sizeBytes > bytesMax) return Promise.reject(oversize());
        return Promise.resolve({ kind: "file", path: at.path, sizeBytes: at.sizeBytes });
      },
      discard: () => Promise.resolve(),
    };
  };
}

/**
 * An HTTP accounting service serving `GET <base>/<cid>`: own deadline, capped size (its
 * Content-Length refused past SOURCE_RESPONSE_BYTES_MAX before any body byte, the body
 * counted while streaming), bytes verified against the CID by the engine worker.
 * `tokenFor` supplies an attenuated bearer (or none).
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
    if (!isCid(cid)) throw new RewarderError("BAD_REQUEST", "schema", { path: "cid" });
    const token = options.tokenFor?.(ctx.tenant, cid);
    const response = await fetchResponse(`${baseUrl.replace(/\/$/, "")}/${cid}`, {
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(options.attemptMs)]),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(token === undefined ? {} : { headers: { Authorization: `Macaroon ${token}` } }),
    });
    const sizeBytes = contentLengthOf(response);
    if (sizeBytes !== undefined && sizeBytes > SOURCE_RESPONSE_BYTES_MAX) {
      await response.body?.cancel();
      throw new RewarderError("DEPENDENCY_UNAVAILABLE", "source_oversize", { retryAfterS: 5 });
    }
    return {
      sizeBytes,
      async load(bytesMax, oversize) {
        const sourceCut = () =>
          new RewarderError("DEPENDENCY_UNAVAILABLE", "source_oversize", { retryAfterS: 5 });
        const bytes = bytesMax < SOURCE_RESPONSE_BYTES_MAX
          ? await readCapped(response.body!, bytesMax, oversize)
          : await readCapped(response.body!, SOURCE_RESPONSE_BYTES_MAX, sourceCut);
        return { kind: "bytes", bytes };
      },
      discard: async () => {
        await response.body?.cancel();
      },
    };
  };
}

/** A well-formed Content-Length (digits only), else undefined (then counted). */
function contentLengthOf(response: Response): number | undefined {
  const value = response.headers.get("content-length");
  if (value === null || !/^[0-9]{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** GET `url`: 404 → NOT_FOUND `unknown_cid`, other failures → 503; the body unread. */
async function fetchResponse(
  url: string,
  options: {
    signal: AbortSignal;
    headers?: Record<string, string>;
    fetch?: (url: string | URL, init?: RequestInit) => Promise<Response>;
  },
): Promise<Response> {
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
  return response;
}

/** Reads `body` whole, cut (cancelled) as soon as it passes `bytesMax` bytes. */
async function readCapped(
  body: ReadableStream<Uint8Array>,
  bytesMax: number,
  oversize: () => RewarderError,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  for (;;) {
    let step: ReadableStreamReadResult<Uint8Array>;
    try {
      step = await reader.read();
    } catch (cause) {
      throw new RewarderError("DEPENDENCY_UNAVAILABLE", "source_unreachable", {
        retryAfterS: 5,
        cause,
      });
    }
    if (step.done) break;
    total += step.value.length;
    if (total > bytesMax) {
      await reader.cancel();
      throw oversize();
    }
    chunks.push(step.value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
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
  return await readBodyCapped(
    response.body,
    options.bytesMax,
    () => new RewarderError("DEPENDENCY_UNAVAILABLE", "source_oversize", { retryAfterS: 5 }),
  );
}
