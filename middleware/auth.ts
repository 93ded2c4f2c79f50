/**
 * Capability middleware (contract §9, §10): every protected route answers only to a valid
 * token whose identifier grants the route's scope and whose every caveat holds. Sets
 * `c.var.auth`; rejections are thrown as RewarderError (401/403) for the app's single
 * onError to render.
 *
 * The path it authorises is `c.req.path`, the one normalised request path the router used
 * (middleware/request_path.ts). The epoch and account caveats read the route's own
 * parameters, decoded once by Hono, so they see exactly what the route handler sees.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";
import {
  macaroonVerifier,
  type MasterSecretSource,
  type Verifier,
} from "../src/shell/caps/verifier.ts";
import type { VerifiedTokenCache } from "../src/shell/caps/verified_tokens.ts";

/** What the route names, for `epoch_id` / `account` caveats (contract §9). */
export interface RequestFacts {
  /** The epoch the route names; absent when it names none (the caveat then fails). */
  epochId?: string;
  /** The route names the epoch of the run it loads (`/runs/{run_key}`): checked later. */
  epochOfRun?: boolean;
  /** The proof route's account; absent elsewhere. */
  account?: string;
}

/** Options of {@link auth}. */
export interface AuthOptions {
  /** Master secrets (the caps KeyRing). Ignored when `verifier` is given. */
  keyRing: MasterSecretSource;
  /** The route's scope, or null for a public route (no token looked at). */
  scopeFor: (c: Context<AppEnv>) => string | null;
  /** OPERATOR_TENANT (default `operator`). Ignored when `verifier` is given. */
  operatorTenant?: string;
  /** Clock in epoch ms (injectable). Default Date.now. */
  nowMs?: () => number;
  /** Called on every rejection, for `auth_failures_total{scope}` and `rejected_total`. */
  onFailure?: (scope: string, reason: string, corrId?: string) => void;
  /**
   * Verified tokens shared by every route (src/shell/caps/verified_tokens.ts): their caveats
   * are still evaluated per request. Ignored when `verifier` is given.
   */
  tokenCache?: VerifiedTokenCache;
  /** Replaces the macaroon verifier (e.g. the edge JWT converter wrapping it). */
  verifier?: Verifier;
  /** Extracts epoch/account; default {@link paramFacts}. Build one with {@link routeFacts}. */
  factsFor?: (c: Context<AppEnv>) => RequestFacts;
}

/** The listing route whose `epoch_id` query is the epoch it names (contract §9). */
export const RUNS_LIST_ROUTE = "/rewarder/runs";

/** Facts from the matched route's parameters: `{epoch_id}`, `{run_key}`, `{account}`. */
export function paramFacts(c: Context<AppEnv>): RequestFacts {
  const params = c.req.param() as Record<string, string | undefined>;
  const facts: RequestFacts = {};
  if (params.epoch_id !== undefined) facts.epochId = params.epoch_id;
  else if (params.run_key !== undefined) facts.epochOfRun = true;
  if (params.account !== undefined) facts.account = params.account;
  return facts;
}

/**
 * The facts extractor of one route, chosen at wiring time from its Hono path: path
 * parameters as {@link paramFacts}; on {@link RUNS_LIST_ROUTE} the epoch is the `epoch_id`
 * query parameter, required (given exactly once) for an `epoch_id` caveat to hold.
 */
export function routeFacts(honoPath: string): (c: Context<AppEnv>) => RequestFacts {
  if (honoPath !== RUNS_LIST_ROUTE) return paramFacts;
  return function runsListFacts(c) {
    const given = c.req.queries("epoch_id") ?? [];
    return given.length === 1 ? { epochId: given[0]! } : {};
  };
}

/** Builds the auth middleware. */
export function auth(options: AuthOptions): MiddlewareHandler<AppEnv> {
  const verify = options.verifier ??
    macaroonVerifier(options.keyRing, {
      ...(options.operatorTenant === undefined ? {} : { operatorTenant: options.operatorTenant }),
      ...(options.tokenCache === undefined ? {} : { cache: options.tokenCache }),
    });
  const nowMs = options.nowMs ?? Date.now;
  const factsFor = options.factsFor ?? paramFacts;
  return async function macaroonAuth(c, next) {
    const scope = options.scopeFor(c);
    if (scope === null) return await next();
    try {
      const ctx = await verify(c.req.header("authorization"), {
        method: c.req.method.toUpperCase(),
        path: c.req.path,
        scope,
        ...factsFor(c),
        peer: c.env?.peer ?? { transport: "tcp" },
        nowMs: nowMs(),
      });
      c.set("auth", ctx);
    } catch (err) {
      if (err instanceof RewarderError) options.onFailure?.(scope, err.reason, c.get("corrId"));
      throw err;
    }
    await next();
  };
}
