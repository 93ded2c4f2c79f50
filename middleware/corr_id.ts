/**
 * Correlation id middleware: accepts a well-formed `X-Corr-ID` or generates one, stores it
 * as `c.get("corrId")` and echoes it on the response.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context.ts";

/** Header carrying the correlation id, in and out (and downstream, contract §7). */
export const CORR_ID_HEADER = "X-Corr-ID";

/** A caller's id is kept only when it is 8..64 chars of `[A-Za-z0-9._-]` (safe to log). */
export const CORR_ID_RE: RegExp = /^[A-Za-z0-9._-]{8,64}$/;

/** Options for {@link corrId}. */
export interface CorrIdOptions {
  /** Trust a caller's `X-Corr-ID` (default true); false always generates a fresh id. */
  trustIncoming?: boolean;
  /** Id generator (default `crypto.randomUUID`); injectable for tests. */
  generate?: () => string;
}

/** True when `value` is an acceptable correlation id. */
export function isCorrId(value: string | null | undefined): value is string {
  return typeof value === "string" && CORR_ID_RE.test(value);
}

/**
 * Creates the correlation id middleware. Put it first so every later error carries the id.
 *
 * @example
 * ```ts
 * app.use(corrId());
 * ```
 */
export function corrId(options: CorrIdOptions = {}): MiddlewareHandler<AppEnv> {
  const trustIncoming = options.trustIncoming ?? true;
  const generate = options.generate ?? (() => crypto.randomUUID());
  if (typeof generate !== "function") {
    throw new TypeError("Cannot create corrId: generate is not a function");
  }
  return async function corrId(c, next) {
    const incoming = trustIncoming ? c.req.header(CORR_ID_HEADER) : undefined;
    let id = isCorrId(incoming) ? incoming : generate();
    // A generator that breaks the format is a programmer error; never let it reach a log.
    if (!isCorrId(id)) id = crypto.randomUUID();
    c.set("corrId", id);
    c.header(CORR_ID_HEADER, id);
    await next();
    c.res.headers.set(CORR_ID_HEADER, id);
  };
}
