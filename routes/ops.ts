/**
 * Operational routes: health, readiness with causes, metrics, version, published keys,
 * quarantine-only mode, and the generated contract documents.
 *
 * @module
 */
import type { Context } from "hono";
import { createFactory } from "hono/factory";
import { z } from "zod";
import type { AppServices } from "../src/shell/app_services.ts";
import type { AppEnv } from "../middleware/context.ts";
import type { ConcurrencyLimitHandler } from "../middleware/concurrency.ts";
import { computeBodySchema, noQuerySchema, quarantineSchema } from "../src/api/schemas.ts";
import { strictJsonBody, validJson, validQuery } from "./validate.ts";

const factory = createFactory<AppEnv>();

/** Instance-bucket fill below which `/readyz` reports `quota` (fraction of burst). */
export const QUOTA_LOW_RATIO = 0.05;

/** `/readyz`: 200 or 503 with causes; also updates `readyz_degraded{cause}`. */
export function readyHandler(
  s: Pick<AppServices, "readinessCauses" | "limiter" | "keyRing" | "metrics">,
  concurrency: ConcurrencyLimitHandler,
) {
  const known = ["backpressure", "dep_outage", "quota", "store", "keys", "outbox", "audit"];
  return async function readyz(c: Context<AppEnv>): Promise<Response> {
    const causes = new Set(await s.readinessCauses());
    if (concurrency.nearCap()) causes.add("backpressure");
    const stats = s.limiter.stats();
    if (stats.instanceTokens < stats.rates.burstMax * QUOTA_LOW_RATIO) causes.add("quota");
    if (s.keyRing.status() !== "ok") causes.add("keys");
    for (const cause of known) s.metrics.setReadyDegraded(cause, causes.has(cause));
    s.metrics.setInflight(concurrency.inflight());
    s.metrics.setRateLimiterTokens(stats.instanceTokens, stats.rates.burstMax);
    const list = [...causes].sort();
    c.header("Cache-Control", "no-store");
    return list.length === 0
      ? c.json({ ready: true })
      : c.json({ ready: false, causes: list }, 503);
  };
}

/** `GET`/`PUT /rewarder/quarantine`. */
export function quarantineHandlers(s: Pick<AppServices, "registry" | "audit">) {
  return {
    get: factory.createHandlers(validQuery(noQuerySchema), function quarantine(c) {
      return c.json({ quarantine_only: s.registry.quarantineOnly() });
    }),
    put: factory.createHandlers(
      validQuery(noQuerySchema),
      strictJsonBody(),
      validJson(quarantineSchema),
      async function setQuarantine(c) {
        const { quarantine_only: on } = c.req.valid("json");
        // Fail-closed for lifting the mode only: switching emission off must work even when
        // the audit sink cannot write (docs/RUNBOOK.md, AuditSinkFailing).
        if (!on) s.audit.assertWritable();
        await s.registry.setQuarantineOnly(on);
        // A decision: its line is durable before the answer (503 `audit` when it cannot be).
        await s.audit.decide({
          event: "quarantine_mode_changed",
          tenant: c.get("auth").tenant,
          corr_id: c.get("corrId"),
          outcome: on ? "on" : "off",
        });
        return c.json({ quarantine_only: s.registry.quarantineOnly() });
      },
    ),
  };
}

/** JSON Schema of the compute body, generated from the zod schema. */
export function computeJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(computeBodySchema, { target: "draft-2020-12" }) as Record<string, unknown>;
}
