/**
 * The storage interface behind the run registry and the outbox. Small on purpose so
 * that a PostgreSQL backend (docs/SCALE-OUT.md) can implement it with one table per concept and one
 * transaction for {@link RunStore.commitRun}.
 *
 * Concepts, all per tenant except the flag and the counters:
 * - runs by run key: the stored run record (without `replayed`/`emission`, which the registry
 *   derives), the sealed envelope, and meta (policy hash, inputs CID, created sequence, time);
 * - epoch commitments: epoch_id → run key, exclusive (the single-writer rule of contract §10);
 * - outbox entries: run key → intent + delivery state;
 * - a global quarantine-only flag and `max_runs` counters.
 *
 * @module
 */
import type {
  CidString,
  LedgerIntent,
  LedgerIntentV1,
  RunRecord,
  SealedEnvelope,
} from "../../core/types.ts";
import { RewarderError } from "../../core/errors.ts";
import { canonicalJson, hasLoneSurrogate } from "../../core/canonical_json.ts";
import { assert } from "../../core/assert.ts";
import { getLogger } from "../observe/log.ts";

/** The persisted part of a run record: `replayed` and `emission` are derived on read. */
export type StoredRecord = Omit<RunRecord, "replayed" | "emission">;

/** Metadata kept beside a run, for listing and retention. Never part of hashed data. */
export interface RunMeta {
  policyHash: CidString;
  inputsCid: CidString;
  /** Store-assigned creation order; listing pages by (createdSeq, runKey). */
  createdSeq: number;
  /** Injected-clock time of the first write, for retention only. */
  createdAtMs: number;
}

/** One run as stored. */
export interface StoredRun {
  tenant: string;
  record: StoredRecord;
  envelope: SealedEnvelope;
  meta: RunMeta;
}

/** Delivery state of an outbox entry (contract §7). */
export type OutboxState = "pending" | "accepted" | "duplicate" | "failed";

/**
 * An intent as queued (contract §7): its Idempotency-Key and body bytes are fixed at first
 * enqueue and every resend uses them unchanged. v2: key = intent_key, body = JCS(intent v2);
 * a v1 intent queued before the upgrade keeps key = run_key, body = JCS(intent v1).
 */
export interface QueuedIntent {
  idempotencyKey: CidString;
  /** The exact body text sent (JCS, UTF-8). */
  body: string;
  /** Members the egress token's caveats repeat (contract §9); equal to the body's. */
  runKey: CidString;
  /** null for a v1 intent. */
  intentKey: CidString | null;
  manifestHash: CidString;
}

/**
 * The queued form of an intent (contract §7), built once, at first enqueue: a v2 intent is
 * keyed by its `intent_key`, a v1 intent by its `run_key`; the body is the JCS text of the
 * intent. Registry and stores both use this, so the key and bytes agree everywhere.
 *
 * @example
 * ```ts
 * const q = queuedIntentOf(intentOf(envelope, "acme"));
 * // q.idempotencyKey === intent.intent_key; q.body === canonicalJson(intent)
 * ```
 */
export function queuedIntentOf(intent: LedgerIntent): QueuedIntent {
  const v2 = intent.schema === "svc-rewarder.intent.v2";
  return {
    idempotencyKey: v2 ? intent.intent_key : intent.run_key,
    body: intentJcs(intent),
    runKey: intent.run_key,
    intentKey: v2 ? intent.intent_key : null,
    manifestHash: intent.manifest_hash,
  };
}

/** The one member name JCS puts after every other member of an intent (contract §7). */
const TRANSFERS = "transfers";

/**
 * JCS of an intent, exactly `canonicalJson(intent)` (contract §1), in a few milliseconds for
 * 10,000 transfers instead of tens: the members other than `transfers` go through
 * `canonicalJson`, and each transfer, a plain `{to, amount_minor}` of two strings, is written
 * directly as JCS writes it (members sorted: `amount_minor` < `to`; strings as
 * `JSON.stringify` escapes them). Anything else (another shape, a member sorting after
 * `transfers`, a lone surrogate) takes `canonicalJson` of the whole intent, which decides.
 */
export function intentJcs(intent: LedgerIntent): string {
  const { transfers, ...rest } = intent;
  const names = Object.keys(rest);
  if (!Array.isArray(transfers) || names.length === 0 || names.some((n) => !(n < TRANSFERS))) {
    return canonicalJson(intent);
  }
  const parts = new Array<string>(transfers.length);
  for (let i = 0; i < transfers.length; i++) {
    const t: unknown = transfers[i];
    if (typeof t !== "object" || t === null || Object.getPrototypeOf(t) !== Object.prototype) {
      return canonicalJson(intent);
    }
    const { to, amount_minor: amount } = t as Record<string, unknown>;
    if (
      Object.keys(t).length !== 2 || typeof to !== "string" || typeof amount !== "string" ||
      !Object.hasOwn(t, "to") || !Object.hasOwn(t, "amount_minor") ||
      hasLoneSurrogate(to) || hasLoneSurrogate(amount)
    ) return canonicalJson(intent);
    parts[i] = `{"amount_minor":${JSON.stringify(amount)},"to":${JSON.stringify(to)}}`;
  }
  const head = canonicalJson(rest);
  return `${head.slice(0, -1)},"${TRANSFERS}":[${parts.join(",")}]}`;
}

/**
 * Reads an intent as a store holds it: a {@link QueuedIntent}, or (data written before the
 * upgrade, contract §5) the v1 intent object itself, which the v1 dispatcher sent as
 * JCS(intent) under `Idempotency-Key: <run_key>` — so that is what it is queued as now.
 * Throws (assert) on anything else: a store never guesses a body.
 */
export function queuedIntentFromStored(stored: unknown): QueuedIntent {
  assert(typeof stored === "object" && stored !== null, "a stored intent must be an object");
  const o = stored as Record<string, unknown>;
  if (typeof o["idempotencyKey"] === "string") {
    assert(typeof o["body"] === "string", "a queued intent carries its body text");
    return stored as QueuedIntent;
  }
  assert(o["schema"] === "svc-rewarder.intent.v1", "an unqueued stored intent must be v1");
  return queuedIntentOf(stored as LedgerIntentV1);
}

/** A stored record as read: v1 records (written before the upgrade) get `intent_key: null`. */
export function upgradeStoredRecord(
  record: Omit<StoredRecord, "intent_key"> & { intent_key?: CidString | null },
): StoredRecord {
  return { ...record, intent_key: record.intent_key ?? null };
}

/** One outbox entry: at most one intent per (tenant, run key) (MAX_LEDGER_EMITS_PER_RUN = 1). */
export interface OutboxEntry {
  tenant: string;
  runKey: CidString;
  intent: QueuedIntent;
  state: OutboxState;
  /** Delivery attempts made so far (all cycles). */
  attempts: number;
  /** Earliest injected-clock time of the next delivery cycle. */
  nextAttemptAtMs: number;
  /** Injected-clock time the entry was enqueued (for oldest-pending age). */
  enqueuedAtMs: number;
  /** Set when the ledger answered 409: the run is quarantined and never retried. */
  conflict: boolean;
}

/**
 * A committed run waiting to be published (contract §13). {@link RunStore.commitRun} writes it
 * in its atomic step; the publisher removes it once the publication's files are durable, so a
 * crash between the two loses nothing (the entry is published after the restart).
 */
export interface PublicationEntry {
  tenant: string;
  runKey: CidString;
  epochId: string;
  /** Injected-clock time of the commit (for the publication lag). */
  enqueuedAtMs: number;
}

/** One epoch commitment, as {@link RunStore.listCommitments} pages them. */
export interface CommitmentRef {
  tenant: string;
  epochId: string;
  runKey: CidString;
}

/** The publication entry of a run committed at `nowMs`. */
export function publicationEntryOf(run: StoredRun, nowMs: number): PublicationEntry {
  return {
    tenant: run.tenant,
    runKey: run.record.run_key,
    epochId: run.record.epoch_id,
    enqueuedAtMs: nowMs,
  };
}

/** Order of publication entries: oldest first, then (tenant, run key) with `<`. */
export function comparePublications(a: PublicationEntry, b: PublicationEntry): number {
  if (a.enqueuedAtMs !== b.enqueuedAtMs) return a.enqueuedAtMs - b.enqueuedAtMs;
  if (a.tenant !== b.tenant) return a.tenant < b.tenant ? -1 : 1;
  return a.runKey < b.runKey ? -1 : a.runKey > b.runKey ? 1 : 0;
}

/** Order of commitments: (tenant, epoch_id) with `<`; `after` is an exclusive bound. */
export function commitmentAfter(
  c: { tenant: string; epochId: string },
  after: { tenant: string; epochId: string } | undefined,
): boolean {
  if (after === undefined) return true;
  return c.tenant > after.tenant || (c.tenant === after.tenant && c.epochId > after.epochId);
}

/** Sorts commitments in (tenant, epoch_id) order. */
export function compareCommitments(a: CommitmentRef, b: CommitmentRef): number {
  if (a.tenant !== b.tenant) return a.tenant < b.tenant ? -1 : 1;
  return a.epochId < b.epochId ? -1 : a.epochId > b.epochId ? 1 : 0;
}

/**
 * Answer of {@link RunStore.commitRun}: committed, or refused because the tenant's epoch is
 * held by another run key (`holder`), or the run's inputs are committed under another epoch
 * (`inputsEpoch`) (contract §5).
 */
export type CommitResult =
  | { committed: true }
  | { committed: false; conflict: "epoch"; holder: CidString }
  | { committed: false; conflict: "inputs"; inputsEpoch: string };

/** Filters and page of {@link RunStore.listRuns}. */
export interface ListQuery {
  epochId?: string;
  policyHash?: CidString;
  inputsCid?: CidString;
  status?: "sealed" | "quarantined";
  /** Exclusive lower bound in (createdSeq, runKey) order. */
  after?: { seq: number; runKey: CidString };
  limit: number;
}

/** Readiness input for /readyz. */
export type StoreHealth = "ok" | "undecryptable" | "unreadable";

/** What one retention sweep did. */
export interface PurgeReport {
  purgedRuns: number;
  /** True when the batch limit stopped the sweep (call again). */
  more: boolean;
}

/** The storage interface. Every method is async so that remote backends fit. */
export interface RunStore {
  /** Which backend this is (for logs and /readyz). */
  readonly kind: "memory" | "file" | "postgres";
  /** The run, or undefined. A committed run is returned in its committed form. */
  getRun(tenant: string, runKey: CidString): Promise<StoredRun | undefined>;
  /** Upserts a run that does not commit (dry runs, quarantined runs). */
  putRun(run: StoredRun): Promise<void>;
  /**
   * THE atomic step: commits `run.record.epoch_id` to `run.record.run_key` and
   * `run.meta.inputsCid` to that epoch, stores the run in its committed form, enqueues
   * `intent` (pending) and the run's {@link PublicationEntry} (contract §13), all or nothing.
   * If the epoch or the inputs are already committed nothing is written and the conflict is
   * returned.
   */
  commitRun(run: StoredRun, intent: QueuedIntent | null, nowMs: number): Promise<CommitResult>;
  /** The run key holding the epoch's commitment, or undefined. */
  getCommitment(tenant: string, epochId: string): Promise<CidString | undefined>;
  /**
   * The epoch an `inputs_cid` is committed under, or undefined (contract §5). A v1 store that
   * committed one inputs CID under two epochs keeps both; this answers either of them.
   */
  getInputsCommitment(tenant: string, inputsCid: CidString): Promise<string | undefined>;
  /** Runs of a tenant in (createdSeq, runKey) order. */
  listRuns(tenant: string, query: ListQuery): Promise<StoredRun[]>;
  /** Next created sequence number (monotonic within this store instance). */
  nextSeq(): Promise<number>;

  /** The outbox entry of a run, or undefined. */
  getOutbox(tenant: string, runKey: CidString): Promise<OutboxEntry | undefined>;
  /**
   * Pending entries due at `nowMs`, oldest first, at most `limit`. A store shared by several
   * instances (postgres) CLAIMS what it returns: a lease keeps the entries from every other
   * caller until {@link RunStore.updateOutbox} releases them or the lease expires.
   */
  duePending(nowMs: number, limit: number): Promise<OutboxEntry[]>;
  /** Updates the delivery state of an existing entry (the intent never changes). */
  updateOutbox(entry: OutboxEntry): Promise<void>;
  /** Pending entries count and the oldest pending enqueue time. */
  outboxStats(): Promise<{ depth: number; oldestEnqueuedAtMs: number | undefined }>;

  /**
   * Publication entries (contract §13), oldest first, at most `limit`. Not a claim: instances
   * sharing a store may publish one entry twice, which writes the same files.
   */
  pendingPublications(limit: number): Promise<PublicationEntry[]>;
  /** Removes a run's publication entry once its files are durable (none: nothing to do). */
  removePublication(tenant: string, runKey: CidString): Promise<void>;
  /** Publication entries count and the oldest enqueue time. */
  publicationStats(): Promise<{ depth: number; oldestEnqueuedAtMs: number | undefined }>;
  /** Every epoch commitment after `after` in (tenant, epoch_id) order, at most `limit`. */
  listCommitments(
    after: { tenant: string; epochId: string } | undefined,
    limit: number,
  ): Promise<CommitmentRef[]>;

  getQuarantineOnly(): Promise<boolean>;
  setQuarantineOnly(on: boolean): Promise<void>;

  /** `max_runs` counters (contract §9), by an opaque key chosen by the caller. */
  count(key: string): Promise<number>;
  increment(key: string): Promise<number>;
  /** Increments only if the count is below `max`; answers whether it did (check+set atomic). */
  tryIncrement(key: string, max: number): Promise<boolean>;

  /**
   * Retention: removes uncommitted runs (dry, quarantined) created before `cutoffMs`, at most
   * `batchMax` per call. Committed runs and their outbox entries are kept whole (manifest hash,
   * signatures and payouts): they are the ledger's evidence.
   */
  purgeOlderThan(cutoffMs: number, options: { batchMax: number }): Promise<PurgeReport>;
  /** Readiness input. */
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}

/**
 * What opening a store written before contract v2 found (contract §5 upgrade rules), reported
 * once, by the open that upgrades it. Commitments are kept as they are; inputs commitments are
 * derived from the committed runs, and an `inputs_cid` that v1 committed under several epochs
 * keeps all of them (counted here).
 */
export interface UpgradeReport {
  store: "file" | "postgres";
  /** Epoch commitments found (all kept). */
  commitments: number;
  /** Distinct (tenant, inputs_cid) commitments derived from them. */
  inputsCommitments: number;
  /** (tenant, inputs_cid) pairs committed under more than one epoch (all kept). */
  inputsUnderSeveralEpochs: number;
  /** Epoch commitments beyond the first of such pairs. */
  extraEpochCommitments: number;
  /** Pending v1 intents, delivered with the key and bytes they were queued under. */
  pendingV1Intents: number;
}

/** The default upgrade report sink: one log line. */
export function logUpgradeReport(report: UpgradeReport): void {
  getLogger("store").warn(
    "store upgraded to contract v2 ({store}): {commitments} epoch commitments kept, " +
      "{inputsUnderSeveralEpochs} inputs committed under several epochs " +
      "({extraEpochCommitments} extra commitments kept), {pendingV1Intents} pending v1 intents",
    { ...report },
  );
}

/**
 * Counts inputs commitments among `(tenant, inputs_cid, epoch_id)` triples of committed runs
 * (one per epoch commitment) for an {@link UpgradeReport}.
 */
export function countInputsCommitments(
  committed: Iterable<{ tenant: string; inputsCid: CidString; epochId: string }>,
): Pick<UpgradeReport, "inputsCommitments" | "inputsUnderSeveralEpochs" | "extraEpochCommitments"> {
  const epochs = new Map<string, Set<string>>();
  for (const c of committed) {
    const key = `${c.tenant}\u0000${c.inputsCid}`;
    const set = epochs.get(key) ?? new Set<string>();
    set.add(c.epochId);
    epochs.set(key, set);
  }
  let several = 0;
  let extra = 0;
  for (const set of epochs.values()) {
    if (set.size > 1) {
      several += 1;
      extra += set.size - 1;
    }
  }
  return {
    inputsCommitments: epochs.size,
    inputsUnderSeveralEpochs: several,
    extraEpochCommitments: extra,
  };
}

/** Largest page of {@link RunStore.listRuns}. */
export const LIST_LIMIT_MAX = 500;

/** The typed error for a stored artifact that fails authentication (tamper, wrong key). */
export function storeUndecryptable(): RewarderError {
  return new RewarderError("INTERNAL", "store_undecryptable");
}

/** True when `err` is the tamper error of {@link storeUndecryptable}. */
export function isStoreUndecryptable(err: unknown): boolean {
  return err instanceof RewarderError && err.reason === "store_undecryptable";
}

/** Deep copy through JSON: stores never hand out references to their state. */
export function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Shared filter for listing (memory and file backends). */
export function matchesQuery(run: StoredRun, q: ListQuery): boolean {
  if (q.epochId !== undefined && run.record.epoch_id !== q.epochId) return false;
  if (q.policyHash !== undefined && run.meta.policyHash !== q.policyHash) return false;
  if (q.inputsCid !== undefined && run.meta.inputsCid !== q.inputsCid) return false;
  if (q.status !== undefined && run.record.status !== q.status) return false;
  if (q.after !== undefined) {
    const { seq, runKey } = q.after;
    if (run.meta.createdSeq < seq) return false;
    if (run.meta.createdSeq === seq && run.record.run_key <= runKey) return false;
  }
  return true;
}

/** Listing order: (createdSeq, runKey), with `<` on strings (house style §9). */
export function compareRuns(a: StoredRun, b: StoredRun): number {
  if (a.meta.createdSeq !== b.meta.createdSeq) return a.meta.createdSeq - b.meta.createdSeq;
  return a.record.run_key < b.record.run_key ? -1 : a.record.run_key > b.record.run_key ? 1 : 0;
}

/**
 * The conflict of a commit (contract §5), checked in the order of §5 step 3: the tenant's
 * epoch held by a run key (any, this one included: a commitment is made once), else the run's
 * inputs committed under another epoch. undefined = free to commit.
 */
export function commitConflict(
  epochHolder: CidString | undefined,
  inputsEpoch: string | undefined,
  run: StoredRun,
): CommitResult | undefined {
  if (epochHolder !== undefined) {
    return { committed: false, conflict: "epoch", holder: epochHolder };
  }
  if (inputsEpoch !== undefined && inputsEpoch !== run.record.epoch_id) {
    return { committed: false, conflict: "inputs", inputsEpoch };
  }
  return undefined;
}

/**
 * A fresh pending outbox entry for a committed run. The queued intent's key and bytes are
 * taken as given (contract §7: fixed at first enqueue); only the members the egress caveats
 * repeat are checked against the run.
 */
export function newEntry(run: StoredRun, intent: QueuedIntent, nowMs: number): OutboxEntry {
  assert(intent.runKey === run.record.run_key, "intent.runKey must equal the run key");
  assert(
    intent.manifestHash === run.record.manifest_hash,
    "intent.manifestHash must equal the run's manifest hash",
  );
  assert(
    intent.intentKey === (run.record.intent_key ?? null),
    "intent.intentKey must equal the run record's intent_key",
  );
  assert(
    intent.intentKey === null || intent.idempotencyKey === intent.intentKey,
    "a v2 intent is keyed by its intent key",
  );
  assert(
    intent.intentKey !== null || intent.idempotencyKey === intent.runKey,
    "a v1 intent is keyed by its run key",
  );
  return {
    tenant: run.tenant,
    runKey: run.record.run_key,
    // Every member is a string (or null): a shallow copy is a full one, without serialising
    // the body (a megabyte of JSON text for 10k transfers) twice.
    intent: { ...intent },
    state: "pending",
    attempts: 0,
    nextAttemptAtMs: nowMs,
    enqueuedAtMs: nowMs,
    conflict: false,
  };
}
