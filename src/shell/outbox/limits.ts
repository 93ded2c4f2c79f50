/**
 * The outbox's delivery limits (contract §7): attempts per cycle, their budget and backoff, the
 * redelivery schedule, the breaker and the batch size. The dispatcher applies them; the
 * PostgreSQL store reads the attempt budget and backoff to size its delivery lease.
 *
 * @module
 */

/** Retries after the first attempt of a cycle (contract §7). */
export const MAX_RETRIES_LEDGER = 2;
/** Whole-attempt budget (contract §7: 10 s attempt budget). */
export const LEDGER_ATTEMPT_TIMEOUT_MS = 10_000;
/** Backoff base and cap between attempts of a cycle (full jitter: sleep ∈ [0, min(cap, base·2^n))). */
export const LEDGER_BACKOFF_BASE_MS = 200;
export const LEDGER_BACKOFF_CAP_MS = 5_000;
/** Delay before the next cycle of a still-pending entry, doubling per cycle up to the cap. */
export const LEDGER_REDELIVER_BASE_MS = 5_000;
export const LEDGER_REDELIVER_CAP_MS = 300_000;
/** Consecutive failed attempts that open the breaker, and its cool-down before a probe. */
export const BREAKER_FAILURES_TO_OPEN = 5;
export const BREAKER_COOL_DOWN_MS = 30_000;
/** Entries delivered per tick (also the in-flight bound of one tick). */
export const OUTBOX_BATCH_MAX = 32;
