/**
 * The run registry: contract §10 semantics on top of a {@link RunStore}.
 *
 * - A known run key is a replay: the stored record with `replayed: true`, no new effect.
 * - Only a sealed, non-dry run commits its epoch (per tenant), and its intent is enqueued in
 *   the same atomic store step; another run key on a committed epoch → CONFLICT.
 * - A dry run is stored (emission `dry_run`) and commits nothing; the same request later
 *   non-dry promotes it: it commits and emits once.
 * - Quarantined runs are stored for forensics and answer QUARANTINED; they never emit.
 * - Quarantine-only mode: runs still commit and their intent is kept, but emission reads
 *   `suppressed` and the dispatcher holds them until the mode is lifted.
 *
 * Concurrency: submits of one tenant+epoch are serialized in-process by a keyed mutex; across
 * processes the store's exclusive commit decides (and the loser reads the holder).
 *
 * @module
 */
import type { Cid, Emission, LedgerIntent, RunRecord, SealedEnvelope } from "../../core/types.ts";
import { RewarderError } from "../../core/errors.ts";
import { assert } from "../../core/assert.ts";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { createKeyedMutex } from "../store/keyed_mutex.ts";
import {
  LIST_LIMIT_MAX,
  type OutboxEntry,
  type RunStore,
  type StoredRun,
} from "../store/run_store.ts";

/** Pending outbox entries beyond which new commits are refused (OVERLOADED, retry later). */
export const OUTBOX_PENDING_MAX = 10_000;
/** At most one ledger intent per run (SECURITY §15 MAX_LEDGER_EMITS_PER_RUN). */
export const MAX_LEDGER_EMITS_PER_RUN = 1;
/** Cursor text bound, characters (a cursor is small: seq + run key). */
const CURSOR_CHARS_MAX = 256;

/** Test-only crash points (wired by the lead to an env-gated `Deno.exit(137)`). */
export type RegistryFaultStep = "after_run_write" | "after_commit";

/** One compute result handed to the registry. */
export interface SubmitRequest {
  tenant: string;
  runKey: Cid;
  epochId: string;
  dryRun: boolean;
  envelope: SealedEnvelope;
  /** The run's intent; null for dry or quarantined runs (ignored for them anyway). */
  intent: LedgerIntent | null;
  policyHash: Cid;
  inputsCid: Cid;
}

/** Options of {@link createRunRegistry}. */
export interface RunRegistryOptions {
  store: RunStore;
  /** Injected clock, ms (retention timestamps only; never hashed). */
  nowMs: () => number;
  /** Initial quarantine-only mode (QUARANTINE_ONLY=on); OR-ed with the stored flag. */
  quarantineOnly?: boolean;
  /** Called after a committed run is enqueued (e.g. to kick the dispatcher). */
  onEnqueued?: (tenant: string, runKey: Cid) => void;
  faultHook?: (step: RegistryFaultStep) => void;
}

/** Listing filters (contract §10 `GET /rewarder/runs`). */
export interface ListOptions {
  epochId?: string;
  policyHash?: Cid;
  inputsCid?: Cid;
  status?: "sealed" | "quarantined";
  cursor?: string;
  limit: number;
}

/** The registry. */
export interface RunRegistry {
  submit(req: SubmitRequest): Promise<RunRecord>;
  get(
    tenant: string,
    runKey: Cid,
  ): Promise<{ run: RunRecord; envelope: SealedEnvelope } | undefined>;
  committedEnvelope(tenant: string, epochId: string): Promise<SealedEnvelope | undefined>;
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

  async function recordOf(run: StoredRun, replayed: boolean): Promise<RunRecord> {
    const entry = run.record.dry_run || run.record.status !== "sealed"
      ? undefined
      : await store.getOutbox(run.tenant, run.record.run_key);
    return { ...run.record, replayed, emission: emissionOf(run, entry, qOnly) };
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
    const result = await store.commitRun(run, req.intent, nowMs());
    if (!result.committed) {
      if (result.holder !== req.runKey) throw new RewarderError("CONFLICT", "epoch_committed");
      const stored = await store.getRun(req.tenant, req.runKey); // another process won with us
      assert(stored !== undefined, "a committed run must be readable");
      return await answer(stored, true);
    }
    hook("after_commit");
    options.onEnqueued?.(req.tenant, req.runKey);
    return await answer(run, false);
  }

  async function submitLocked(req: SubmitRequest): Promise<RunRecord> {
    const existing = await store.getRun(req.tenant, req.runKey);
    if (existing !== undefined) {
      assert(
        existing.record.manifest_hash === req.envelope.manifest_hash,
        "same run key must give the same manifest (determinism)",
      );
      const promote = existing.record.dry_run && !req.dryRun && existing.record.status === "sealed";
      if (!promote) return await answer(existing, true);
      return await commit(req, { ...existing, record: { ...existing.record, dry_run: false } });
    }
    const m = req.envelope.manifest;
    const run: StoredRun = {
      tenant: req.tenant,
      record: {
        run_key: req.runKey,
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
    if (req.dryRun || m.status !== "sealed") {
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
    async committedEnvelope(tenant, epochId) {
      const holder = await store.getCommitment(tenant, epochId);
      if (holder === undefined) return undefined;
      return (await store.getRun(tenant, holder))?.envelope;
    },
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

/** Emission of a run as it stands (contract §10). */
export function emissionOf(
  run: StoredRun,
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
  if (!req.dryRun && m.status === "sealed") {
    const i = req.intent;
    assert(i !== null, "a sealed non-dry run needs its intent");
    assert(
      i.run_key === req.runKey && i.tenant === req.tenant && i.epoch_id === req.epochId &&
        i.manifest_hash === req.envelope.manifest_hash,
      "the intent must belong to this run (MAX_LEDGER_EMITS_PER_RUN = 1)",
    );
  }
}

function encodeCursor(seq: number, runKey: Cid): string {
  return toBase64Url(new TextEncoder().encode(JSON.stringify([seq, runKey])));
}

function decodeCursor(cursor: string): { seq: number; runKey: Cid } {
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
