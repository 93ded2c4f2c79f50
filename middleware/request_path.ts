/**
 * The request path (contract §9): ONE path, normalised once before routing, used by the
 * router, by `path ^=` caveats and by every route. Hono routes on whatever its `getPath`
 * option returns (hono-base.ts `#dispatch`: `this.getPath(request, { env })`, then
 * `router.match`; `c.req.path` is that same string), so normalising there gives routing and
 * authorisation the same path without rebuilding the Request.
 *
 * Normalisation of the request-target's path (query and fragment dropped):
 * - `%XX` of an unreserved character (RFC 3986 §2.3) or of `:` is decoded;
 * - `%2F` / `%2f` is kept, written `%2F`: the only way to put `/` inside an account, decoded
 *   exactly once when the route reads its `{account}` parameter (Hono decodes params once);
 * - any other escape, a raw character outside RFC 3986 `pchar` and `/`, an empty segment,
 *   a `.` or `..` segment (escaped or not) or a trailing `/` → 400 BAD_REQUEST `path`,
 *   before authorisation, on every route. `/` alone is fine.
 *
 * Where a runtime rewrites `Request.url` before we see it (Node's adapter resolves dot
 * segments), the listener passes the raw target as `c.env.requestTarget`. Bun resolves dot
 * segments before any handler runs and exposes no raw target: there `/e1/../e2` reaches the
 * app as `/e2`, which is still one path for routing and caveats.
 *
 * @example
 * ```ts
 * const rp = requestPath();
 * const app = new Hono<AppEnv>({ getPath: rp.getPath });
 * app.use(rp.middleware);
 * ```
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { badRequest } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";
import { createLru } from "../src/shell/cache/lru.ts";

/**
 * Longest raw path accepted (chars). The longest legitimate path is a proof path: 128-char
 * epoch id + 160-char account (each `/` escaped as 3 chars) + fixed parts, well under 1 KiB.
 */
export const REQUEST_PATH_CHARS_MAX = 2048;

/**
 * What `getPath` returns for a path that fails normalisation. It has an empty segment, so
 * no normalised path equals it and no route matches it; the middleware turns it into 400.
 */
export const INVALID_REQUEST_PATH = "//";

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2e || code === 0x5f ||
    code === 0x7e;
}

/** RFC 3986 §3.3 pchar minus pct-encoded: unreserved / sub-delims / ":" / "@". */
function isRawPathChar(code: number): boolean {
  return isUnreserved(code) || "!$&'()*+,;=:@".includes(String.fromCharCode(code));
}

const HEX2 = /^[0-9A-Fa-f]{2}$/;

/**
 * The auditor's page directory (routes/audit_page.ts): the one path kept with its trailing
 * `/`, so the page's relative asset URLs resolve under it. It is a static page, not an API
 * route; every other trailing `/` is refused (contract §9).
 */
export const AUDIT_PAGE_DIR = "/audit/";

/**
 * Normalises a raw path (no query) per the module rules; undefined when it must be refused
 * with 400 `path`.
 */
export function normaliseRequestPath(raw: string): string | undefined {
  if (raw.length === 0 || raw.length > REQUEST_PATH_CHARS_MAX || raw[0] !== "/") return undefined;
  if (raw === "/" || raw === AUDIT_PAGE_DIR) return raw;
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25) { // "%"
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX2.test(hex)) return undefined;
      const byte = parseInt(hex, 16);
      if (byte === 0x2f) out += "%2F";
      else if (isUnreserved(byte) || byte === 0x3a) out += String.fromCharCode(byte);
      else return undefined;
      i += 2;
    } else if (code === 0x2f || isRawPathChar(code)) {
      out += raw[i];
    } else {
      return undefined;
    }
  }
  for (const segment of out.slice(1).split("/")) {
    if (segment === "" || segment === "." || segment === "..") return undefined;
  }
  return out;
}

/**
 * The raw path of a request-target or URL: origin-form (`/p?q`) or absolute (`http://h/p?q`),
 * without query and fragment. Anything else (`*`, authority-form) yields "" (refused).
 */
export function rawPathOf(target: string): string {
  let start = 0;
  if (target[0] !== "/") {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(target);
    if (scheme === null) return "";
    start = target.indexOf("/", scheme[0].length);
    if (start < 0) return "/";
  }
  let end = target.length;
  for (let i = start; i < target.length; i++) {
    const ch = target[i];
    if (ch === "?" || ch === "#") {
      end = i;
      break;
    }
  }
  return target.slice(start, end);
}

/** Request-targets whose normalised path {@link requestPath} remembers. */
export const REQUEST_PATHS_REMEMBERED_MAX = 1024;
/** Longest target remembered, chars (longer ones are normalised each time): ≤ ~1 MiB in all. */
const REMEMBERED_TARGET_CHARS_MAX = 512;

/** The two halves of {@link requestPath}. */
export interface RequestPath {
  /** Hono's `getPath` option: the normalised path, or {@link INVALID_REQUEST_PATH}. */
  getPath: (request: Request, options?: { env?: AppEnv["Bindings"] }) => string;
  /** Throws 400 `path` for a refused path; mount it before any auth middleware. */
  middleware: MiddlewareHandler<AppEnv>;
}

/** Builds the request-path normaliser for `new Hono({ getPath })` and its check middleware. */
export function requestPath(): RequestPath {
  // The normalisation is a pure function of the target: the hot paths' targets repeat, so
  // their answers are remembered (an LRU of REQUEST_PATHS_REMEMBERED_MAX targets).
  const known = createLru<string>({ entriesMax: REQUEST_PATHS_REMEMBERED_MAX });
  return {
    getPath: function normalisedRequestPath(request, options) {
      const target = options?.env?.requestTarget ?? request.url;
      if (target.length > REMEMBERED_TARGET_CHARS_MAX) {
        return normaliseRequestPath(rawPathOf(target)) ?? INVALID_REQUEST_PATH;
      }
      let path = known.get(target);
      if (path === undefined) {
        path = normaliseRequestPath(rawPathOf(target)) ?? INVALID_REQUEST_PATH;
        known.set(target, path);
      }
      return path;
    },
    middleware: async function requestPathCheck(c, next) {
      if (c.req.path === INVALID_REQUEST_PATH) throw badRequest("path");
      await next();
    },
  };
}
