/**
 * The audit trail (docs/RUNBOOK.md, "Audit log"): what the service records, over one
 * {@link AuditSink}, in two kinds.
 *
 * - **Decisions** ({@link AUDIT_DECISION_EVENTS}: a run computed, committed, conflicted or
 *   quarantined, an intent acknowledged, the quarantine-only mode or the caps key epoch
 *   changed) are one line each. `decide()` resolves once the line is durable (the sink's group
 *   commit), so the answer that reports a decision is sent after its line is on disk. It is
 *   **fail-closed**: once the sink cannot write, `decide()` rejects with 503
 *   DEPENDENCY_UNAVAILABLE `audit` and `status()` reads `failed` (`/readyz` cause `audit`)
 *   until a restart.
 * - **Counted events** ({@link AUDIT_COUNTED_EVENTS}: rejected tokens, replays) are counters per
 *   (minute, event, reason) keeping the first {@link AUDIT_SAMPLES_MAX} corr ids. A bucket
 *   becomes one summary line when its minute closes: at the first counted event of a later
 *   minute, at `tick()` (the housekeeping timer) or at `close()`. `count()` never waits for
 *   the disk and never throws, so no request waits for a sync and no traffic grows the file
 *   faster than one line per (minute, event, reason).
 *
 * Bounds: reasons are closed sets ({@link TOKEN_REJECT_REASONS} from the reasons table,
 * {@link REPLAY_REASONS}; anything else is `other`), only the current minute is open, so at
 * most `|TOKEN_REJECT_REASONS| + |REPLAY_REASONS| + 2` buckets of ≤ 8 samples exist at a time.
 *
 * @example
 * ```ts
 * const trail = createAuditTrail({ sink, nowMs: Date.now });
 * trail.count("token_rejected", "signature", "corr-0001");
 * await trail.decide({ event: "run_computed", tenant: "acme", corr_id: "c", outcome: "pending" });
 * ```
 *
 * @module
 */
import { RewarderError } from "../../core/errors.ts";
import { REASONS } from "../../core/reasons.ts";
import {
  AUDIT_SAMPLES_MAX,
  AUDIT_SUMMARY_EVENT,
  type AuditCountedEvent,
  type AuditEntry,
  type AuditSink,
  auditUnavailable,
} from "./audit.ts";

/** Length of one counting window (ms). */
export const AUDIT_MINUTE_MS = 60_000;
/** The reason of a counted event outside its closed set. */
export const AUDIT_OTHER_REASON = "other";
/** Reasons a rejected token is counted under: the 401/403 rows of the reasons table. */
export const TOKEN_REJECT_REASONS: readonly string[] = Object.entries(REASONS)
  .filter(([, spec]) => spec.code === "UNAUTHENTICATED" || spec.code === "UNAUTHORIZED")
  .map(([reason]) => reason);
/** Reasons a replay is counted under: the run's emission (contract §10), or `quarantined`. */
export const REPLAY_REASONS: readonly string[] = [
  "dry_run",
  "suppressed",
  "pending",
  "accepted",
  "duplicate",
  "failed",
  "quarantined",
];
/** A corr id kept as a sample (the corr id rule's alphabet; longer or odd values are dropped). */
const SAMPLE_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** The metrics the trail feeds (a slice of `Metrics`). */
export interface AuditTrailMetrics {
  recordAuditLine(kind: "decision" | "summary"): void;
  recordAuditWriteFailure(): void;
}

/** Options of {@link createAuditTrail}. */
export interface AuditTrailOptions {
  sink: AuditSink;
  /** Clock, ms since the Unix epoch (injectable: minutes roll on it). */
  nowMs: () => number;
  metrics?: AuditTrailMetrics;
  /** Told about every line that could not be written (for the log); never throws. */
  onWriteFailure?: (err: unknown) => void;
}

/** The service's audit trail. */
export interface AuditTrail {
  /**
   * Writes one decision line and resolves once it is durable. Rejects with 503
   * DEPENDENCY_UNAVAILABLE `audit` when the sink cannot write (or OVERLOADED `audit_backlog`
   * when its queue is full).
   */
  decide(entry: AuditEntry): Promise<void>;
  /** Counts one high-volume event in its (minute, reason) bucket; never waits, never throws. */
  count(event: AuditCountedEvent, reason: string, corrId: string | null): void;
  /** Writes the summaries of the open minute once it has ended (the housekeeping tick). */
  tick(): void;
  /** `failed` once the sink could not write: decisions are refused until a restart. */
  status(): "ok" | "failed";
  /**
   * For a caller that refuses a decision before making it: throws 503 DEPENDENCY_UNAVAILABLE
   * `audit` once the sink has failed, counting the refused line as a write failure (so the
   * failure counter keeps rising while decisions are refused).
   */
  assertWritable(): void;
  /** Writes the open minute's summaries, waits until they are on disk, closes the sink. */
  close(): Promise<void>;
}

interface Bucket {
  of: AuditCountedEvent;
  reason: string;
  count: number;
  samples: string[];
}

/** Builds the trail over `sink`. */
export function createAuditTrail(options: AuditTrailOptions): AuditTrail {
  const { sink, nowMs } = options;
  const buckets = new Map<string, Bucket>();
  const writing = new Set<Promise<void>>();
  let openMinuteMs = minuteOf(nowMs());

  function failed(err: unknown): void {
    options.metrics?.recordAuditWriteFailure();
    try {
      options.onWriteFailure?.(err);
    } catch {
      // a failing logger must not turn a counted event into an error
    }
  }

  /** Appends one summary line per bucket of the open minute (no wait), then empties them. */
  function closeMinute(): void {
    const minute = new Date(openMinuteMs).toISOString();
    const keys = [...buckets.keys()].sort(); // a stable order, for readers and tests
    for (const key of keys) {
      const b = buckets.get(key)!;
      const line = sink.append({
        event: AUDIT_SUMMARY_EVENT,
        of: b.of,
        reason: b.reason,
        minute,
        count: b.count,
        samples: b.samples,
      }).then(() => options.metrics?.recordAuditLine("summary"), failed);
      writing.add(line);
      void line.finally(() => writing.delete(line));
    }
    buckets.clear();
  }

  function roll(): void {
    const minute = minuteOf(nowMs());
    // A clock that steps back keeps counting into the open minute (never reopens one).
    if (minute <= openMinuteMs) return;
    closeMinute();
    openMinuteMs = minute;
  }

  return {
    async decide(entry) {
      try {
        await sink.append(entry);
      } catch (err) {
        if (err instanceof RewarderError && err.code === "OVERLOADED") throw err;
        if (err instanceof TypeError) throw err; // a caller's bug (unknown event, long field)
        failed(err);
        throw err instanceof RewarderError && err.reason === "audit" ? err : auditUnavailable(err);
      }
      options.metrics?.recordAuditLine("decision");
    },
    count(event, reason, corrId) {
      roll();
      const allowed = event === "token_rejected" ? TOKEN_REJECT_REASONS : REPLAY_REASONS;
      const r = allowed.includes(reason) ? reason : AUDIT_OTHER_REASON;
      const key = `${event}\u0000${r}`;
      let b = buckets.get(key);
      if (b === undefined) {
        b = { of: event, reason: r, count: 0, samples: [] };
        buckets.set(key, b);
      }
      b.count += 1;
      if (corrId !== null && b.samples.length < AUDIT_SAMPLES_MAX && SAMPLE_RE.test(corrId)) {
        b.samples.push(corrId);
      }
    },
    tick: roll,
    status: () => sink.status(),
    assertWritable() {
      if (sink.status() === "ok") return;
      options.metrics?.recordAuditWriteFailure();
      throw auditUnavailable();
    },
    async close() {
      closeMinute();
      await Promise.allSettled([...writing]);
      await sink.close();
    },
  };
}

function minuteOf(ms: number): number {
  return Math.floor(ms / AUDIT_MINUTE_MS) * AUDIT_MINUTE_MS;
}
