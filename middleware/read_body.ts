/**
 * The body half of a protected route's chain (docs/ARCHITECTURE.md, "Order of the
 * middleware"): the content type, the streaming body cap and decompression, in that order, as
 * one middleware. A request with no body to read — not a POST, PUT or PATCH, no body, no
 * content coding — passes all three untouched (each would call its `next` at once), so it
 * skips them: a GET pays one check instead of three layers.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context.ts";
import { hasContentCoding } from "./_body.ts";
import { bodyCap, type BodyCapOptions } from "./body_cap.ts";
import { BODY_METHODS, contentType, type ContentTypeOptions } from "./content_type.ts";
import { decompress, type DecompressOptions } from "./decompress.ts";

/** Options of {@link readBody}: those of the three middlewares. */
export interface ReadBodyOptions {
  contentType?: ContentTypeOptions;
  bodyCap: BodyCapOptions;
  decompress: DecompressOptions;
}

/**
 * Creates the body middleware: {@link contentType}, {@link bodyCap}, then {@link decompress}.
 *
 * @example
 * ```ts
 * app.post("/x", readBody({ bodyCap: { bodyBytesMax }, decompress: { ... } }), handler);
 * ```
 */
export function readBody(options: ReadBodyOptions): MiddlewareHandler<AppEnv> {
  const type = contentType(options.contentType);
  const cap = bodyCap(options.bodyCap);
  const inflate = decompress(options.decompress);
  return async function readBody(c, next) {
    if (c.req.raw.body === null && !BODY_METHODS.has(c.req.method) && !hasContentCoding(c)) {
      return await next();
    }
    // None of the three answers by itself: each throws or calls its `next`.
    await type(c, async () => {
      await cap(c, async () => {
        await inflate(c, next);
      });
    });
  };
}
