/**
 * The service's observability from its configuration: the metrics registry and the audit trail
 * (a file in DATA_DIR, or stdout for a memory store or AMNESIA), and the readiness causes that
 * `/readyz` reports beyond the app's own (contract §10).
 *
 * @module
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import type { OutboxDispatcher } from "../outbox/dispatcher.ts";
import type { RunStore } from "../store/run_store.ts";
import { createStdoutAuditSink, openFileAuditSink } from "./audit.ts";
import { type AuditTrail, createAuditTrail } from "./audit_trail.ts";
import { failureStreakLog, getLogger } from "./log.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import type { DependencyProbes } from "./probes.ts";

/** Builds the metrics and opens the audit trail. */
export async function buildObserve(
  config: Pick<Config, "inflightMax" | "amnesia" | "store" | "dataDir">,
  nowMs: () => number,
): Promise<{ metrics: Metrics; audit: AuditTrail }> {
  const log = getLogger("service");
  const metrics = createMetrics();
  metrics.setInflightMax(config.inflightMax);
  const fileAudit = !(config.amnesia || config.store === "memory");
  // The audit file lives in DATA_DIR whatever the store (with STORE=postgres nothing else
  // may have created the directory).
  if (fileAudit) await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const auditWriteLog = failureStreakLog(log, "audit write");
  // Decisions are awaited and fail closed; rejected tokens and replays are counted per minute
  // (docs/RUNBOOK.md, "Audit log").
  const audit = createAuditTrail({
    sink: fileAudit
      ? await openFileAuditSink({ path: join(config.dataDir, "audit.jsonl"), nowMs })
      : createStdoutAuditSink({ nowMs }),
    nowMs,
    metrics,
    onWriteFailure: (err) => auditWriteLog.failed(err),
  });
  return { metrics, audit };
}

/**
 * The readiness causes beyond the app's own: `audit` (the sink failed), `dep_outage` (the
 * ledger breaker is open or a probed dependency is down), `store`; each call also sets the
 * outbox gauges.
 */
export function readinessCausesOf(input: {
  audit: Pick<AuditTrail, "status">;
  dispatcher: OutboxDispatcher;
  probes: Pick<DependencyProbes, "outage">;
  store: Pick<RunStore, "health">;
  metrics: Metrics;
}): () => Promise<string[]> {
  const { audit, dispatcher, probes, store, metrics } = input;
  return async () => {
    const causes: string[] = [];
    if (audit.status() !== "ok") causes.push("audit");
    if (dispatcher.breakerOpen() || probes.outage()) causes.push("dep_outage");
    if ((await store.health()) !== "ok") causes.push("store");
    const ageMs = await dispatcher.oldestPendingAgeMs();
    metrics.setOutbox(await dispatcher.depth(), ageMs / 1000);
    return causes;
  };
}
