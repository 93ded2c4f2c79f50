/**
 * Read routes of contract §10: committed epoch envelope, runs by key, run listing, payout
 * proofs, policies. Every answer is tenant-scoped: another tenant's data is 404. The epoch
 * envelope and the proofs are immutable answers (ETag, 304: `immutable.ts`).
 *
 * @module
 */
import { createFactory } from "hono/factory";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { RewarderError } from "../src/core/errors.ts";
import { packedLeavesOf } from "../src/core/merkle.ts";
import { proofDocumentOf } from "../src/core/proof.ts";
import type { SealedEnvelope } from "../src/core/types.ts";
import type { AppServices } from "../src/shell/app_services.ts";
import type { AppEnv } from "../middleware/context.ts";
import { paddedJsonResponse } from "../middleware/pad_response.ts";
import { immutableResponse } from "./immutable.ts";
import { checkRunEpoch } from "../src/shell/caps/authorize.ts";
import {
  epochParamSchema,
  noQuerySchema,
  policyParamSchema,
  policyQuerySchema,
  proofParamSchema,
  runParamSchema,
  runsQuerySchema,
} from "../src/api/schemas.ts";
import { validParam, validQuery } from "./validate.ts";

/** Manifests whose packed Merkle leaves are kept for proofs (LRU by manifest hash). */
export const PROOF_CACHE_MANIFESTS_MAX = 8;
/**
 * Bytes of packed leaves kept at most (32 B per recipient): 64 MiB holds two 1M-recipient
 * epochs, so a few large epochs cannot hold the heap.
 */
export const PROOF_CACHE_BYTES_MAX = 64 * 1024 * 1024;

const factory = createFactory<AppEnv>();

async function committedOrNotFound(
  s: AppServices,
  tenant: string,
  epochId: string,
): Promise<SealedEnvelope> {
  const envelope = await s.registry.committedEnvelope(tenant, epochId);
  if (!envelope) throw new RewarderError("NOT_FOUND", "unknown_epoch");
  return envelope;
}

/** `GET /rewarder/epochs/{epoch_id}`: the sealed envelope of the committed run. */
export function epochHandlers(s: AppServices) {
  return factory.createHandlers(
    validParam(epochParamSchema),
    validQuery(noQuerySchema),
    async function epoch(c) {
      const { epoch_id: epochId } = c.req.valid("param");
      const envelope = await committedOrNotFound(s, c.get("auth").tenant, epochId);
      return immutableResponse(c.req.raw, envelope.manifest_hash, canonicalJson(envelope));
    },
  );
}

/** `GET /rewarder/runs/{run_key}`: not immutable (its emission moves on), so no ETag. */
export function runHandlers(s: AppServices) {
  return factory.createHandlers(
    validParam(runParamSchema),
    validQuery(noQuerySchema),
    async function run(c) {
      const { run_key: runKey } = c.req.valid("param");
      const found = await s.registry.get(c.get("auth").tenant, runKey);
      // §9: an `epoch_id` caveat holds only for the run's epoch (403 for an unknown run too).
      checkRunEpoch(c.get("auth"), found?.run.epoch_id);
      if (!found) throw new RewarderError("NOT_FOUND", "unknown_run");
      return paddedJsonResponse(canonicalJson({ run: found.run, envelope: found.envelope }));
    },
  );
}

/** `GET /rewarder/runs?…` (paginated, tenant-scoped). */
export function runsHandlers(s: AppServices) {
  return factory.createHandlers(validQuery(runsQuerySchema), async function runs(c) {
    const q = c.req.valid("query");
    const page = await s.registry.list(c.get("auth").tenant, {
      limit: q.limit === undefined ? 100 : Number(q.limit),
      ...(q.epoch_id === undefined ? {} : { epochId: q.epoch_id }),
      ...(q.policy_hash === undefined ? {} : { policyHash: q.policy_hash }),
      ...(q.inputs_cid === undefined ? {} : { inputsCid: q.inputs_cid }),
      ...(q.status === undefined ? {} : { status: q.status }),
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    return c.json({ runs: page.runs, next_cursor: page.nextCursor });
  });
}

/** A bounded LRU of packed leaves by manifest hash (by count and by bytes). */
function leavesCache() {
  const cache = new Map<string, Uint8Array>();
  let bytes = 0;
  return function leavesOf(envelope: SealedEnvelope): Uint8Array {
    const key = envelope.manifest_hash;
    const hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const leaves = packedLeavesOf(envelope.manifest.payouts);
    if (leaves.length > PROOF_CACHE_BYTES_MAX) return leaves; // too large to keep
    cache.set(key, leaves);
    bytes += leaves.length;
    while (cache.size > PROOF_CACHE_MANIFESTS_MAX || bytes > PROOF_CACHE_BYTES_MAX) {
      const [oldest, value] = cache.entries().next().value!;
      cache.delete(oldest);
      bytes -= value.length;
    }
    return leaves;
  };
}

/**
 * `GET /rewarder/epochs/{epoch_id}/proofs/{account}`: the proof document (contract §6), v2
 * for a v2 envelope and the v1 shape for a v1 one; 404 `no_payout` for an account without
 * a payout in the committed epoch.
 */
export function proofHandlers(s: AppServices) {
  const leavesOf = leavesCache();
  return factory.createHandlers(
    validParam(proofParamSchema),
    validQuery(noQuerySchema),
    async function proof(c) {
      const { epoch_id: epochId, account } = c.req.valid("param");
      const envelope = await committedOrNotFound(s, c.get("auth").tenant, epochId);
      const doc = proofDocumentOf(envelope, account, leavesOf(envelope));
      if (doc === undefined) throw new RewarderError("NOT_FOUND", "no_payout");
      return immutableResponse(c.req.raw, envelope.manifest_hash, canonicalJson(doc));
    },
  );
}

/** `GET /rewarder/policy/{policy_id}[?hash=b3:…]`. */
export function policyHandlers(s: AppServices) {
  return factory.createHandlers(
    validParam(policyParamSchema),
    validQuery(policyQuerySchema),
    async function policy(c) {
      const { policy_id: policyId } = c.req.valid("param");
      const { hash } = c.req.valid("query");
      const envelope = await s.policies.envelope(policyId, hash, c.get("deadline"));
      return c.json(envelope as Record<string, unknown>);
    },
  );
}
