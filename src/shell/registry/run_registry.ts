/**
 * The run registry: contract §5 and §10 semantics on top of a {@link RunStore}.
 *
 * - A known run key is a replay: the stored record with `replayed: true`, no new effect.
 * - Only a sealed, non-dry run commits, per tenant, its epoch (one run key per epoch) and its
 *   inputs (one epoch per `inputs_cid`); its intent (contract §7, keyed by the tenant's
 *   intent key, bytes fixed here) is enqueued in the same atomic store step. Another run key
 *   on a committed epoch → CONFLICT `epoch_committed`; committed inputs under another epoch →
 *   CONFLICT `inputs_settled`.
 * - A dry run is stored (emission `dry_run`) and commits nothing; the same request later
 *   non-dry promotes it: it commits and emits once. A stored v1 dry run is replaced by the
 *   v2 run that promotes it (it never committed or emitted).
 * - Every new or promoted run spends the request's `max_runs` (the `spend` callback) inside
 *   the keyed lock, so two identical concurrent computes spend once.
 * - Quarantined runs are stored for forensics and answer QUARANTINED; they never emit.
 * - Quarantine-only mode: runs still commit and their intent is kept, but emission reads
 *   `suppressed` and the dispatcher holds them until the mode is lifted.
 *
 * Committed runs, commitments and immutable answers are kept in bounded in-memory caches
 * (`hot_cache.ts`; docs/ARCHITECTURE.md, "Caches"): a replay of a committed run and a read of
 * a committed epoch answer without reading its envelope.
 *
 * Concurrency: submits of one tenant+epoch are serialized in-process by a keyed mutex; across
 * processes the store's exclusive commit decides (and the loser reads the holder).
 *
 * @module
 */
import type { CidString, Emission, RunRecord, SealedEnvelope } from "../../core/types.ts";
import { assert } from "../../core/assert.ts";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { createKeyedMutex } from "../store/keyed_mutex.ts";
import { createHotCaches, type HotCaches, type IndexedRun } from "./hot_cache.ts";
import { canonicalJson } from "../../core/canonical_json.ts";
import { lightManifestOf, transfersTextOf } from "../store/manifest_texts.ts";
import {
  type CommitResult,
  LIST_LIMIT_MAX,
  type OutboxEntry,
  type QueuedIntent,
  queuedIntentOf,
  type RunStore,
  type StoredRun,
} from "../store/run_store.ts";
import { intentKeyOf, intentOf, RewarderError } from "../../core/mod.ts";

/** Pending outbox entries beyond which new commits are refused (OVERLOADED, retry later). */
export const OUTBOX_PENDING_MAX = 10_000;
/** At most one ledger intent per run (contract §7). */
export const MAX_LEDGER_EMITS_PER_RUN = 1;
/** Cursor text bound, characters (a cursor is small: seq + run key). */
const CURSOR_CHARS_MAX = 256;

/** Test-only crash points (wired by the lead to an env-gated `Deno.exit(137)`). */
export type RegistryFaultStep = "after_run_write" | "after_commit";

/** One compute result handed to the registry. */
export interface SubmitRequest {
  tenant: string;
  runKey: CidString;
  epochId: string;
  dryRun: boolean;
  envelope: SealedEnvelope;
  policyHash: CidString;
  inputsCid: CidString;
  /**
   * Spends one compute of the request's `max_runs` caveats (throws to refuse); called under
   * the lock only when this submit creates or promotes a run, never for a replay.
   */
  spend?: () => Promise<void>;
}

/** A stored run as the routes see it. */
export interface StoredAnswer {
  run: RunRecord;
  envelope: SealedEnvelope;
}

/** Options of {@link createRunRegistry}. */
export interface RunRegistryOptions {
  store: RunStore;
  /** Injected clock, ms (retention timestamps only; never hashed). */
  nowMs: () => number;
  /** Initial quarantine-only mode (QUARANTINE_ONLY=on); OR-ed with the stored flag. */
  quarantineOnly?: boolean;
  faultHook?: (step: RegistryFaultStep) => void;
  /** The hot path's caches (default: new ones at the named limits of `hot_cache.ts`). */
  caches?: HotCaches;
}

/**
 * A run found by {@link RunRegistry.lookup}: a committed run's record from the run index
 * (its envelope is not read), or any other stored run with its envelope.
 */
export type FoundRun =
  | { committed: RunRecord; stored?: undefined }
  | { committed?: undefined; stored: StoredAnswer };

/** Listing filters (contract §10 `GET /rewarder/runs`). */
export interface ListOptions {
  epochId?: string;
  policyHash?: CidString;
  inputsCid?: CidString;
  status?: "sealed" | "quarantined";
  cursor?: string;
  limit: number;
}

/** The registry. */
export interface RunRegistry {
  submit(req: SubmitRequest): Promise<RunRecord>;
  get(tenant: string, runKey: CidString): Promise<StoredAnswer | undefined>;
  /**
   * The run of a compute request (contract §5 step 4): a committed run answers from the run
   * index (emission read fresh until it is final), any other from the store.
   */
  lookup(tenant: string, runKey: CidString): Promise<FoundRun | undefined>;
  /** The run key holding the tenant's epoch, or undefined (cached once known: never moves). */
  commitment(tenant: string, epochId: string): Promise<CidString | undefined>;
  /** The epoch the tenant's inputs are committed under, or undefined (cached once known). */
  inputsCommitment(tenant: string, inputsCid: CidString): Promise<string | undefined>;
  /** The manifest hash of the tenant's committed epoch, or undefined (no envelope read). */
  committedManifestHash(tenant: string, epochId: string): Promise<string | undefined>;
  committedEnvelope(tenant: string, epochId: string): Promise<SealedEnvelope | undefined>;
  /** The caches (the routes keep immutable answers' bytes in `caches.artifacts`). */
  readonly caches: HotCaches;
  list(
    tenant: string,
    options: ListOptions,
  ): Promise<{ runs: RunRecord[]; nextCursor: string | null }>;
  setQuarantineOnly(on: boolean): Promise<void>;
  quarantineOnly(): boolean;
  /** Re-reads the stored flag (another instance on a shared store may have changed it). */
  refreshQuarantineOnly(): Promise<void>;
}

/** Creates the registry; reads the stored quarantine-only flag once. */
export async function createRunRegistry(options: RunRegistryOptions): Promise<RunRegistry> {
  const { store, nowMs } = options;
  const lock = createKeyedMutex();
  let qOnly = options.quarantineOnly === true || (await store.getQuarantineOnly());
  const hook = options.faultHook ?? (() => {});
  const caches = options.caches ?? createHotCaches();

  /** A commitment, cached once known (contract §5: made once, never moved). */
  async function commitmentOf(tenant: string, epochId: string): Promise<CidString | undefined> {
    const key = `e\u0000${tenant}\u0000${epochId}`;
    const hit = caches.commitments.get(key) as CidString | undefined;
    if (hit !== undefined) return hit;
    const holder = await store.getCommitment(tenant, epochId);
    if (holder !== undefined) caches.commitments.set(key, holder);
    return holder;
  }

  /** The emission of an indexed committed run: kept once final, else read from the outbox. */
  async function indexedEmission(tenant: string, indexed: IndexedRun): Promise<Emission> {
    if (indexed.finalEmission !== undefined) return indexed.finalEmission;
    const entry = await store.getOutbox(tenant, indexed.record.run_key);
    if (entry !== undefined && entry.state !== "pending") indexed.finalEmission = entry.state;
    return emissionOf({ record: indexed.record }, entry, qOnly);
  }

  /** Indexes a committed run (sealed, not dry: its record never changes again). */
  function indexCommitted(run: StoredRun): IndexedRun | undefined {
    if (run.record.dry_run || run.record.status !== "sealed") return undefined;
    const indexed: IndexedRun = { record: run.record, finalEmission: undefined };
    caches.runs.set(`${run.tenant}\u0000${run.record.run_key}`, indexed);
    return indexed;
  }

  /** A committed run's record from the index (undefined: not indexed). */
  async function indexedRecord(tenant: string, runKey: CidString): Promise<RunRecord | undefined> {
    const indexed = caches.runs.get(`${tenant}\u0000${runKey}`);
    if (indexed === undefined) return undefined;
    return {
      ...indexed.record,
      intent_key: indexed.record.intent_key ?? null,
      replayed: false,
      emission: await indexedEmission(tenant, indexed),
    };
  }

  async function recordOf(run: StoredRun, replayed: boolean): Promise<RunRecord> {
    const entry = run.record.dry_run || run.record.status !== "sealed"
      ? undefined
      : await store.getOutbox(run.tenant, run.record.run_key);
    // A v1 record has no intent_key: it reads null (contract §5 upgrade rules).
    const intentKey = run.record.intent_key ?? null;
    return {
      ...run.record,
      intent_key: intentKey,
      replayed,
      emission: emissionOf(run, entry, qOnly),
    };
  }

  async function answer(run: StoredRun, replayed: boolean): Promise<RunRecord> {
    const record = await recordOf(run, replayed);
    if (record.status === "quarantined") {
      throw new RewarderError(
        "QUARANTINED",
        run.envelope.manifest.quarantine?.reason ?? "quarantined",
        {
          extra: { run: record },
        },
      );
    }
    return record;
  }

  async function commit(req: SubmitRequest, run: StoredRun): Promise<RunRecord> {
    const holder = await store.getCommitment(req.tenant, req.epochId);
    if (holder !== undefined && holder !== req.runKey) {
      throw new RewarderError("CONFLICT", "epoch_committed");
    }
    if (holder === undefined && (await store.outboxStats()).depth >= OUTBOX_PENDING_MAX) {
      throw new RewarderError("OVERLOADED", "outbox_full", { retryAfterS: 5 });
    }
    const intentKey = run.record.intent_key;
    assert(intentKey !== null, "a committing v2 run carries its intent key");
    // The intent's key and bytes are fixed here, at first enqueue (contract §7).
    const intent = queuedIntentOfEnvelope(req.envelope, { tenant: req.tenant, intentKey });
    const result = await store.commitRun(run, intent, nowMs());
    if (!result.committed) return await lostCommit(req, result);
    hook("after_commit");
    indexCommitted(run);
    return await answer(run, false);
  }

  /** The store refused the commit (a race the route's early checks did not see). */
  async function lostCommit(
    req: SubmitRequest,
    result: Exclude<CommitResult, { committed: true }>,
  ): Promise<RunRecord> {
    if (result.conflict === "inputs") {
      throw new RewarderError("CONFLICT", "inputs_settled", { path: "inputs_cid" });
    }
    if (result.holder !== req.runKey) throw new RewarderError("CONFLICT", "epoch_committed");
    const stored = await store.getRun(req.tenant, req.runKey); // another process won with us
    assert(stored !== undefined, "a committed run must be readable");
    return await answer(stored, true);
  }

  async function submitLocked(req: SubmitRequest): Promise<RunRecord> {
    const existing = await store.getRun(req.tenant, req.runKey);
    if (existing !== undefined && !replacedByV2(existing, req)) {
      assert(
        existing.record.manifest_hash === req.envelope.manifest_hash ||
          existing.envelope.manifest.schema === "svc-rewarder.manifest.v1",
        "same run key must give the same manifest (determinism)",
      );
      const promote = existing.record.dry_run && !req.dryRun && existing.record.status === "sealed";
      if (!promote) return await answer(existing, true);
      await req.spend?.(); // a promotion counts as a compute (contract §5)
      const record = { ...existing.record, dry_run: false, intent_key: intentKeyOf(req) };
      return await commit(req, { ...existing, record });
    }
    await req.spend?.();
    const m = req.envelope.manifest;
    const commits = !req.dryRun && m.status === "sealed";
    const run: StoredRun = {
      tenant: req.tenant,
      record: {
        run_key: req.runKey,
        intent_key: commits ? intentKeyOf(req) : null,
        epoch_id: req.epochId,
        manifest_hash: req.envelope.manifest_hash,
        status: m.status,
        dry_run: req.dryRun,
        totals: m.totals,
      },
      envelope: req.envelope,
      meta: {
        policyHash: req.policyHash,
        inputsCid: req.inputsCid,
        createdSeq: await store.nextSeq(),
        createdAtMs: nowMs(),
      },
    };
    if (!commits) {
      await store.putRun(run);
      hook("after_run_write");
      return await answer(run, false);
    }
    return await commit(req, run);
  }

  return {
    submit(req) {
      checkRequest(req);
      return lock.run(`${req.tenant}\u0000${req.epochId}`, () => submitLocked(req));
    },
    async get(tenant, runKey) {
      const run = await store.getRun(tenant, runKey);
      if (run === undefined) return undefined;
      return { run: await recordOf(run, false), envelope: run.envelope };
    },
    async lookup(tenant, runKey) {
      const committed = await indexedRecord(tenant, runKey);
      if (committed !== undefined) return { committed };
      const run = await store.getRun(tenant, runKey);
      if (run === undefined) return undefined;
      const indexed = indexCommitted(run);
      if (indexed !== undefined) {
        const record = await recordOf(run, false);
        const e = record.emission;
        if (e === "accepted" || e === "duplicate" || e === "failed") indexed.finalEmission = e;
        return { committed: record };
      }
      return { stored: { run: await recordOf(run, false), envelope: run.envelope } };
    },
    commitment: commitmentOf,
    async inputsCommitment(tenant, inputsCid) {
      const key = `i\u0000${tenant}\u0000${inputsCid}`;
      const hit = caches.commitments.get(key);
      if (hit !== undefined) return hit;
      const epochId = await store.getInputsCommitment(tenant, inputsCid);
      if (epochId !== undefined) caches.commitments.set(key, epochId);
      return epochId;
    },
    async committedManifestHash(tenant, epochId) {
      const holder = await commitmentOf(tenant, epochId);
      if (holder === undefined) return undefined;
      const indexed = caches.runs.get(`${tenant}\u0000${holder}`);
      if (indexed !== undefined) return indexed.record.manifest_hash;
      const run = await store.getRun(tenant, holder);
      if (run === undefined) return undefined;
      indexCommitted(run);
      return run.record.manifest_hash;
    },
    async committedEnvelope(tenant, epochId) {
      const holder = await commitmentOf(tenant, epochId);
      if (holder === undefined) return undefined;
      const run = await store.getRun(tenant, holder);
      if (run !== undefined) indexCommitted(run);
      return run?.envelope;
    },
    caches,
    async list(tenant, o) {
      const limit = Math.min(Math.max(1, Math.trunc(o.limit)), LIST_LIMIT_MAX);
      const after = o.cursor === undefined ? undefined : decodeCursor(o.cursor);
      const page = await store.listRuns(tenant, {
        limit: limit + 1,
        ...(o.epochId === undefined ? {} : { epochId: o.epochId }),
        ...(o.policyHash === undefined ? {} : { policyHash: o.policyHash }),
        ...(o.inputsCid === undefined ? {} : { inputsCid: o.inputsCid }),
        ...(o.status === undefined ? {} : { status: o.status }),
        ...(after === undefined ? {} : { after }),
      });
      const shown = page.slice(0, limit);
      const last = shown[shown.length - 1];
      const nextCursor = page.length > limit && last !== undefined
        ? encodeCursor(last.meta.createdSeq, last.record.run_key)
        : null;
      const runs: RunRecord[] = [];
      for (const run of shown) runs.push(await recordOf(run, false));
      return { runs, nextCursor };
    },
    async setQuarantineOnly(on) {
      await store.setQuarantineOnly(on);
      qOnly = on || options.quarantineOnly === true;
    },
    quarantineOnly: () => qOnly,
    async refreshQuarantineOnly() {
      qOnly = options.quarantineOnly === true || (await store.getQuarantineOnly());
    },
  };
}

/**
 * The queued intent of a committing run (contract §7): `queuedIntentOf(intentOf(envelope))`,
 * the same key and bytes; when the engine worker gave the transfers' JCS text
 * (src/shell/store/manifest_texts.ts), the body is the JCS of the intent's other members with
 * that text as its last member (`transfers` sorts after every other member of a v2 intent), so
 * the request loop neither parses the payouts nor writes a million transfers again.
 */
export function queuedIntentOfEnvelope(
  envelope: SealedEnvelope,
  options: { tenant: string; intentKey: CidString },
): QueuedIntent {
  const transfersJcs = transfersTextOf(envelope.manifest);
  if (transfersJcs === undefined) return queuedIntentOf(intentOf(envelope, options));
  const light = { ...envelope, manifest: lightManifestOf(envelope.manifest) };
  const { transfers: _transfers, ...rest } = intentOf(light, options);
  assert(Object.keys(rest).every((name) => name < "transfers"), "transfers sort last (JCS)");
  const head = canonicalJson(rest);
  return {
    idempotencyKey: rest.intent_key,
    body: `${head.slice(0, -1)},"transfers":${transfersJcs}}`,
    runKey: rest.run_key,
    intentKey: rest.intent_key,
    manifestHash: rest.manifest_hash,
  };
}

/** Emission of a run as it stands (contract §10). */
export function emissionOf(
  run: Pick<StoredRun, "record">,
  entry: OutboxEntry | undefined,
  qOnly: boolean,
): Emission {
  if (run.record.dry_run) return "dry_run";
  if (run.record.status !== "sealed") return "suppressed"; // quarantined: never emitted
  if (entry === undefined) return "pending"; // committed without intent: nothing to send
  if (entry.state === "pending") return qOnly ? "suppressed" : "pending";
  return entry.state;
}

function checkRequest(req: SubmitRequest): void {
  const m = req.envelope.manifest;
  assert(m.run_key === req.runKey && m.epoch_id === req.epochId, "envelope must match the request");
  assert(
    m.policy_hash === req.policyHash && m.inputs_cid === req.inputsCid,
    "envelope must match policy hash and inputs CID",
  );
  assert(m.schema === "svc-rewarder.manifest.v2", "new runs are sealed as manifest v2");
}

/**
 * A stored v1 dry run is replaced by the v2 run of a non-dry request for its key (contract §5:
 * it never committed or emitted, so it is recomputed as v2).
 */
function replacedByV2(existing: StoredRun, req: SubmitRequest): boolean {
  return existing.record.dry_run && !req.dryRun &&
    existing.envelope.manifest.schema === "svc-rewarder.manifest.v1";
}

function encodeCursor(seq: number, runKey: CidString): string {
  return toBase64Url(new TextEncoder().encode(JSON.stringify([seq, runKey])));
}

function decodeCursor(cursor: string): { seq: number; runKey: CidString } {
  try {
    if (cursor.length > CURSOR_CHARS_MAX) throw new TypeError("long");
    const v: unknown = JSON.parse(new TextDecoder().decode(fromBase64Url(cursor)));
    if (
      Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && v[0] >= 0 &&
      typeof v[1] === "string" && /^b3:[0-9a-f]{64}$/.test(v[1])
    ) return { seq: v[0] as number, runKey: v[1] };
  } catch {
    // fall through: every malformed cursor is the same typed rejection
  }
  throw new RewarderError("BAD_REQUEST", "cursor", { path: "cursor" });
}
