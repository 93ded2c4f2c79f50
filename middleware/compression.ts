/**
 * Response compression (the outermost layer: docs/ARCHITECTURE.md), a thin wrapper over hono/compress
 * with our defaults: gzip/deflate by `Accept-Encoding`, JSON and text only, bodies of at
 * least `thresholdBytes`. Responses marked `Cache-Control: no-transform` (the padded
 * manifest responses of pad_response.ts) are left alone so their size buckets survive.
 *
 * Notes: the threshold is read from `Content-Length`; responses without one (e.g. `c.json()`)
 * are compressed whatever their size, so the hot answers carry theirs (the compute answer,
 * routes/json_answer.ts; every error answer, error_mapper.ts). On Bun hono/compress skips `c.text()` responses
 * (RUNTIME-NOTES); JSON is compressed.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { compress } from "hono/compress";
import type { AppEnv } from "./context.ts";

/** Smallest response compressed by default, bytes: below this gzip's header costs more. */
export const COMPRESS_THRESHOLD_BYTES_DEFAULT = 1024;

/** Options for {@link compression}. */
export interface CompressionOptions {
  /** Smallest body compressed, bytes (default 1024). */
  thresholdBytes?: number;
  /** Restrict to one coding (default: gzip or deflate by the client's preference). */
  encoding?: "gzip" | "deflate";
}

/**
 * Creates the response compression middleware.
 *
 * @example
 * ```ts
 * app.use(compression());
 * ```
 */
export function compression(options: CompressionOptions = {}): MiddlewareHandler<AppEnv> {
  const thresholdBytes = options.thresholdBytes ?? COMPRESS_THRESHOLD_BYTES_DEFAULT;
  if (!Number.isInteger(thresholdBytes) || thresholdBytes < 0) {
    throw new RangeError(
      `Cannot create compression as thresholdBytes must be a natural number: current value is ${thresholdBytes}`,
    );
  }
  const inner = compress({
    threshold: thresholdBytes,
    contentTypeFilter: COMPRESSIBLE,
    ...(options.encoding === undefined ? {} : { encoding: options.encoding }),
  });
  return async function compression(c, next) {
    if (c.req.header("accept-encoding") !== undefined) return await inner(c, next);
    await next();
    // Without Accept-Encoding hono/compress codes nothing: it only adds `Vary:
    // Accept-Encoding` to an answer it would have coded. The same here, on the answer's own
    // headers (hono's c.header() first rebuilds the whole Response to set it).
    const res = c.res;
    const h = res.headers;
    const length = h.get("content-length");
    if (
      res.status === 206 || h.has("content-encoding") || h.has("transfer-encoding") ||
      c.req.method === "HEAD" || (length && Number(length) < thresholdBytes) ||
      !COMPRESSIBLE.test(h.get("content-type") ?? "") ||
      NO_TRANSFORM.test(h.get("cache-control") ?? "")
    ) return;
    const vary = h.get("vary");
    if (vary === "*" || (vary && VARY_ACCEPT_ENCODING.test(vary))) return;
    const value = vary ? `${vary}, Accept-Encoding` : "Accept-Encoding";
    try {
      h.set("Vary", value);
    } catch {
      c.header("Vary", value); // immutable headers (a fetched Response): rebuilt by Hono
    }
  };
}

/** The content types coded: JSON and text. */
const COMPRESSIBLE = /^(application\/(json|problem\+json)|text\/plain)\b/i;
/** hono/compress's tests, as it writes them (compress/index.js). */
const NO_TRANSFORM = /(?:^|,)\s*?no-transform\s*?(?:,|$)/i;
const VARY_ACCEPT_ENCODING = /(?:^|,)\s*accept-encoding\s*(?:,|$)/i;
