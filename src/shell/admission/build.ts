/**
 * The admission components of one service from its configuration: the rate limiter (instance,
 * tenant and anonymous peer buckets), the hold on anonymous refusals and the pre-auth budget,
 * with their metrics
 * (docs/ARCHITECTURE.md, "Order of the middleware").
 *
 * @module
 */
import type { Registry } from "prom-client";
import type { Config } from "../config/config.ts";
import { createAdmissionMetrics } from "../observe/isolation_metrics.ts";
import { createPreAuthBudget, type PreAuthBudget } from "./preauth_budget.ts";
import { createRateLimiter, type RateLimiter } from "./rate_limiter.ts";
import { createRefusalHold, type RefusalHold } from "./refusal_hold.ts";

/** Builds the limiter and the pre-auth budget, their metrics registered on `registry`. */
export function buildAdmission(
  config: Pick<
    Config,
    | "ratePerSecondMax"
    | "burstMax"
    | "tenantRatePerSecondMax"
    | "tenantBucketsMax"
    | "anonPeerRatePerSecondMax"
    | "anonPeersMax"
    | "preAuthBudgetBytes"
  >,
  registry: Registry,
): { limiter: RateLimiter; preAuthBudget: PreAuthBudget; refusalHold: RefusalHold } {
  const metrics = createAdmissionMetrics(registry);
  const limiter = createRateLimiter({
    ratePerSecondMax: config.ratePerSecondMax,
    burstMax: config.burstMax,
    tenantRatePerSecondMax: config.tenantRatePerSecondMax,
    tenantBucketsMax: config.tenantBucketsMax,
    anonPeerRatePerSecondMax: config.anonPeerRatePerSecondMax,
    anonPeersMax: config.anonPeersMax,
    onAnonymousRefused: metrics.anonymousRefused,
  });
  const preAuthBudget = createPreAuthBudget({
    budgetBytes: config.preAuthBudgetBytes,
    observer: { refused: metrics.preAuthRefused },
  });
  metrics.watch(preAuthBudget, limiter);
  const refusalHold = createRefusalHold({ onRefusal: metrics.anonymousRefusalHeld });
  return { limiter, preAuthBudget, refusalHold };
}
