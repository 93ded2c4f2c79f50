/**
 * Capability middleware (contract §9, §10): every protected route answers only to a valid,
 * sufficiently scoped, tenant-bound token. Sets `c.var.auth`; rejections are thrown as
 * RewarderError (401/403) for the app's single onError to render.
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

/** The addressed epoch and account of a request, for `epoch_id` / `account` caveats. */
export interface RequestFacts {
  epochId?: string;
  account?: string;
}

/** Options of {@link auth}. */
export interface AuthOptions {
  /** Master secrets (the caps KeyRing). Ignored when `verifier` is given. */
  keyRing: MasterSecretSource;
  /** The route's scope, or null for a public route (no token looked at). */
  scopeFor: (c: Context<AppEnv>) => string | null;
  /** Clock in epoch ms (injectable). Default Date.now. */
  nowMs?: () => number;
  /** Called on every rejection, for `auth_failures_total{scope}` and `rejected_total`. */
  onFailure?: (scope: string, reason: string) => void;
  /** Replaces the macaroon verifier (e.g. the edge JWT converter wrapping it). */
  verifier?: Verifier;
  /** Extracts epoch/account; default: contract §10 paths and the `epoch_id` query. */
  factsFor?: (c: Context<AppEnv>) => RequestFacts;
}

const EPOCH_PATH = /^\/rewarder\/epochs\/([^/]+)(?:\/|$)/;
const PROOF_PATH = /^\/rewarder\/epochs\/[^/]+\/proofs\/([^/]+)$/;

function decoded(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined; // an undecodable segment addresses nothing: epoch/account caveats fail
  }
}

/** Default facts: `/rewarder/epochs/{epoch_id}[/proofs/{account}]`, or `?epoch_id=` on lists. */
export function defaultFacts(c: Context<AppEnv>): RequestFacts {
  const path = c.req.path;
  const facts: RequestFacts = {};
  const epochId = decoded(EPOCH_PATH.exec(path)?.[1]) ?? c.req.query("epoch_id");
  const account = decoded(PROOF_PATH.exec(path)?.[1]);
  if (epochId !== undefined) facts.epochId = epochId;
  if (account !== undefined) facts.account = account;
  return facts;
}

/** Builds the auth middleware. */
export function auth(options: AuthOptions): MiddlewareHandler<AppEnv> {
  const verify = options.verifier ?? macaroonVerifier(options.keyRing);
  const nowMs = options.nowMs ?? Date.now;
  const factsFor = options.factsFor ?? defaultFacts;
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
      if (err instanceof RewarderError) options.onFailure?.(scope, err.reason);
      throw err;
    }
    await next();
  };
}
