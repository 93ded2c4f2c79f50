/**
 * Read routes of contract §10: committed epoch envelope, runs by key, run listing, payout
 * proofs, policies. Every answer is tenant-scoped: another tenant's data is 404.
 *
 * @module
 */
import type { Context } from "hono";
import { badRequest, RewarderError } from "../src/core/errors.ts";
import { ACCOUNT_PATTERN, EPOCH_ID_PATTERN, POLICY_ID_PATTERN } from "../src/core/ids.ts";
import { isCid } from "../src/core/cid.ts";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { leafHash, merkleProof, toHex } from "../src/core/merkle.ts";
import type { SealedEnvelope } from "../src/core/types.ts";
import { schemaError } from "../src/core/zod_issue.ts";
import type { AppServices } from "../src/app_services.ts";
import type { AppEnv } from "../middleware/context.ts";
import { paddedJsonResponse } from "../middleware/pad_response.ts";
import { runsQuerySchema } from "./schemas.ts";

/** Manifests whose Merkle leaves are kept for proofs (LRU by manifest hash). */
export const PROOF_CACHE_MANIFESTS_MAX = 8;

function param(c: Context<AppEnv>, name: string, pattern: RegExp): string {
  const value = c.req.param(name) ?? "";
  if (!pattern.test(value)) throw badRequest("schema", name);
  return value;
}

/** `GET /rewarder/epochs/{epoch_id}`: the sealed envelope of the committed run. */
export function epochHandler(s: AppServices) {
  return async function epoch(c: Context<AppEnv>): Promise<Response> {
    const epochId = param(c, "epoch_id", EPOCH_ID_PATTERN);
    const envelope = await s.registry.committedEnvelope(c.get("auth").tenant, epochId);
    if (!envelope) throw new RewarderError("NOT_FOUND", "unknown_epoch");
    return paddedJsonResponse(canonicalJson(envelope));
  };
}

/** `GET /rewarder/runs/{run_key}`. */
export function runHandler(s: AppServices) {
  return async function run(c: Context<AppEnv>): Promise<Response> {
    const runKey = c.req.param("run_key") ?? "";
    if (!isCid(runKey)) throw badRequest("schema", "run_key");
    const found = await s.registry.get(c.get("auth").tenant, runKey);
    if (!found) throw new RewarderError("NOT_FOUND", "unknown_run");
    return paddedJsonResponse(canonicalJson({ run: found.run, envelope: found.envelope }));
  };
}

/** `GET /rewarder/runs?…` (paginated, tenant-scoped). */
export function runsHandler(s: AppServices) {
  return async function runs(c: Context<AppEnv>): Promise<Response> {
    const parsed = runsQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw schemaError(parsed.error);
    const q = parsed.data;
    const page = await s.registry.list(c.get("auth").tenant, {
      limit: q.limit === undefined ? 100 : Number(q.limit),
      ...(q.epoch_id === undefined ? {} : { epochId: q.epoch_id }),
      ...(q.policy_hash === undefined ? {} : { policyHash: q.policy_hash }),
      ...(q.inputs_cid === undefined ? {} : { inputsCid: q.inputs_cid }),
      ...(q.status === undefined ? {} : { status: q.status }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    return c.json({ runs: page.runs, next_cursor: page.nextCursor });
  };
}

/** `GET /rewarder/epochs/{epoch_id}/proofs/{account}`: one recipient's inclusion proof. */
export function proofHandler(s: AppServices) {
  const cache = new Map<string, Uint8Array[]>();
  function leavesOf(envelope: SealedEnvelope): Uint8Array[] {
    const hit = cache.get(envelope.manifest_hash);
    if (hit) {
      cache.delete(envelope.manifest_hash);
      cache.set(envelope.manifest_hash, hit);
      return hit;
    }
    const leaves = envelope.manifest.payouts.map((p) => leafHash(p.account, p.amount_minor));
    cache.set(envelope.manifest_hash, leaves);
    if (cache.size > PROOF_CACHE_MANIFESTS_MAX) cache.delete(cache.keys().next().value!);
    return leaves;
  }
  return async function proof(c: Context<AppEnv>): Promise<Response> {
    const epochId = param(c, "epoch_id", EPOCH_ID_PATTERN);
    const account = decodeURIComponent(c.req.param("account") ?? "");
    if (!ACCOUNT_PATTERN.test(account)) throw badRequest("schema", "account");
    const envelope = await s.registry.committedEnvelope(c.get("auth").tenant, epochId);
    if (!envelope) throw new RewarderError("NOT_FOUND", "unknown_epoch");
    const payouts = envelope.manifest.payouts;
    let lo = 0;
    let hi = payouts.length - 1;
    let index = -1;
    while (lo <= hi) { // payouts are sorted by account (contract §4.10)
      const mid = (lo + hi) >> 1;
      const at = payouts[mid]!.account;
      if (at === account) {
        index = mid;
        break;
      }
      if (at < account) lo = mid + 1;
      else hi = mid - 1;
    }
    if (index < 0) throw new RewarderError("NOT_FOUND", "unknown_account");
    const leaves = leavesOf(envelope);
    return c.json({
      account,
      amount_minor: payouts[index]!.amount_minor,
      leaf: toHex(leaves[index]!),
      proof: merkleProof(leaves, index),
      payouts_root: envelope.manifest.payouts_root,
      manifest_hash: envelope.manifest_hash,
      signatures: envelope.signatures,
    });
  };
}

/** `GET /rewarder/policy/{policy_id}[?hash=b3:…]`. */
export function policyHandler(s: AppServices) {
  return async function policy(c: Context<AppEnv>): Promise<Response> {
    const policyId = param(c, "policy_id", POLICY_ID_PATTERN);
    const hash = c.req.query("hash");
    if (hash !== undefined && !isCid(hash)) throw badRequest("schema", "hash");
    return c.json(
      await s.policies.envelope(policyId, hash, c.get("deadline")) as Record<string, unknown>,
    );
  };
}
