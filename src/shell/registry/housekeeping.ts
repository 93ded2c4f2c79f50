/**
 * The service's housekeeping timer: every tick writes the audit summaries of a minute that has
 * ended, re-reads the shared quarantine-only flag and, unless READ_ONLY, runs the retention
 * sweep when it is due (hourly once a sweep found nothing more to purge, at the next tick while
 * bounded batches remain).
 *
 * @module
 */
import type { Config } from "../config/config.ts";
import type { AuditTrail } from "../observe/audit_trail.ts";
import { failureStreakLog, getLogger } from "../observe/log.ts";
import { createRetentionSweep } from "../store/retention_sweep.ts";
import type { RunStore } from "../store/run_store.ts";
import type { RunRegistry } from "./run_registry.ts";

/** Housekeeping tick (ms): re-read the shared quarantine-only flag, run due sweeps. */
export const HOUSEKEEPING_INTERVAL_MS = 5_000;
/** Retention sweep interval (ms) once a sweep found nothing more to purge. */
export const RETENTION_SWEEP_INTERVAL_MS = 3_600_000;

/** Starts the timer; answers its stopper. */
export function startHousekeeping(
  config: Pick<Config, "readOnly" | "retentionDays">,
  deps: {
    store: RunStore;
    registry: Pick<RunRegistry, "refreshQuarantineOnly">;
    audit: Pick<AuditTrail, "tick">;
    nowMs: () => number;
  },
): () => void {
  const { store, registry, audit, nowMs } = deps;
  const log = getLogger("service");
  const sweep = createRetentionSweep({ store, nowMs, retentionDays: config.retentionDays });
  let sweepDueMs = nowMs();
  const flagLog = failureStreakLog(log, "quarantine-only flag refresh");
  const sweepLog = failureStreakLog(log, "retention sweep");
  const housekeeping = setInterval(() => {
    audit.tick(); // summary lines of a minute that has ended
    registry.refreshQuarantineOnly().then(() => flagLog.succeeded(), (err) => flagLog.failed(err));
    if (config.readOnly || nowMs() < sweepDueMs) return;
    sweepDueMs = nowMs() + RETENTION_SWEEP_INTERVAL_MS;
    sweep().then((report) => {
      sweepLog.succeeded();
      if (report.more) sweepDueMs = nowMs(); // bounded batches: continue next tick
    }, (err) => sweepLog.failed(err));
  }, HOUSEKEEPING_INTERVAL_MS);
  return () => clearInterval(housekeeping);
}
