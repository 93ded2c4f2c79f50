/**
 * The `memory` backend (AMNESIA=on): RAM only. This module imports nothing that touches the
 * filesystem, so a process using it runs without any write permission.
 *
 * @module
 */
import type { Cid, LedgerIntent } from "../../core/types.ts";
import { assert } from "../../core/assert.ts";
import {
  cloneJson,
  type CommitResult,
  compareRuns,
  type ListQuery,
  matchesQuery,
  type OutboxEntry,
  type PurgeReport,
  type RunStore,
  type StoredRun,
} from "./run_store.ts";

/** Creates an empty in-memory {@link RunStore}. */
export function createMemoryRunStore(): RunStore {
  const runs = new Map<string, StoredRun>(); // tenant \0 runKey
  const commitments = new Map<string, Cid>(); // tenant \0 epochId
  const outbox = new Map<string, OutboxEntry>(); // tenant \0 runKey
  const counters = new Map<string, number>();
  let quarantineOnly = false;
  let seq = 0;
  const k = (a: string, b: string) => `${a}\u0000${b}`;

  function isCommitted(run: StoredRun): boolean {
    return commitments.get(k(run.tenant, run.record.epoch_id)) === run.record.run_key;
  }

  return {
    kind: "memory",
    getRun(tenant, runKey) {
      const run = runs.get(k(tenant, runKey));
      return Promise.resolve(run === undefined ? undefined : cloneJson(run));
    },
    putRun(run) {
      const key = k(run.tenant, run.record.run_key);
      const prev = runs.get(key);
      // A committed run is final: only commitRun writes it.
      assert(prev === undefined || !isCommitted(prev), "putRun must not overwrite a committed run");
      runs.set(key, cloneJson(run));
      return Promise.resolve();
    },
    commitRun(run, intent, nowMs): Promise<CommitResult> {
      // No await between the check and the writes: atomic in a single-threaded runtime.
      const ck = k(run.tenant, run.record.epoch_id);
      const holder = commitments.get(ck);
      if (holder !== undefined) return Promise.resolve({ committed: false, holder });
      commitments.set(ck, run.record.run_key);
      runs.set(k(run.tenant, run.record.run_key), cloneJson(run));
      if (intent !== null) {
        outbox.set(k(run.tenant, run.record.run_key), newEntry(run, intent, nowMs));
      }
      return Promise.resolve({ committed: true });
    },
    getCommitment(tenant, epochId) {
      return Promise.resolve(commitments.get(k(tenant, epochId)));
    },
    listRuns(tenant, query: ListQuery) {
      const page = [...runs.values()]
        .filter((r) => r.tenant === tenant && matchesQuery(r, query))
        .sort(compareRuns)
        .slice(0, query.limit);
      return Promise.resolve(page.map((r) => cloneJson(r)));
    },
    nextSeq() {
      seq += 1;
      return Promise.resolve(seq);
    },
    getOutbox(tenant, runKey) {
      const e = outbox.get(k(tenant, runKey));
      return Promise.resolve(e === undefined ? undefined : cloneJson(e));
    },
    duePending(nowMs, limit) {
      const due = [...outbox.values()]
        .filter((e) => e.state === "pending" && e.nextAttemptAtMs <= nowMs)
        .sort((a, b) => a.enqueuedAtMs - b.enqueuedAtMs)
        .slice(0, limit);
      return Promise.resolve(due.map((e) => cloneJson(e)));
    },
    updateOutbox(entry) {
      const key = k(entry.tenant, entry.runKey);
      const prev = outbox.get(key);
      assert(prev !== undefined, "updateOutbox needs an existing entry");
      outbox.set(key, { ...cloneJson(entry), intent: prev.intent });
      return Promise.resolve();
    },
    outboxStats() {
      let depth = 0;
      let oldest: number | undefined;
      for (const e of outbox.values()) {
        if (e.state !== "pending") continue;
        depth += 1;
        if (oldest === undefined || e.enqueuedAtMs < oldest) oldest = e.enqueuedAtMs;
      }
      return Promise.resolve({ depth, oldestEnqueuedAtMs: oldest });
    },
    getQuarantineOnly: () => Promise.resolve(quarantineOnly),
    setQuarantineOnly(on) {
      quarantineOnly = on;
      return Promise.resolve();
    },
    count: (key) => Promise.resolve(counters.get(key) ?? 0),
    increment(key) {
      const n = (counters.get(key) ?? 0) + 1;
      counters.set(key, n);
      return Promise.resolve(n);
    },
    tryIncrement(key, max) {
      const n = counters.get(key) ?? 0;
      if (n >= max) return Promise.resolve(false);
      counters.set(key, n + 1);
      return Promise.resolve(true);
    },
    purgeOlderThan(cutoffMs, { batchMax }): Promise<PurgeReport> {
      let purgedRuns = 0;
      for (const [key, run] of runs) {
        if (run.meta.createdAtMs >= cutoffMs || isCommitted(run)) continue;
        if (purgedRuns >= batchMax) return Promise.resolve({ purgedRuns, more: true });
        runs.delete(key);
        purgedRuns += 1;
      }
      return Promise.resolve({ purgedRuns, more: false });
    },
    health: () => Promise.resolve("ok" as const),
    close: () => Promise.resolve(),
  };
}

/** A fresh pending outbox entry for a committed run. */
export function newEntry(run: StoredRun, intent: LedgerIntent, nowMs: number): OutboxEntry {
  assert(intent.run_key === run.record.run_key, "intent.run_key must equal the run key");
  assert(intent.tenant === run.tenant, "intent.tenant must equal the run's tenant");
  return {
    tenant: run.tenant,
    runKey: run.record.run_key,
    intent: cloneJson(intent),
    state: "pending",
    attempts: 0,
    nextAttemptAtMs: nowMs,
    enqueuedAtMs: nowMs,
    conflict: false,
  };
}
