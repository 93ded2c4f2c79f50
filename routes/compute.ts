/**
 * `POST /rewarder/epochs/{epoch_id}/compute` (contract §10): fetch inputs and policy by
 * content id, verify them, guard the cost, compute off the loop, seal, record, answer.
 *
 * @module
 */
import type { Context } from "hono";
import { badRequest, RewarderError } from "../src/core/errors.ts";
import { EPOCH_ID_PATTERN } from "../src/core/ids.ts";
import { intentOf } from "../src/core/intent.ts";
import { runKeyOf } from "../src/core/run_key.ts";
import { sealManifest } from "../src/core/seal.ts";
import type { RunRecord, SealedEnvelope } from "../src/core/types.ts";
import { parseStrictJson } from "../src/core/strict_json.ts";
import { getLogger } from "../src/shell/log.ts";
import type { AppServices } from "../src/app_services.ts";
import type { AppEnv } from "../middleware/context.ts";
import { type ComputeBody, computeBodySchema } from "./schemas.ts";
import { schemaError } from "../src/core/zod_issue.ts";

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

/**
 * The cost guard (issue 3 §4): true when a run over MAX_EPOCH_COST_MS must be a dry run;
 * throws 400 `cost_cap` instead when COST_CAP_ACTION is `reject`.
 */
function costForcesDryRun(s: AppServices, inputsBytes: number): boolean {
  if (estimateCostMs(inputsBytes) <= s.config.epochCostMsMax) return false;
  if (s.config.costCapAction === "reject") throw badRequest("cost_cap");
  return true;
}

async function readBody(c: Context<AppEnv>): Promise<ComputeBody> {
  const parsed = parseStrictJson(new Uint8Array(await c.req.arrayBuffer()));
  if (!parsed.ok) throw badRequest("schema", "$");
  const body = computeBodySchema.safeParse(parsed.value);
  if (!body.success) throw schemaError(body.error);
  return body.data;
}

/** What one compute request carries once parsed and authenticated. */
interface ComputeRequest {
  tenant: string;
  epochId: string;
  corrId: string;
  runKey: string;
  body: ComputeBody;
  signal: AbortSignal;
  maxRuns: AppEnv["Variables"]["auth"]["maxRuns"];
}

/** The compute handler. */
export function computeHandler(s: AppServices) {
  return async function compute(c: Context<AppEnv>): Promise<Response> {
    const epochId = c.req.param("epoch_id") ?? "";
    if (!EPOCH_ID_PATTERN.test(epochId)) throw badRequest("schema", "epoch_id");
    const body = await readBody(c);
    const auth = c.get("auth");
    const req: ComputeRequest = {
      tenant: auth.tenant,
      epochId,
      corrId: c.get("corrId"),
      runKey: runKeyOf(epochId, body.policy_hash, body.inputs_cid, s.config.idempotencySalt),
      body,
      signal: c.get("deadline"),
      maxRuns: auth.maxRuns,
    };
    const existing = await s.registry.get(req.tenant, req.runKey);
    const record = existing !== undefined
      ? await replay(s, req, existing)
      : await computeNew(s, req);
    getLogger("compute").info("run {outcome}", {
      tenant: req.tenant,
      corr_id: req.corrId,
      run_key: req.runKey,
      policy_hash: body.policy_hash,
      inputs_cid: body.inputs_cid,
      outcome: `${record.status}/${record.emission}${record.replayed ? "/replayed" : ""}`,
    });
    return c.json(record);
  };
}

/** A known run key: replay, or promote a dry run (cost guard re-checked). */
async function replay(
  s: AppServices,
  req: ComputeRequest,
  existing: { run: RunRecord; envelope: SealedEnvelope },
): Promise<RunRecord> {
  const wantDry = req.body.dry_run === true;
  let record: RunRecord;
  if (existing.run.dry_run && !wantDry) {
    // Promoting a dry run commits and emits, so the cost guard applies again: otherwise
    // a run forced dry by the cap would be promoted by re-sending the same request.
    const inputsBytes = await s.inputs(req.body.inputs_cid, {
      tenant: req.tenant,
      signal: req.signal,
    });
    record = await submit(s, req, existing.envelope, costForcesDryRun(s, inputsBytes.length));
  } else if (existing.run.status === "quarantined") {
    // A plain replay has no effect: answer from the stored record without the registry's
    // write path (same answer the registry gives, measured ~2× cheaper per replay).
    const run = { ...existing.run, replayed: true };
    auditAndRethrow(
      s,
      new RewarderError(
        "QUARANTINED",
        existing.envelope.manifest.quarantine?.reason ?? "quarantined",
        { extra: { run } },
      ),
      req,
    );
  } else {
    record = { ...existing.run, replayed: true };
  }
  s.audit({
    event: "run_replayed",
    tenant: req.tenant,
    corr_id: req.corrId,
    run_key: req.runKey,
    manifest_hash: record.manifest_hash,
    outcome: record.emission,
  });
  return record;
}

/** A new run: prepare (policy, inputs, cost) → compute off the loop → seal → record. */
async function computeNew(s: AppServices, req: ComputeRequest): Promise<RunRecord> {
  const attrs = {
    corrId: req.corrId,
    tenant: req.tenant,
    runKey: req.runKey,
    epochId: req.epochId,
  };
  const prepared = await s.tracing.withSpan("prepare", attrs, async (span) => {
    const policy = await s.policies.get(req.body.policy_id, req.body.policy_hash, req.signal);
    const inputsBytes = await s.inputs(req.body.inputs_cid, {
      tenant: req.tenant,
      signal: req.signal,
    });
    span.setAttribute("rewarder.cost_estimate_ms", estimateCostMs(inputsBytes.length));
    const dryRun = costForcesDryRun(s, inputsBytes.length) || req.body.dry_run === true;
    return { policy, inputsBytes, dryRun };
  });
  // max_runs counts computes (contract §9): checked and counted atomically here, once the
  // policy, inputs and cost guard have passed, so a request refused before any compute
  // (unknown policy or inputs, cost cap) does not spend the token's runs.
  for (const caveat of req.maxRuns) {
    if (!(await s.store.tryIncrement(caveat.counterKey, caveat.limit))) {
      throw new RewarderError("UNAUTHORIZED", "caveat_max_runs");
    }
  }
  const started = performance.now();
  const output = await s.tracing.withSpan(
    "compute",
    {
      ...attrs,
      costEstimateMs: estimateCostMs(prepared.inputsBytes.length),
      dryRun: prepared.dryRun,
    },
    () =>
      s.engine.run({
        epochId: req.epochId,
        inputsBytes: prepared.inputsBytes,
        expectedInputsCid: req.body.inputs_cid,
        policyDocument: prepared.policy.verified.document,
        policyHash: prepared.policy.verified.policyHash,
        salt: s.config.idempotencySalt,
      }, req.signal),
  );
  const envelope = await s.tracing.withSpan(
    "seal",
    attrs,
    () => sealManifest(output.manifest, s.signer.active(), output.manifestHash),
  );
  s.metrics.observeComputeSeconds((performance.now() - started) / 1000);
  recordEconomics(s, envelope);
  const record = await submit(s, req, envelope, prepared.dryRun);
  s.audit({
    event: "run_computed",
    tenant: req.tenant,
    corr_id: req.corrId,
    run_key: req.runKey,
    policy_hash: req.body.policy_hash,
    inputs_cid: req.body.inputs_cid,
    manifest_hash: record.manifest_hash,
    outcome: record.emission,
  });
  return record;
}

function recordEconomics(s: AppServices, envelope: SealedEnvelope): void {
  s.metrics.recordRun(envelope.manifest.status === "sealed" ? "ok" : "quarantined");
  const t = envelope.manifest.totals;
  s.metrics.setLastEpochEconomics({
    poolMinor: BigInt(t.pool_minor),
    feeMinor: BigInt(t.fee_minor),
    payoutMinor: BigInt(t.payout_minor),
    residualMinor: BigInt(t.residual_minor),
    recipients: t.recipients,
  });
}

/** Records the run (commit + intent atomically for a sealed non-dry run): the `emit` span. */
function submit(
  s: AppServices,
  req: ComputeRequest,
  envelope: SealedEnvelope,
  dryRun: boolean,
): Promise<RunRecord> {
  const sealed = envelope.manifest.status === "sealed";
  return s.tracing.withSpan("emit", {
    corrId: req.corrId,
    tenant: req.tenant,
    runKey: req.runKey,
    dryRun,
  }, () =>
    s.registry.submit({
      tenant: req.tenant,
      runKey: req.runKey,
      epochId: req.epochId,
      dryRun,
      envelope,
      intent: sealed ? intentOf(envelope, req.tenant) : null,
      policyHash: envelope.manifest.policy_hash,
      inputsCid: envelope.manifest.inputs_cid,
    })).catch((err) => auditAndRethrow(s, err, req));
}

function auditAndRethrow(s: AppServices, err: unknown, ctx: ComputeRequest): never {
  if (err instanceof RewarderError && (err.code === "CONFLICT" || err.code === "QUARANTINED")) {
    s.audit({
      event: err.code === "CONFLICT" ? "run_conflicted" : "run_quarantined",
      tenant: ctx.tenant,
      corr_id: ctx.corrId,
      run_key: ctx.runKey,
      policy_hash: ctx.body.policy_hash,
      inputs_cid: ctx.body.inputs_cid,
      outcome: err.reason,
    });
  }
  throw err;
}
