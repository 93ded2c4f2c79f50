/**
 * The `memory` backend (AMNESIA=on): RAM only. This module imports nothing that touches the
 * filesystem, so a process using it runs without any write permission.
 *
 * @module
 */
import type { CidString } from "../../core/types.ts";
import { assert } from "../../core/assert.ts";
import {
  cloneJson,
  commitConflict,
  commitmentAfter,
  type CommitResult,
  compareCommitments,
  comparePublications,
  compareRuns,
  type ListQuery,
  matchesQuery,
  newEntry,
  type OutboxEntry,
  type PublicationEntry,
  publicationEntryOf,
  type PurgeReport,
  type RunStore,
  type StoredRun,
} from "./run_store.ts";

/** Creates an empty in-memory {@link RunStore}. */
export function createMemoryRunStore(): RunStore {
  const runs = new Map<string, StoredRun>(); // tenant \0 runKey
  const commitments = new Map<string, CidString>(); // tenant \0 epochId
  const inputsCommitments = new Map<string, string>(); // tenant \0 inputsCid → epochId
  const outbox = new Map<string, OutboxEntry>(); // tenant \0 runKey
  const publications = new Map<string, PublicationEntry>(); // tenant \0 runKey
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
      const ik = k(run.tenant, run.meta.inputsCid);
      const entry = intent === null ? null : newEntry(run, intent, nowMs); // asserts agreement
      const conflict = commitConflict(commitments.get(ck), inputsCommitments.get(ik), run);
      if (conflict !== undefined) return Promise.resolve(conflict);
      commitments.set(ck, run.record.run_key);
      inputsCommitments.set(ik, run.record.epoch_id);
      runs.set(k(run.tenant, run.record.run_key), cloneJson(run));
      if (entry !== null) outbox.set(k(run.tenant, run.record.run_key), entry);
      publications.set(k(run.tenant, run.record.run_key), publicationEntryOf(run, nowMs));
      return Promise.resolve({ committed: true });
    },
    getCommitment(tenant, epochId) {
      return Promise.resolve(commitments.get(k(tenant, epochId)));
    },
    getInputsCommitment(tenant, inputsCid) {
      return Promise.resolve(inputsCommitments.get(k(tenant, inputsCid)));
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
    pendingPublications(limit) {
      const page = [...publications.values()].sort(comparePublications).slice(0, limit);
      return Promise.resolve(page.map((e) => ({ ...e })));
    },
    removePublication(tenant, runKey) {
      publications.delete(k(tenant, runKey));
      return Promise.resolve();
    },
    publicationStats() {
      let oldest: number | undefined;
      for (const e of publications.values()) {
        if (oldest === undefined || e.enqueuedAtMs < oldest) oldest = e.enqueuedAtMs;
      }
      return Promise.resolve({ depth: publications.size, oldestEnqueuedAtMs: oldest });
    },
    listCommitments(after, limit) {
      const page = [...commitments].map(([key, runKey]) => {
        const [tenant, epochId] = key.split("\u0000") as [string, string];
        return { tenant, epochId, runKey };
      }).filter((c) => commitmentAfter(c, after)).sort(compareCommitments).slice(0, limit);
      return Promise.resolve(page);
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
