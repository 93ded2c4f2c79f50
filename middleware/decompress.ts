/**
 * Request decompression with caps (contract §12: POST_INFLATE_MAX, DECOMP_RATIO_MAX). `Content-Encoding`
 * absent or `identity` passes; `gzip` (and `x-gzip`) is inflated with `node:zlib`
 * `gunzipSync(…, {maxOutputLength})`, which stops at the cap, so memory stays bounded
 * (RUNTIME-NOTES: `DecompressionStream` inflates whole chunks on Deno — not used). `zstd` is
 * inflated where `node:zlib` has it (Deno, Bun), else 415. Several codings (`gzip, gzip`),
 * unknown codings and a payload that is itself compressed (nested archive) → 415 `encoding`.
 * Inflated size over `ratioMax ×` the compressed size or over `inflatedBytesMax` → 413
 * `decompress_cap`. The rest of the chain sees the inflated body without `Content-Encoding`.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import zlib from "node:zlib";
import { RewarderError } from "../src/core/errors.ts";
import { readBodyCapped, replaceBody } from "./_body.ts";
import type { AppEnv } from "./context.ts";
import { INFLATED_BYTES_MAX_LIMIT, RATIO_MAX_LIMIT } from "../src/shell/admission/limits.ts";

/** Options for {@link decompress}. */
export interface DecompressOptions {
  /** Largest compressed body read, bytes (REQ_BODY_MAX). */
  bodyBytesMax: number;
  /** Largest inflated body, bytes (POST_INFLATE_MAX, default 8 MiB). */
  inflatedBytesMax: number;
  /** Largest inflated/compressed ratio (DECOMP_RATIO_MAX, default 10). */
  ratioMax: number;
  /** Accept zstd when the runtime has it (default true); false answers 415 for zstd. */
  zstd?: boolean;
  /** Called with the reason of each rejection (`encoding`, `decompress_cap`, `oversize`). */
  onReject?: (reason: string) => void;
}

type Inflate = (buf: Uint8Array, opts: { maxOutputLength: number }) => Uint8Array;

/** `zlib.zstdDecompressSync` where the runtime has it (Deno, Bun, Node ≥ 22.15), else undefined. */
function zstdInflater(): Inflate | undefined {
  const fn = (zlib as unknown as { zstdDecompressSync?: Inflate }).zstdDecompressSync;
  return typeof fn === "function" ? fn : undefined;
}

/** True when the runtime can inflate zstd request bodies. */
export function zstdAvailable(): boolean {
  return zstdInflater() !== undefined;
}

/** Leading bytes of compressed formats we refuse inside a body (nested archives). */
function looksCompressed(b: Uint8Array): boolean {
  const gzip = b[0] === 0x1f && b[1] === 0x8b;
  const zstd = b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd;
  return gzip || zstd;
}

function validate(o: DecompressOptions): void {
  const check = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(
        `Cannot create decompress as ${name} must be an integer in ${min}..${max}: current value is ${v}`,
      );
    }
  };
  check("bodyBytesMax", o.bodyBytesMax, 1, INFLATED_BYTES_MAX_LIMIT);
  check("inflatedBytesMax", o.inflatedBytesMax, 1, INFLATED_BYTES_MAX_LIMIT);
  check("ratioMax", o.ratioMax, 1, RATIO_MAX_LIMIT);
}

function inflate(fn: Inflate, input: Uint8Array, outMax: number): Uint8Array {
  try {
    return fn(input, { maxOutputLength: Math.max(1, outMax) });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
      throw new RewarderError("BAD_REQUEST", "decompress_cap", { cause: err });
    }
    // Corrupt or truncated data under a supported coding: the coding could not be applied.
    throw new RewarderError("BAD_REQUEST", "encoding", { cause: err });
  }
}

/**
 * Creates the request decompression middleware.
 *
 * @example
 * ```ts
 * app.use(decompress({ bodyBytesMax: 1 << 20, inflatedBytesMax: 8 << 20, ratioMax: 10 }));
 * ```
 */
export function decompress(options: DecompressOptions): MiddlewareHandler<AppEnv> {
  validate(options);
  const { bodyBytesMax, inflatedBytesMax, ratioMax, onReject } = options;
  const zstd = options.zstd === false ? undefined : zstdInflater();
  const inflaters: ReadonlyMap<string, Inflate | undefined> = new Map([
    ["gzip", zlib.gunzipSync as unknown as Inflate],
    ["x-gzip", zlib.gunzipSync as unknown as Inflate],
    ["zstd", zstd],
  ]);
  const reject = (reason: "encoding" | "decompress_cap" | "oversize"): never => {
    onReject?.(reason);
    throw new RewarderError("BAD_REQUEST", reason);
  };
  return async function decompress(c, next) {
    const header = c.req.header("content-encoding");
    const coding = header?.trim().toLowerCase() ?? "";
    if (coding === "" || coding === "identity") return await next();
    if (coding.includes(",")) reject("encoding"); // several codings: nested, refused
    const fn = inflaters.get(coding);
    if (fn === undefined) reject("encoding");
    let compressed: Uint8Array | null;
    try {
      compressed = await readBodyCapped(c.req.raw, bodyBytesMax);
    } catch (err) {
      if (err instanceof RewarderError) onReject?.(err.reason);
      throw err;
    }
    if (compressed === null || compressed.byteLength === 0) reject("encoding");
    const input = compressed as Uint8Array;
    const outMax = Math.min(inflatedBytesMax, ratioMax * input.byteLength);
    let inflated: Uint8Array;
    try {
      inflated = inflate(fn as Inflate, input, outMax);
    } catch (err) {
      if (err instanceof RewarderError) onReject?.(err.reason);
      throw err;
    }
    if (inflated.byteLength > outMax) reject("decompress_cap"); // belt and braces
    if (looksCompressed(inflated)) reject("encoding");
    replaceBody(c, inflated, true);
    await next();
  };
}
