/**
 * The compute use case (contract §5, §10): one function that decides a compute request in
 * the contract's order, whether or not its run key is known:
 *
 * 1. (auth and syntax happen before: middleware and the route's validators);
 * 2. policy resolution by hash: unknown → 404 `unknown_policy`; its document's `policy_id`
 *    differs from the body's → 400 `policy_mismatch` (field `policy_id`);
 * 3. a non-dry request: the tenant's epoch committed under another run key → 409
 *    `epoch_committed`; else the inputs committed under another epoch → 409 `inputs_settled`;
 * 4. a known run key → replay (a dry run promoted by a non-dry request commits and counts);
 *    a committed run's replay is answered from the registry's run index, and the commitments
 *    of step 3 from its commitment cache (docs/ARCHITECTURE.md, "Caches"): no envelope read;
 * 5. inputs located and the cost guard decided from their size (before they are read), then
 *    read, verified and computed in the engine pool (fair across tenants), sealed and
 *    recorded; a breach → 409 QUARANTINED.
 *
 * `max_runs` (contract §9) is checked before a compute (so an exhausted token burns no
 * engine time) and spent by the registry inside its keyed lock, once per new or promoted run.
 *
 * @module
 */
import type { CidString, RunRecord, SealedEnvelope } from "../../core/types.ts";
import type { AuditTrail } from "../observe/audit_trail.ts";
import type { EngineRunner } from "../engine/engine_runner.ts";
import type { EngineInputs } from "../engine/engine_worker.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { PolicyEntry, PolicyRegistry } from "../sources/policy_registry.ts";
import type { Signer } from "../keys/signer.ts";
import type { InputsSource } from "../sources/sources.ts";
import type { RunStore } from "../store/run_store.ts";
import type { Tracing } from "../observe/tracing.ts";
import type { RunRegistry, StoredAnswer } from "./run_registry.ts";
import { asCid, asEpochId, RewarderError, runKeyOf, sealManifest } from "../../core/mod.ts";

/**
 * Engine throughput used by the cost estimate, bytes of inputs per millisecond. Measured by
 * `deno task bench` on this 2-core machine: 84.6 MB (1M recipients) end to end in 6.46 s
 * ≈ 13,100 B/ms on a quiet machine; set below that so the estimate errs towards refusing.
 */
export const ENGINE_BYTES_PER_MS = 10_000;

/** The cost estimate of a run from its inputs size (ms). */
export function estimateCostMs(inputsBytes: number): number {
  return Math.ceil(inputsBytes / ENGINE_BYTES_PER_MS);
}

/** The compute body (contract §10), as validated by the route. */
export interface ComputeBodyFields {
  inputs_cid: CidString;
  policy_id: string;
  policy_hash: CidString;
  dry_run?: boolean | undefined;
  notes?: string | undefined;
}

/** A pending `max_runs = n` caveat of the request's token (contract §9). */
export interface MaxRunsSpend {
  counterKey: string;
  limit: number;
}

/** One authenticated, syntactically valid compute request. */
export interface ComputeRequest {
  tenant: string;
  epochId: string;
  corrId: string;
  body: ComputeBodyFields;
  signal: AbortSignal;
  maxRuns: readonly MaxRunsSpend[];
}

/** What the use case is built from (a slice of the app's services). */
export interface ComputeDeps {
  config: {
    epochCostMsMax: number;
    costCapAction: "reject" | "dry_run";
    idempotencySalt: string;
  };
  policies: PolicyRegistry;
  store: Pick<RunStore, "count" | "tryIncrement">;
  registry: RunRegistry;
  inputs: InputsSource;
  engine: EngineRunner;
  signer: Pick<Signer, "active">;
  tracing: Tracing;
  metrics: Pick<Metrics, "recordRun" | "observeComputeSeconds" | "setLastEpochEconomics">;
  /** Decisions are awaited (durable before the answer, fail-closed); replays are counted. */
  audit: Pick<AuditTrail, "decide" | "count" | "assertWritable">;
}

interface Ctx {
  d: ComputeDeps;
  req: ComputeRequest;
  runKey: CidString;
  wantDry: boolean;
  /** Set when the answer is a replay: counted, so no refusal line is written for it. */
  replayed?: boolean;
}

/** Decides and runs one compute request (contract §5 order); answers the run record. */
export async function computeRun(d: ComputeDeps, req: ComputeRequest): Promise<RunRecord> {
  const { policy_hash: policyHash, inputs_cid: inputsCid } = req.body;
  const runKey = runKeyOf({
    epochId: asEpochId(req.epochId),
    policyHash: asCid(policyHash, "policy_hash"),
    inputsCid: asCid(inputsCid, "inputs_cid"),
    salt: d.config.idempotencySalt,
  });
  const ctx: Ctx = { d, req, runKey, wantDry: req.body.dry_run === true };
  try {
    const policy = await d.policies.get(req.body.policy_id, req.body.policy_hash, req.signal);
    if (!ctx.wantDry) await checkCommitments(ctx);
    const found = await d.registry.lookup(req.tenant, runKey);
    if (found?.committed !== undefined) return plainReplay(ctx, found.committed);
    const existing = found?.stored;
    if (existing !== undefined && !recomputes(existing, ctx.wantDry)) {
      return await replay(ctx, existing);
    }
    return await computeNew(ctx, policy);
  } catch (err) {
    if (!ctx.replayed) await auditRefusal(ctx, err);
    throw err;
  }
}

/**
 * Fail-closed (docs/RUNBOOK.md, AuditSinkFailing): once the audit sink could not write, no
 * new decision is made (503 DEPENDENCY_UNAVAILABLE `audit`); replays and reads still answer.
 */
function assertAuditable(d: ComputeDeps): void {
  d.audit.assertWritable();
}

/** Step 3 (contract §5): a non-dry request may not settle a committed epoch or inputs. */
async function checkCommitments({ d, req, runKey }: Ctx): Promise<void> {
  const holder = await d.registry.commitment(req.tenant, req.epochId);
  if (holder === runKey) return; // this very run is committed: a replay follows
  if (holder !== undefined) throw new RewarderError("CONFLICT", "epoch_committed");
  const settled = await d.registry.inputsCommitment(req.tenant, req.body.inputs_cid);
  if (settled !== undefined && settled !== req.epochId) {
    throw new RewarderError("CONFLICT", "inputs_settled", { path: "inputs_cid" });
  }
}

/**
 * A stored v1 dry run promoted after the upgrade is recomputed as v2 (contract §5): its
 * envelope never committed or emitted, so nothing of it is kept.
 */
function recomputes(existing: StoredAnswer, wantDry: boolean): boolean {
  return !wantDry && existing.run.dry_run &&
    existing.envelope.manifest.schema === "svc-rewarder.manifest.v1";
}

/** Step 4: a known run key replays; a dry run promoted by a non-dry request commits once. */
async function replay(ctx: Ctx, existing: StoredAnswer): Promise<RunRecord> {
  const { d, req, runKey } = ctx;
  let record: RunRecord;
  if (existing.run.dry_run && !ctx.wantDry && existing.run.status === "sealed") {
    assertAuditable(d);
    // Promotion commits and emits, so the cost guard applies again (else a run forced dry by
    // the cap would be promoted by re-sending it) and it counts as a compute for max_runs.
    const forcedDry = (await prepareInputs(ctx, { load: false })).dryRun;
    if (!forcedDry) await checkMaxRuns(ctx);
    record = await submit(ctx, existing.envelope, forcedDry);
  } else if (existing.run.status === "quarantined") {
    // A plain replay has no effect: answered from the stored record, without the registry's
    // write path (the same answer the registry gives).
    const run = { ...existing.run, replayed: true };
    const reason = existing.envelope.manifest.quarantine?.reason ?? "quarantined";
    ctx.replayed = true;
    d.audit.count("run_replayed", "quarantined", req.corrId);
    throw new RewarderError("QUARANTINED", reason, { extra: { run } });
  } else {
    return plainReplay(ctx, existing.run);
  }
  // A concurrent identical request may have promoted it first: then this one is a replay.
  if (record.replayed) {
    d.audit.count("run_replayed", record.emission, req.corrId);
    return record;
  }
  await d.audit.decide({
    event: "run_committed",
    tenant: req.tenant,
    corr_id: req.corrId,
    run_key: runKey,
    policy_hash: req.body.policy_hash,
    inputs_cid: req.body.inputs_cid,
    manifest_hash: record.manifest_hash,
    outcome: record.emission,
  });
  return record;
}

/** A plain replay has no new effect: counted, never a line of its own nor a disk wait. */
function plainReplay({ d, req }: Ctx, run: RunRecord): RunRecord {
  const record = { ...run, replayed: true };
  d.audit.count("run_replayed", record.emission, req.corrId);
  return record;
}

/** Step 5: inputs, cost guard, compute off the loop, seal, record. */
async function computeNew(ctx: Ctx, policy: PolicyEntry): Promise<RunRecord> {
  const { d, req, runKey } = ctx;
  assertAuditable(d);
  const attrs = { corrId: req.corrId, tenant: req.tenant, runKey, epochId: req.epochId };
  const prepared = await d.tracing.withSpan("prepare", attrs, async (span) => {
    const inputs = await prepareInputs(ctx, { load: true });
    span.setAttribute("rewarder.cost_estimate_ms", estimateCostMs(inputs.sizeBytes));
    return { ...inputs, dryRun: inputs.dryRun || ctx.wantDry };
  });
  try {
    await checkMaxRuns(ctx);
  } catch (err) {
    await prepared.discard();
    throw err;
  }
  const started = performance.now();
  const output = await d.tracing.withSpan(
    "compute",
    {
      ...attrs,
      costEstimateMs: estimateCostMs(prepared.sizeBytes),
      dryRun: prepared.dryRun,
    },
    () =>
      d.engine.run({
        epochId: req.epochId,
        inputs: prepared.inputs!,
        expectedInputsCid: req.body.inputs_cid,
        policyDocument: policy.verified.document,
        policyHash: policy.verified.policyHash,
        salt: d.config.idempotencySalt,
      }, { tenant: req.tenant, signal: req.signal }),
  );
  const envelope = await d.tracing.withSpan(
    "seal",
    attrs,
    () => sealManifest(output.manifest, d.signer.active(), output.manifestHash),
  );
  d.metrics.observeComputeSeconds((performance.now() - started) / 1000);
  recordEconomics(d, envelope);
  const record = await submit(ctx, envelope, prepared.dryRun);
  if (record.replayed) {
    // A concurrent identical request recorded it first: this answer is a replay.
    d.audit.count("run_replayed", record.emission, req.corrId);
    return record;
  }
  // Durable before the answer: the line is on disk (group commit) before the record is sent.
  await d.audit.decide({
    event: "run_computed",
    tenant: req.tenant,
    corr_id: req.corrId,
    run_key: runKey,
    policy_hash: req.body.policy_hash,
    inputs_cid: req.body.inputs_cid,
    manifest_hash: record.manifest_hash,
    outcome: record.emission,
  });
  return record;
}

/** The inputs of a run, located and judged by the cost guard; loaded when asked. */
interface PreparedInputs {
  sizeBytes: number;
  /** The guard forces a dry run (COST_CAP_ACTION=dry_run over MAX_EPOCH_COST_MS). */
  dryRun: boolean;
  /** What the engine worker reads (`load: true`), else undefined. */
  inputs: EngineInputs | undefined;
  discard(): Promise<void>;
}

/**
 * Locates the inputs and applies the cost guard from their size BEFORE reading them: the
 * store's file size or the source's Content-Length; without one, the body is counted while
 * streaming and cut at the guard's size when it refuses (COST_CAP_ACTION=reject). The
 * heavy part (reading the file, hashing, parsing) is the engine worker's.
 */
async function prepareInputs(
  { d, req }: Ctx,
  options: { load: boolean },
): Promise<PreparedInputs> {
  const object = await d.inputs(req.body.inputs_cid, { tenant: req.tenant, signal: req.signal });
  let dryRun = false;
  try {
    if (object.sizeBytes !== undefined) dryRun = costForcesDryRun(d, object.sizeBytes);
  } catch (err) {
    await object.discard();
    throw err;
  }
  if (!options.load && object.sizeBytes !== undefined) {
    await object.discard();
    return { sizeBytes: object.sizeBytes, dryRun, inputs: undefined, discard: async () => {} };
  }
  const capBytes = d.config.costCapAction === "reject" && object.sizeBytes === undefined
    ? costCapBytes(d)
    : Number.MAX_SAFE_INTEGER;
  const inputs = await object.load(capBytes, costCapError);
  const sizeBytes = inputs.kind === "file" ? inputs.sizeBytes : inputs.bytes.length;
  if (object.sizeBytes === undefined) dryRun = costForcesDryRun(d, sizeBytes);
  return {
    sizeBytes,
    dryRun,
    inputs: options.load ? inputs : undefined,
    discard: () => Promise.resolve(),
  };
}

/** The largest inputs the cost guard lets through (bytes): estimateCostMs ≤ the cap. */
function costCapBytes(d: ComputeDeps): number {
  return d.config.epochCostMsMax * ENGINE_BYTES_PER_MS;
}

function costCapError(): RewarderError {
  return new RewarderError("BAD_REQUEST", "cost_cap", { path: "inputs_cid" });
}

/**
 * The cost guard: true when a run over MAX_EPOCH_COST_MS must be a dry run; throws 400
 * `cost_cap` instead when COST_CAP_ACTION is `reject`.
 */
function costForcesDryRun(d: ComputeDeps, inputsBytes: number): boolean {
  if (estimateCostMs(inputsBytes) <= d.config.epochCostMsMax) return false;
  if (d.config.costCapAction === "reject") throw costCapError();
  return true;
}

/** Refuses before any compute when a `max_runs` caveat is already used up (§9). */
async function checkMaxRuns({ d, req }: Ctx): Promise<void> {
  for (const caveat of req.maxRuns) {
    if ((await d.store.count(caveat.counterKey)) >= caveat.limit) {
      throw new RewarderError("UNAUTHORIZED", "caveat_max_runs");
    }
  }
}

/** Spends one compute under every `max_runs` caveat; called by the registry under its lock. */
function spendOf({ d, req }: Ctx): () => Promise<void> {
  return async function spendMaxRuns() {
    for (const caveat of req.maxRuns) {
      if (!(await d.store.tryIncrement(caveat.counterKey, caveat.limit))) {
        throw new RewarderError("UNAUTHORIZED", "caveat_max_runs");
      }
    }
  };
}

function recordEconomics(d: ComputeDeps, envelope: SealedEnvelope): void {
  d.metrics.recordRun(envelope.manifest.status === "sealed" ? "ok" : "quarantined");
  const t = envelope.manifest.totals;
  d.metrics.setLastEpochEconomics({
    poolMinor: BigInt(t.pool_minor),
    feeMinor: BigInt(t.fee_minor),
    payoutMinor: BigInt(t.payout_minor),
    residualMinor: BigInt(t.residual_minor),
    recipients: t.recipients,
  });
}

/** Records the run (commit + intent atomically for a sealed non-dry run): the `emit` span. */
function submit(ctx: Ctx, envelope: SealedEnvelope, dryRun: boolean): Promise<RunRecord> {
  const { d, req, runKey } = ctx;
  return d.tracing.withSpan(
    "emit",
    { corrId: req.corrId, tenant: req.tenant, runKey, dryRun },
    () =>
      d.registry.submit({
        tenant: req.tenant,
        runKey,
        epochId: req.epochId,
        dryRun,
        envelope,
        policyHash: envelope.manifest.policy_hash,
        inputsCid: envelope.manifest.inputs_cid,
        spend: spendOf(ctx),
      }),
  );
}

/** A conflict or a quarantine is a decision: its line is durable before the 409 is sent. */
async function auditRefusal({ d, req, runKey }: Ctx, err: unknown): Promise<void> {
  if (!(err instanceof RewarderError)) return;
  if (err.code !== "CONFLICT" && err.code !== "QUARANTINED") return;
  await d.audit.decide({
    event: err.code === "CONFLICT" ? "run_conflicted" : "run_quarantined",
    tenant: req.tenant,
    corr_id: req.corrId,
    run_key: runKey,
    policy_hash: req.body.policy_hash,
    inputs_cid: req.body.inputs_cid,
    outcome: err.reason,
  });
}
