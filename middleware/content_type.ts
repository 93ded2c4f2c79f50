/**
 * JSON-only request bodies (contract §10: `application/json` only): POST, PUT and
 * PATCH must say `application/json`, optionally with `charset=utf-8`; anything else (other
 * types, other charsets, other parameters, a missing header) → 415 BAD_REQUEST `media_type`.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";

/** Methods whose requests carry a body here; GET/HEAD/DELETE/OPTIONS are not checked. */
export const BODY_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH"]);
/** Longest Content-Type value looked at, chars: anything longer is refused unparsed. */
export const CONTENT_TYPE_CHARS_MAX = 128;

/** Options for {@link contentType}. */
export interface ContentTypeOptions {
  /** Called with the reason of each rejection (`media_type`). */
  onReject?: (reason: string) => void;
}

/** True when `value` is `application/json` with at most a `charset=utf-8` parameter. */
export function isJsonMediaType(value: string | undefined): boolean {
  if (value === undefined || value.length > CONTENT_TYPE_CHARS_MAX) return false;
  const [type, ...params] = value.split(";");
  if (type?.trim().toLowerCase() !== "application/json") return false;
  if (params.length > 1) return false;
  const param = params[0];
  if (param === undefined) return true;
  const eq = param.indexOf("=");
  if (eq < 0) return false;
  const name = param.slice(0, eq).trim().toLowerCase();
  let v = param.slice(eq + 1).trim().toLowerCase();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  return name === "charset" && v === "utf-8";
}

/**
 * Creates the content type check.
 *
 * @example
 * ```ts
 * app.use("/rewarder/*", contentType());
 * ```
 */
export function contentType(options: ContentTypeOptions = {}): MiddlewareHandler<AppEnv> {
  const { onReject } = options;
  return async function contentType(c, next) {
    if (BODY_METHODS.has(c.req.method) && !isJsonMediaType(c.req.header("content-type"))) {
      onReject?.("media_type");
      throw new RewarderError("BAD_REQUEST", "media_type");
    }
    await next();
  };
}
