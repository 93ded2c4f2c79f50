/**
 * The bounded retention sweep (RETENTION_DAYS, default 90): one call purges at most `batchMax`
 * expired uncommitted runs; the caller schedules it (e.g. every minute). Committed runs keep
 * their whole envelope (manifest hash, signatures, payouts): see RunStore.purgeOlderThan.
 *
 * @module
 */
import type { PurgeReport, RunStore } from "./run_store.ts";

/** Default retention window (90 days, RETENTION_DAYS). */
export const RETENTION_DAYS_DEFAULT = 90;
/** Runs purged per sweep call: bounds the I/O of one background step. */
export const RETENTION_BATCH_MAX = 500;
const DAY_MS = 86_400_000;

/** Creates a sweep step bound to a store and an injected clock. */
export function createRetentionSweep(options: {
  store: RunStore;
  nowMs: () => number;
  retentionDays?: number;
  batchMax?: number;
}): () => Promise<PurgeReport> {
  const days = options.retentionDays ?? RETENTION_DAYS_DEFAULT;
  if (!Number.isInteger(days) || days < 1) {
    throw new RangeError(`Cannot sweep with retentionDays: current value is ${days}, want ≥ 1`);
  }
  const batchMax = options.batchMax ?? RETENTION_BATCH_MAX;
  return function retentionSweep() {
    return options.store.purgeOlderThan(options.nowMs() - days * DAY_MS, { batchMax });
  };
}
