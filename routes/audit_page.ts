/**
 * The auditor's page at `/audit/` (static files, no server rendering): the built files of
 * web/audit/ (`deno task build:audit`, embedded in web/audit/build/assets.ts so the edge,
 * which has no file system, serves them too) with the page's own Content-Security-Policy —
 * scripts and styles from this origin only, WebAssembly compilation for BLAKE3, fetches to
 * this origin only, nothing external.
 *
 * Mount it BEFORE the app-wide `secureHeaders()`: that middleware sets the JSON API's
 * deny-all CSP on every answer it wraps, which would stop the page's script. This handler
 * sets the same protective headers itself (nosniff, no framing, no referrer, HSTS).
 *
 * @module
 */
import { Hono } from "hono";
import { HSTS_MAX_AGE_S_DEFAULT } from "../middleware/secure_headers.ts";
import { AUDIT_ASSETS, type AuditAsset } from "../web/audit/build/assets.ts";
import { ifNoneMatchHolds } from "./immutable.ts";

/** The page's CSP: nothing external; `'wasm-unsafe-eval'` only to compile the BLAKE3 module. */
export const AUDIT_PAGE_CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; " +
  "style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; " +
  "form-action 'self'; frame-ancestors 'none'";

/** Options of {@link auditPage}. */
export interface AuditPageOptions {
  /** HSTS `max-age`, seconds (default: the service's, two years); 0 sends none. */
  hstsMaxAgeS?: number;
  /** The files served (default: the committed build). */
  assets?: Readonly<Record<string, AuditAsset>>;
}

/**
 * A Hono app answering `GET /audit` (redirect to `/audit/`, query kept), `GET /audit/`
 * (index.html) and `GET /audit/<file>` for the built files; any other file falls to the
 * mounting app's not-found answer. Answers carry a strong `ETag` and `Cache-Control:
 * no-cache` (revalidated: a redeploy shows the new page at once), 304 on `If-None-Match`.
 *
 * @example
 * ```ts
 * app.route("/", auditPage({ hstsMaxAgeS: 0 })); // before app.use(secureHeaders())
 * ```
 */
export function auditPage(options: AuditPageOptions = {}): Hono {
  const hstsMaxAgeS = options.hstsMaxAgeS ?? HSTS_MAX_AGE_S_DEFAULT;
  if (!Number.isInteger(hstsMaxAgeS) || hstsMaxAgeS < 0) {
    throw new RangeError(
      `Cannot create auditPage as hstsMaxAgeS must be a natural number: current value is ${hstsMaxAgeS}`,
    );
  }
  const assets = options.assets ?? AUDIT_ASSETS;
  if (!Object.hasOwn(assets, "index.html")) {
    throw new TypeError("Cannot create auditPage as the assets have no index.html");
  }
  const fixed: [string, string][] = [
    ["Content-Security-Policy", AUDIT_PAGE_CSP],
    ["X-Content-Type-Options", "nosniff"],
    ["X-Frame-Options", "DENY"],
    ["Referrer-Policy", "no-referrer"],
    ["Cross-Origin-Resource-Policy", "same-origin"],
    ["Cache-Control", "no-cache"],
  ];
  if (hstsMaxAgeS > 0) {
    fixed.push(["Strict-Transport-Security", `max-age=${hstsMaxAgeS}; includeSubDomains`]);
  }
  const app = new Hono();
  app.get("/audit", function auditPageRedirect(c) {
    const query = new URL(c.req.url).search;
    return c.redirect(`/audit/${query}`, 308);
  });
  app.get("/audit/:file{[A-Za-z0-9._-]*}", function auditPageFile(c) {
    const name = c.req.param("file") || "index.html";
    if (!Object.hasOwn(assets, name)) return c.notFound();
    const asset = assets[name]!;
    for (const [k, v] of fixed) c.header(k, v);
    c.header("ETag", asset.etag);
    if (ifNoneMatchHolds(c.req.header("if-none-match"), asset.etag.slice(1, -1))) {
      return c.body(null, 304);
    }
    c.header("Content-Type", asset.contentType);
    return c.body(asset.body, 200);
  });
  return app;
}
