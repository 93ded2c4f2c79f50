/**
 * Security headers on every answer (docs/DEPLOY.md): HSTS, `nosniff`, no framing, no
 * referrer, a deny-all CSP (we serve JSON only), and CORS off — any `Access-Control-*`
 * header is stripped. `Cache-Control: no-store` is added to authenticated answers and to
 * every answer under `noStorePathPrefix` (default `/rewarder/`) when not already there,
 * except an immutable answer (contract §10: its route set `immutable` on purpose).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context.ts";

/** HSTS max-age default, seconds: two years (the preload list's expectation). */
export const HSTS_MAX_AGE_S_DEFAULT = 63_072_000;

/** Options for {@link secureHeaders}. */
export interface SecureHeadersOptions {
  /** HSTS `max-age`, seconds (default two years); 0 sends no HSTS header. */
  hstsMaxAgeS?: number;
  /** Paths starting with this always get `no-store` (default `/rewarder/`). */
  noStorePathPrefix?: string;
}

/** Headers set on every response. */
function fixedHeaders(hstsMaxAgeS: number): ReadonlyArray<readonly [string, string]> {
  const headers: Array<readonly [string, string]> = [
    ["X-Content-Type-Options", "nosniff"],
    ["X-Frame-Options", "DENY"],
    ["Referrer-Policy", "no-referrer"],
    ["Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"],
    ["Cross-Origin-Resource-Policy", "same-origin"],
  ];
  if (hstsMaxAgeS > 0) {
    headers.push(["Strict-Transport-Security", `max-age=${hstsMaxAgeS}; includeSubDomains`]);
  }
  return headers;
}

/**
 * Creates the secure headers middleware; put it near the outside so error answers get the
 * headers too.
 *
 * @example
 * ```ts
 * app.use(secureHeaders());
 * ```
 */
export function secureHeaders(options: SecureHeadersOptions = {}): MiddlewareHandler<AppEnv> {
  const hstsMaxAgeS = options.hstsMaxAgeS ?? HSTS_MAX_AGE_S_DEFAULT;
  if (!Number.isInteger(hstsMaxAgeS) || hstsMaxAgeS < 0) {
    throw new RangeError(
      `Cannot create secureHeaders as hstsMaxAgeS must be a natural number: current value is ${hstsMaxAgeS}`,
    );
  }
  const prefix = options.noStorePathPrefix ?? "/rewarder/";
  const fixed = fixedHeaders(hstsMaxAgeS);
  return async function secureHeaders(c, next) {
    await next();
    const headers = c.res.headers;
    for (const [name, value] of fixed) headers.set(name, value);
    // forEach walks the header list once; `keys()` re-sorts it on every step (Deno), a
    // share of a GET of its own (docs/PROFILE.md).
    let cors: string[] | undefined;
    headers.forEach((_value, name) => {
      if (name.startsWith("access-control-")) (cors ??= []).push(name);
    });
    if (cors !== undefined) { for (const name of cors) headers.delete(name); }
    const authed = c.get("auth") !== undefined;
    if (authed || c.req.path.startsWith(prefix)) {
      const current = headers.get("cache-control");
      if (current === null) headers.set("Cache-Control", "no-store");
      else if (!/(^|,)\s*(no-store|immutable)\s*(,|$)/i.test(current)) {
        headers.set("Cache-Control", `no-store, ${current}`);
      }
    }
  };
}
