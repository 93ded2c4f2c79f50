/**
 * Request body cap (REQ_BODY_MAX, contract §12, default 1 MiB): enforced before anything parses
 * the body. A declared `Content-Length` over the cap is refused without reading; otherwise
 * the bytes are counted as they stream (chunked bodies, or a lying length in-process), and
 * the rest of the chain sees the buffered body. Over the cap → 413 BAD_REQUEST `oversize`.
 *
 * hono/body-limit trusts a present Content-Length and skips counting; we always count, so
 * the cap holds even where the runtime did not frame the body (in-process `app.request`).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import { hasContentCoding, keepBody, readBodyCapped, replaceBody } from "./_body.ts";
import type { AppEnv } from "./context.ts";
import { BODY_BYTES_MAX_LIMIT } from "../src/shell/admission/limits.ts";

/** Options for {@link bodyCap}. */
export interface BodyCapOptions {
  /** Largest request body in bytes as received (REQ_BODY_MAX, default 1 MiB). */
  bodyBytesMax: number;
  /** Time allowed to receive the whole body, ms (guards slow bodies; Deno.serve has none). */
  readTimeoutMs?: number;
  /** Called with the reason of each rejection (`oversize`, `timeout`, `content_length`). */
  onReject?: (reason: string) => void;
}

function validate(options: BodyCapOptions): void {
  const max = options.bodyBytesMax;
  if (!Number.isInteger(max) || max < 1 || max > BODY_BYTES_MAX_LIMIT) {
    throw new RangeError(
      `Cannot create bodyCap as bodyBytesMax must be an integer in 1..${BODY_BYTES_MAX_LIMIT}: current value is ${max}`,
    );
  }
  const t = options.readTimeoutMs;
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) {
    throw new RangeError(
      `Cannot create bodyCap as readTimeoutMs must be a positive integer: current value is ${t}`,
    );
  }
}

/**
 * Creates the body cap middleware.
 *
 * @example
 * ```ts
 * app.use(bodyCap({ bodyBytesMax: config.reqBodyMax, readTimeoutMs: config.requestTimeoutMs }));
 * ```
 */
export function bodyCap(options: BodyCapOptions): MiddlewareHandler<AppEnv> {
  validate(options);
  const { bodyBytesMax, readTimeoutMs, onReject } = options;
  return async function bodyCap(c, next) {
    let body: Uint8Array<ArrayBuffer> | null;
    try {
      body = await readBodyCapped(c.req.raw, bodyBytesMax, readTimeoutMs);
    } catch (err) {
      if (err instanceof RewarderError) onReject?.(err.reason);
      throw err;
    }
    // A coded body is read again by the decompress middleware, from a rebuilt request.
    if (body !== null) {
      if (hasContentCoding(c)) replaceBody(c, body, false);
      else keepBody(c, body);
    }
    await next();
  };
}
