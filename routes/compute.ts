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
import type { RunRecord } from "../src/core/types.ts";
import type { AppServices } from "../src/app_services.ts";
import type { AppEnv } from "../middleware/context.ts";
import { type ComputeBody, computeBodySchema } from "./schemas.ts";
import { schemaError } from "../src/core/zod_issue.ts";

/**
 * Engine throughput used by the cost estimate, bytes of inputs per millisecond. Measured by
 * `deno task bench` on this 2-core machine (≈ 80 MB / 1M recipients end to end in ≈ 4 s);
 * kept conservative so the estimate errs towards refusing.
 */
export const ENGINE_BYTES_PER_MS = 15_000;

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
  let doc: unknown;
  try {
    doc = JSON.parse(await c.req.text());
  } catch {
    throw badRequest("schema", "$");
  }
  const parsed = computeBodySchema.safeParse(doc);
  if (!parsed.success) throw schemaError(parsed.error);
  return parsed.data;
}

/** The compute handler. */
export function computeHandler(s: AppServices) {
  return async function compute(c: Context<AppEnv>): Promise<Response> {
    const epochId = c.req.param("epoch_id") ?? "";
    if (!EPOCH_ID_PATTERN.test(epochId)) throw badRequest("schema", "epoch_id");
    const body = await readBody(c);
    const auth = c.get("auth");
    const tenant = auth.tenant;
    const signal = c.get("deadline");
    const corrId = c.get("corrId");
    const runKey = runKeyOf(epochId, body.policy_hash, body.inputs_cid, s.config.idempotencySalt);
    const wantDry = body.dry_run === true;

    const existing = await s.registry.get(tenant, runKey);
    if (existing !== undefined) {
      let dryRun = wantDry;
      if (existing.run.dry_run && !wantDry) {
        // Promoting a dry run commits and emits, so the cost guard applies again: otherwise
        // a run forced dry by the cap would be promoted by re-sending the same request.
        const inputsBytes = await s.inputs(body.inputs_cid, { tenant, signal });
        dryRun = costForcesDryRun(s, inputsBytes.length);
      }
      const record = await s.registry.submit({
        tenant,
        runKey,
        epochId,
        dryRun,
        envelope: existing.envelope,
        intent: existing.envelope.manifest.status === "sealed"
          ? intentOf(existing.envelope, tenant)
          : null,
        policyHash: body.policy_hash,
        inputsCid: body.inputs_cid,
      }).catch((err) => auditAndRethrow(s, err, { tenant, corrId, runKey, body }));
      s.audit({
        event: "run_replayed",
        tenant,
        corr_id: corrId,
        run_key: runKey,
        manifest_hash: record.manifest_hash,
        outcome: record.emission,
      });
      return c.json(record);
    }

    const policy = await s.policies.get(body.policy_id, body.policy_hash, signal);
    const inputsBytes = await s.inputs(body.inputs_cid, { tenant, signal });
    const dryRun = costForcesDryRun(s, inputsBytes.length) || wantDry;
    // max_runs counts computes (contract §9): checked and counted atomically here, once the
    // policy, inputs and cost guard have passed, so a request refused before any compute
    // (unknown policy or inputs, cost cap) does not spend the token's runs.
    for (const caveat of auth.maxRuns) {
      if (!(await s.store.tryIncrement(caveat.counterKey, caveat.limit))) {
        throw new RewarderError("UNAUTHORIZED", "caveat_max_runs");
      }
    }
    const started = performance.now();
    const output = await s.engine.run({
      epochId,
      inputsBytes,
      expectedInputsCid: body.inputs_cid,
      policyDocument: policy.verified.document,
      policyHash: policy.verified.policyHash,
      salt: s.config.idempotencySalt,
    }, signal);
    const envelope = await sealManifest(output.manifest, s.signer.active(), output.manifestHash);
    s.metrics.observeComputeSeconds((performance.now() - started) / 1000);
    const quarantined = envelope.manifest.status !== "sealed";
    s.metrics.recordRun(quarantined ? "quarantined" : "ok");
    const t = envelope.manifest.totals;
    s.metrics.setLastEpochEconomics({
      poolMinor: BigInt(t.pool_minor),
      feeMinor: BigInt(t.fee_minor),
      payoutMinor: BigInt(t.payout_minor),
      residualMinor: BigInt(t.residual_minor),
      recipients: t.recipients,
    });
    const record: RunRecord = await s.registry.submit({
      tenant,
      runKey,
      epochId,
      dryRun,
      envelope,
      intent: quarantined ? null : intentOf(envelope, tenant),
      policyHash: policy.verified.policyHash,
      inputsCid: output.inputsCid,
    }).catch((err) => auditAndRethrow(s, err, { tenant, corrId, runKey, body }));
    s.audit({
      event: "run_computed",
      tenant,
      corr_id: corrId,
      run_key: runKey,
      policy_hash: body.policy_hash,
      inputs_cid: body.inputs_cid,
      manifest_hash: record.manifest_hash,
      outcome: record.emission,
    });
    return c.json(record);
  };
}

function auditAndRethrow(
  s: AppServices,
  err: unknown,
  ctx: { tenant: string; corrId: string; runKey: string; body: ComputeBody },
): never {
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
