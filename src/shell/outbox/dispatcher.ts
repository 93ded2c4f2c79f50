/**
 * The outbox dispatcher: delivers pending intents with the rules of contract §7.
 *
 * - The intent is sent as it was queued at first enqueue (contract §7): its stored
 *   Idempotency-Key (the intent key; the run key of a v1 intent queued before the upgrade) and
 *   its stored body bytes, identical on every attempt, every cycle and every process. The
 *   dispatcher never rebuilds an intent from the run (a v1 intent rebuilt as v2 would pay
 *   twice: another key, another body).
 * - One delivery cycle = 1 + MAX_RETRIES_LEDGER attempts, exponential backoff with full jitter
 *   between them, each attempt bounded by {@link LEDGER_ATTEMPT_TIMEOUT_MS}. A cycle that ends
 *   without an answer leaves the entry pending with a later `nextAttemptAtMs`: it is resent by a
 *   later tick, after a restart too (the state lives in the store).
 * - `accepted` and `duplicate` are delivered; `conflict` (409) marks the entry failed+conflict:
 *   the run is quarantined and never retried.
 * - A circuit breaker opens after consecutive failed attempts and half-opens after a cool-down
 *   (one probe delivery); `breakerOpen()` feeds /readyz `dep_outage`.
 * - At most one delivery in flight per (tenant, run key) in this process.
 *
 * @module
 */
import type { CidString } from "../../core/types.ts";
import { assert } from "../../core/assert.ts";
import { blake3HexOfTexts } from "../files/text_chunks.ts";
import type { OutboxEntry, RunStore } from "../store/run_store.ts";
import type { LedgerTarget } from "../ledger/ledger_target.ts";
import {
  BREAKER_COOL_DOWN_MS,
  BREAKER_FAILURES_TO_OPEN,
  LEDGER_ATTEMPT_TIMEOUT_MS,
  LEDGER_BACKOFF_BASE_MS,
  LEDGER_BACKOFF_CAP_MS,
  LEDGER_REDELIVER_BASE_MS,
  LEDGER_REDELIVER_CAP_MS,
  MAX_RETRIES_LEDGER,
  OUTBOX_BATCH_MAX,
} from "./limits.ts";

/** Bound on the doubling exponent (2^20 × base is already past every cap). */
const BACKOFF_EXPONENT_MAX = 20;

/** Test-only crash points (wired by the lead to an env-gated `Deno.exit(137)`). */
export type DispatcherFaultStep = "after_send" | "after_ack";

/** One delivery's outcome (for metrics: `ledger_intents_total{result}`). */
export interface DeliveryResult {
  tenant: string;
  runKey: CidString;
  result: "accepted" | "duplicate" | "conflict" | "retry_later";
  /** Attempts made in this cycle. */
  attempts: number;
  /** Last retryable reason (snake_case) when `retry_later`. */
  reason?: string;
}

/** Options of {@link createOutboxDispatcher}; only store, target and nowMs are required. */
export interface DispatcherOptions {
  store: RunStore;
  target: LedgerTarget;
  nowMs: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** True while emission is suppressed (quarantine-only mode). */
  paused?: () => boolean;
  retriesMax?: number;
  attemptTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  redeliverBaseMs?: number;
  redeliverCapMs?: number;
  breakerFailuresToOpen?: number;
  breakerCoolDownMs?: number;
  batchMax?: number;
  onResult?: (result: DeliveryResult) => void;
  /** Called when a background tick fails (e.g. the store is unreachable); the loop goes on. */
  onLoopError?: (err: unknown) => void;
  /** Called when a background tick completes (ends a failure streak in the log). */
  onLoopOk?: () => void;
  faultHook?: (step: DispatcherFaultStep) => void;
}

/** The dispatcher. */
export interface OutboxDispatcher {
  /** Delivers due entries (at most batchMax); answers how many reached a final answer. */
  tick(): Promise<number>;
  /** Starts a background loop ticking every `intervalMs`. */
  start(intervalMs: number): void;
  /** Stops the loop and waits for the running tick. */
  stop(): Promise<void>;
  breakerOpen(): boolean;
  oldestPendingAgeMs(): Promise<number>;
  depth(): Promise<number>;
}

/** Creates an {@link OutboxDispatcher}. */
export function createOutboxDispatcher(o: DispatcherOptions): OutboxDispatcher {
  const retriesMax = o.retriesMax ?? MAX_RETRIES_LEDGER;
  const random = o.random ?? Math.random;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const failuresToOpen = o.breakerFailuresToOpen ?? BREAKER_FAILURES_TO_OPEN;
  const coolDownMs = o.breakerCoolDownMs ?? BREAKER_COOL_DOWN_MS;
  const inflight = new Set<string>();
  // entry → BLAKE3 of the key and body first sent by this process: a retried intent is checked
  // against a 67-byte digest, not kept whole (an intent of a large epoch is tens of MB).
  const sentDigests = new Map<string, string>();
  let failures = 0;
  let openUntilMs: number | undefined;
  let probing = false;
  let loop:
    | { timer: ReturnType<typeof setTimeout> | undefined; running: Promise<unknown> }
    | undefined;

  /** Admission by the breaker: closed, or half-open with no probe out yet. */
  function admit(): boolean {
    if (openUntilMs === undefined) return true;
    if (o.nowMs() < openUntilMs || probing) return false;
    probing = true; // half-open: this delivery is the probe
    return true;
  }
  function attemptFailed(): void {
    failures += 1;
    if (probing || failures >= failuresToOpen) openUntilMs = o.nowMs() + coolDownMs;
    probing = false;
  }
  function attemptSucceeded(): void {
    failures = 0;
    openUntilMs = undefined;
    probing = false;
  }
  const backoff = (base: number, cap: number, n: number) =>
    Math.min(cap, base * 2 ** Math.min(n, BACKOFF_EXPONENT_MAX));

  async function deliver(entry: OutboxEntry): Promise<DeliveryResult> {
    const { tenant, runKey, intent } = entry;
    assert(intent.runKey === runKey, "one intent per run");
    // cidOf(key \0 body), hashed a slice at a time: a large run's body is tens of MB.
    const sent = `b3:${await blake3HexOfTexts([intent.idempotencyKey, "\u0000", intent.body])}`;
    const seen = sentDigests.get(`${tenant}\u0000${runKey}`);
    assert(seen === undefined || seen === sent, "retries must carry the identical key and body");
    sentDigests.set(`${tenant}\u0000${runKey}`, sent);
    const corrId = `outbox-${runKey.slice(3, 19)}`;
    let attempts = 0;
    let reason = "breaker_open";
    for (let i = 0; i <= retriesMax; i++) {
      if (i > 0) {
        await sleep(
          random() *
            backoff(
              o.backoffBaseMs ?? LEDGER_BACKOFF_BASE_MS,
              o.backoffCapMs ?? LEDGER_BACKOFF_CAP_MS,
              i - 1,
            ),
        );
        if (!admit()) break;
      }
      attempts += 1;
      try {
        const signal = AbortSignal.timeout(o.attemptTimeoutMs ?? LEDGER_ATTEMPT_TIMEOUT_MS);
        const answer = await o.target.send(intent, { tenant, corrId, signal });
        o.faultHook?.("after_send");
        attemptSucceeded();
        const state = answer === "conflict" ? "failed" : answer;
        await o.store.updateOutbox({
          ...entry,
          state,
          attempts: entry.attempts + attempts,
          conflict: answer === "conflict",
        });
        o.faultHook?.("after_ack");
        sentDigests.delete(`${tenant}\u0000${runKey}`);
        return { tenant, runKey, result: answer, attempts };
      } catch (err) {
        attemptFailed();
        reason = (err as { reason?: unknown }).reason === undefined
          ? "error"
          : String((err as { reason: unknown }).reason);
      }
    }
    const cycles = Math.floor((entry.attempts + attempts) / (retriesMax + 1));
    await o.store.updateOutbox({
      ...entry,
      attempts: entry.attempts + attempts,
      nextAttemptAtMs: o.nowMs() +
        backoff(
          o.redeliverBaseMs ?? LEDGER_REDELIVER_BASE_MS,
          o.redeliverCapMs ?? LEDGER_REDELIVER_CAP_MS,
          cycles,
        ),
    });
    return { tenant, runKey, result: "retry_later", attempts, reason };
  }

  async function tick(): Promise<number> {
    if (o.paused?.() === true) return 0;
    // Take no more than can be sent: none while the breaker is open, one (the probe) while it
    // is half-open. A leasing store (postgres) claims what duePending returns, and an entry
    // claimed but not sent would sit out its lease instead of going to a healthy instance.
    if (openUntilMs !== undefined && (o.nowMs() < openUntilMs || probing)) return 0;
    const limit = openUntilMs !== undefined ? 1 : o.batchMax ?? OUTBOX_BATCH_MAX;
    const due = await o.store.duePending(o.nowMs(), limit);
    const runs = due.map(async (entry) => {
      const key = `${entry.tenant}\u0000${entry.runKey}`;
      if (inflight.has(key) || !admit()) return 0;
      inflight.add(key);
      try {
        const result = await deliver(entry);
        o.onResult?.(result);
        return result.result === "retry_later" ? 0 : 1;
      } finally {
        inflight.delete(key);
      }
    });
    return (await Promise.all(runs)).reduce<number>((a, b) => a + b, 0);
  }

  return {
    tick,
    start(intervalMs) {
      if (loop !== undefined) return;
      const state: { timer: ReturnType<typeof setTimeout> | undefined; running: Promise<unknown> } =
        {
          timer: undefined,
          running: Promise.resolve(),
        };
      loop = state;
      const schedule = () => {
        state.timer = setTimeout(() => {
          state.running = tick().then((n) => {
            o.onLoopOk?.();
            return n;
          }, (err) => {
            o.onLoopError?.(err);
            return 0;
          }).finally(() => {
            if (loop === state) schedule();
          });
        }, intervalMs);
      };
      schedule();
    },
    async stop() {
      const state = loop;
      loop = undefined;
      if (state === undefined) return;
      clearTimeout(state.timer);
      await state.running;
    },
    breakerOpen: () => openUntilMs !== undefined && o.nowMs() < openUntilMs,
    async oldestPendingAgeMs() {
      const { oldestEnqueuedAtMs } = await o.store.outboxStats();
      return oldestEnqueuedAtMs === undefined ? 0 : Math.max(0, o.nowMs() - oldestEnqueuedAtMs);
    },
    async depth() {
      return (await o.store.outboxStats()).depth;
    },
  };
}
