/**
 * Rate limit middleware over a shared {@link RateLimiter}: `rateLimit` takes from the
 * instance bucket for every request it sees, `tenantRateLimit` from the
 * authenticated tenant's bucket (place it after auth; requests without `c.get("auth")`,
 * i.e. public routes, pass). Empty bucket → 429 RATE_LIMITED `rate_limited` + Retry-After.
 * The service itself wires `admitCaller` (middleware/admission.ts) instead, which charges a
 * caller without a valid token to its peer's anonymous bucket and never to the instance's
 * (docs/ARCHITECTURE.md, "Order of the middleware").
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";
import type { RateLimiter, TakeResult } from "../src/shell/admission/rate_limiter.ts";

/** Options for {@link rateLimit} and {@link tenantRateLimit}. */
export interface RateLimitOptions {
  /** The shared limiter (one per process) from `createRateLimiter`. */
  limiter: RateLimiter;
  /** Called with `rate_limited` on each rejection. */
  onReject?: (reason: string) => void;
}

function validate(o: RateLimitOptions): void {
  if (typeof o.limiter?.take !== "function" || typeof o.limiter.takeTenant !== "function") {
    throw new TypeError("Cannot create rate limit as limiter is not a RateLimiter");
  }
}

function enforce(result: TakeResult, onReject: ((reason: string) => void) | undefined): void {
  if (result.ok) return;
  onReject?.("rate_limited");
  throw new RewarderError("RATE_LIMITED", "rate_limited", { retryAfterS: result.retryAfterS });
}

/**
 * Creates the per-instance rate limit.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ ratePerSecondMax: 500, burstMax: 200, tenantRatePerSecondMax: 100 });
 * app.use(rateLimit({ limiter }));
 * ```
 */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler<AppEnv> {
  validate(options);
  const { limiter, onReject } = options;
  return async function rateLimit(_c, next) {
    enforce(limiter.take(), onReject);
    await next();
  };
}

/**
 * Creates the per-tenant rate limit; wire it after the auth middleware.
 *
 * @example
 * ```ts
 * app.use("/rewarder/*", auth(verifier), tenantRateLimit({ limiter }));
 * ```
 */
export function tenantRateLimit(options: RateLimitOptions): MiddlewareHandler<AppEnv> {
  validate(options);
  const { limiter, onReject } = options;
  return async function tenantRateLimit(c, next) {
    const auth = c.get("auth") as AppEnv["Variables"]["auth"] | undefined;
    if (auth !== undefined) enforce(limiter.takeTenant(auth.tenant), onReject);
    await next();
  };
}
