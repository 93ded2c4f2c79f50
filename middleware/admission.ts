/**
 * Admission around authentication (docs/ARCHITECTURE.md, "Order of the middleware"):
 * nothing expensive happens before a request's token has been checked.
 *
 * - {@link preAuthHold} (first on the service surface): a request carrying a body reserves,
 *   from one global budget, the bytes it may hold before authentication — one read chunk
 *   (64 KiB) or its declared length when smaller. Nothing reads the body here. Past the budget
 *   → 503 OVERLOADED `preauth_budget` with Retry-After, before the token is looked at.
 * - {@link admitCaller} (per route, in place of the auth middleware): authenticates, gives
 *   the reservation back, then charges the request to its bucket. A request without a valid
 *   token (401/403, or a public route) is charged to the anonymous bucket of its peer address
 *   — never to a tenant's or the instance's (an empty one answers 429 instead of the auth
 *   error); an authenticated one to its tenant's bucket (TENANT_RPS_MAX) and then the instance
 *   bucket (MAX_RPS). Only then do the body cap and decompression read the body.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";
import { declaredLength } from "./_body.ts";
import type { PreAuthBudget } from "../src/shell/admission/preauth_budget.ts";
import type { RefusalHold } from "../src/shell/admission/refusal_hold.ts";
import { PREAUTH_RETRY_AFTER_S } from "../src/shell/admission/limits.ts";
import {
  ANON_SHARED_PEER,
  type RateLimiter,
  type TakeResult,
} from "../src/shell/admission/rate_limiter.ts";

/** Options for {@link preAuthHold}. */
export interface PreAuthHoldOptions {
  budget: PreAuthBudget;
  /** Called with `preauth_budget` on each refusal. */
  onReject?: (reason: string) => void;
}

/**
 * Creates the pre-auth hold: reserves the bytes a request may hold before authentication and
 * gives them back when authentication has decided (or, at the latest, when the request ends).
 *
 * @example
 * ```ts
 * app.use("/rewarder/*", preAuthHold({ budget: createPreAuthBudget() }));
 * ```
 */
export function preAuthHold(options: PreAuthHoldOptions): MiddlewareHandler<AppEnv> {
  const { budget, onReject } = options;
  return async function preAuthHold(c, next) {
    const req = c.req.raw;
    let declared: number | undefined;
    try {
      declared = declaredLength(req);
    } catch {
      declared = undefined; // malformed: held as one chunk; the body cap answers it after auth
    }
    const release = budget.reserve(budget.holdOf(req.body !== null, declared));
    if (release === undefined) {
      onReject?.("preauth_budget");
      await cancelBody(c);
      throw new RewarderError("OVERLOADED", "preauth_budget", {
        retryAfterS: PREAUTH_RETRY_AFTER_S,
      });
    }
    c.set("preAuthRelease", release);
    try {
      await next();
    } finally {
      release();
    }
  };
}

/** Options for {@link admitCaller}. */
export interface AdmitCallerOptions {
  limiter: RateLimiter;
  /**
   * The route's auth middleware (sets `c.var.auth` or throws 401/403); absent on a public
   * route, whose callers are all anonymous.
   */
  authenticate?: MiddlewareHandler<AppEnv>;
  /** Called with `rate_limited` on each refusal (anonymous, tenant or instance). */
  onReject?: (reason: string) => void;
  /** Holds an anonymous caller's 429 before it is answered (absent: answered at once). */
  refusalHold?: RefusalHold;
}

/** The anonymous bucket key of a request: its peer address, or the shared one (Unix socket). */
export function anonymousPeerOf(c: Context<AppEnv>): string {
  const peer = c.env?.peer;
  return peer?.transport === "tcp" && peer.address !== undefined && peer.address !== ""
    ? peer.address
    : ANON_SHARED_PEER;
}

/**
 * Creates the per-route admission: authentication, then the caller's buckets.
 *
 * @example
 * ```ts
 * app.get("/rewarder/runs", admitCaller({ limiter, authenticate: auth({ ... }) }), handler);
 * ```
 */
export function admitCaller(options: AdmitCallerOptions): MiddlewareHandler<AppEnv> {
  const { limiter, authenticate, onReject, refusalHold } = options;
  const enforce = (taken: TakeResult): void => {
    if (taken.ok) return;
    onReject?.("rate_limited");
    throw new RewarderError("RATE_LIMITED", "rate_limited", { retryAfterS: taken.retryAfterS });
  };
  /** An anonymous caller's bucket: its refusal is held first (refusal_hold.ts). */
  const enforceAnonymous = async (c: Context<AppEnv>): Promise<void> => {
    const taken = limiter.takeAnonymous(anonymousPeerOf(c));
    if (!taken.ok) await refusalHold?.hold(c.req.raw.signal);
    enforce(taken);
  };
  return async function admitCaller(c, next) {
    let authenticated = false;
    if (authenticate !== undefined) {
      try {
        await authenticate(c, () => {
          authenticated = true;
          return Promise.resolve();
        });
      } catch (err) {
        c.get("preAuthRelease")?.();
        await cancelBody(c); // the body of a request without a valid token is never read
        await enforceAnonymous(c);
        throw err;
      }
    }
    c.get("preAuthRelease")?.();
    const tenant = authenticated
      ? (c.get("auth") as AppEnv["Variables"]["auth"] | undefined)?.tenant
      : undefined;
    if (tenant === undefined) {
      await cancelBody(c);
      await enforceAnonymous(c);
    } else {
      enforce(limiter.takeTenant(tenant));
      enforce(limiter.take());
    }
    await next();
  };
}

/** Cancels a body nobody will read (the runtime stops reading it); never throws. */
async function cancelBody(c: Context<AppEnv>): Promise<void> {
  const body = c.req.raw.body;
  if (body === null || body.locked) return;
  await body.cancel().catch(() => undefined);
}
