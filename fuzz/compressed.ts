/**
 * Fuzz target: compressed request bodies through the edge middleware exactly as the app
 * stacks them (body cap → decompress → content type) with the default caps (REQ_BODY_MAX
 * 1 MiB, POST_INFLATE_MAX 8 MiB, DECOMP_RATIO_MAX 10). Bodies: JSON, random bytes and zero
 * runs (bombs up to 64 MiB inflated), under 0–3 layers of gzip/zstd (nested encodings),
 * with byte mutations (truncation, corruption) and hostile `Content-Encoding` values.
 * Failure: any status but 200/400/413/415, a 200 whose inflated size differs from the
 * payload, or a case over the time bound.
 *
 * @module
 */
import fc from "fast-check";
import zlib from "node:zlib";
import { bodyCap } from "../middleware/body_cap.ts";
import { contentType } from "../middleware/content_type.ts";
import { decompress } from "../middleware/decompress.ts";
import { testApp } from "../middleware/_test_app.ts";
import { CASE_TIME_MS_MAX, type FuzzTarget, tally, withinMs } from "./_harness.ts";
import { applyByteOps, type ByteOp, byteOp } from "./_mutate.ts";

/** The app's default caps (contract §12 defaults). */
export const CAPS = { bodyBytesMax: 1_048_576, inflatedBytesMax: 8_388_608, ratioMax: 10 };
/** Statuses the edge middleware may answer. */
export const COMPRESSED_STATUSES: ReadonlySet<number> = new Set([200, 400, 413, 415]);

type Coding = "gzip" | "zstd";
/** Payload kinds: a small JSON body, random bytes, or a zero run of the given size. */
const PAYLOADS = ["json", "random", "zeros_1k", "zeros_1m", "zeros_9m", "zeros_64m"] as const;
const HEADER_VARIANTS = [
  "outer", // the outermost layer's name, as a client would send
  "outer_upper",
  "x-gzip",
  "gzip, gzip",
  "identity",
  "deflate",
  "br",
  "",
  " gzip ",
  "zstd",
  "gzip",
] as const;

/** One case. */
export interface CompressedCase {
  payload: (typeof PAYLOADS)[number];
  layers: Coding[];
  header: (typeof HEADER_VARIANTS)[number];
  bytes: { kind: string; at: number; byte: number; len: number }[];
}

const zstdCompress = (zlib as unknown as { zstdCompressSync?: (b: Uint8Array) => Uint8Array })
  .zstdCompressSync;

function payloadBytes(kind: CompressedCase["payload"]): Uint8Array {
  switch (kind) {
    case "json":
      return new TextEncoder().encode(
        '{"inputs_cid":"b3:00","policy_id":"p","policy_hash":"b3:00"}',
      );
    case "random": {
      const b = new Uint8Array(4096);
      for (let i = 0; i < b.length; i++) b[i] = (i * 2654435761) >>> 24; // fixed pseudo-random
      return b;
    }
    case "zeros_1k":
      return new Uint8Array(1024);
    case "zeros_1m":
      return new Uint8Array(1 << 20);
    case "zeros_9m":
      return new Uint8Array(9 << 20);
    case "zeros_64m":
      return new Uint8Array(64 << 20);
  }
}

const PAYLOAD_BYTES: Readonly<Record<CompressedCase["payload"], number>> = {
  json: payloadBytes("json").byteLength,
  random: 4096,
  zeros_1k: 1024,
  zeros_1m: 1 << 20,
  zeros_9m: 9 << 20,
  zeros_64m: 64 << 20,
};

const encodedCache = new Map<string, Uint8Array>();

function encoded(payload: CompressedCase["payload"], layers: readonly Coding[]): Uint8Array {
  const key = `${payload}|${layers.join(",")}`;
  const hit = encodedCache.get(key);
  if (hit) return hit;
  // Uncompressed, a zero run only needs to cross the 1 MiB body cap: 2 MiB does.
  let b = layers.length === 0 && payload.startsWith("zeros_") && payload !== "zeros_1k"
    ? new Uint8Array(2 << 20)
    : payloadBytes(payload);
  for (const layer of layers) {
    b = layer === "gzip" || zstdCompress === undefined
      ? new Uint8Array(zlib.gzipSync(b))
      : new Uint8Array(zstdCompress(b));
  }
  encodedCache.set(key, b);
  return b;
}

function headerOf(c: CompressedCase): string | undefined {
  const outer = c.layers[c.layers.length - 1];
  const name = outer === "zstd" && zstdCompress === undefined ? "gzip" : outer;
  switch (c.header) {
    case "outer":
      return name;
    case "outer_upper":
      return name?.toUpperCase();
    case "":
      return undefined;
    default:
      return c.header;
  }
}

/** Builds the target (its own small app: the edge middleware and an echo route). */
export function compressedTarget(): FuzzTarget<CompressedCase> {
  const app = testApp(
    bodyCap({ bodyBytesMax: CAPS.bodyBytesMax, readTimeoutMs: 5_000 }),
    decompress(CAPS),
    contentType({}),
  );
  const peer = { transport: "tcp" as const, address: "127.0.0.1" };
  const stats: Record<string, number> = {};
  return {
    name: "compressed",
    stats,
    arbitrary: fc.record({
      payload: fc.constantFrom(...PAYLOADS),
      layers: fc.array(fc.constantFrom<Coding>("gzip", "zstd"), { maxLength: 3 }),
      header: fc.oneof(
        { weight: 6, arbitrary: fc.constant("outer" as const) },
        { weight: 2, arbitrary: fc.constantFrom(...HEADER_VARIANTS) },
      ),
      bytes: fc.oneof(
        { weight: 2, arbitrary: fc.constant<ByteOp[]>([]) },
        { weight: 1, arbitrary: fc.array(byteOp, { minLength: 1, maxLength: 3 }) },
      ),
    }),
    async check(c) {
      const body = applyByteOps(
        encoded(c.payload, c.layers),
        c.bytes as Parameters<typeof applyByteOps>[1],
      );
      const header = headerOf(c);
      await withinMs(CASE_TIME_MS_MAX, "compressed body", async () => {
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (header !== undefined) headers["content-encoding"] = header;
        const res = await app.request(
          "http://127.0.0.1/echo",
          { method: "POST", headers, body: body as Uint8Array<ArrayBuffer> },
          { peer },
        );
        const text = await res.text();
        tally(stats, res.status);
        if (!COMPRESSED_STATUSES.has(res.status)) {
          throw new Error(`status ${res.status} outside 200/400/413/415: ${text.slice(0, 200)}`);
        }
        if (
          res.status === 200 && c.bytes.length === 0 && c.layers.length === 1 &&
          c.header === "outer"
        ) {
          const got = (JSON.parse(text) as { bytes: number }).bytes;
          const want = PAYLOAD_BYTES[c.payload];
          if (got !== want) throw new Error(`inflated ${got} bytes, payload has ${want}`);
        }
      });
    },
    encode: (c) => c,
    decode: (saved) => saved as CompressedCase,
  };
}
