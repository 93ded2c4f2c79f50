/**
 * `GET /rewarder/epochs/{epoch_id}/proofs/{account}` (contract §6, §10): a recipient's payout
 * proof from the committed envelope, an immutable answer (ETag, 304: `immutable.ts`). The
 * packed Merkle leaves of recent manifests are kept in a bounded LRU.
 *
 * @module
 */
import { createFactory } from "hono/factory";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { packedLeavesOf } from "../src/core/merkle.ts";
import type { AppEnv } from "../middleware/context.ts";
import { immutableResponse } from "./immutable.ts";
import { noQuerySchema, proofParamSchema } from "../src/api/schemas.ts";
import { validParam, validQuery } from "./validate.ts";
import { committedOrNotFound, type InspectServices } from "./inspect.ts";
import { proofDocumentOf, RewarderError, type SealedEnvelope } from "../src/core/mod.ts";

/** Manifests whose packed Merkle leaves are kept for proofs (LRU by manifest hash). */
export const PROOF_CACHE_MANIFESTS_MAX = 8;
/**
 * Bytes of packed leaves kept at most (32 B per recipient): 64 MiB holds two 1M-recipient
 * epochs, so a few large epochs cannot hold the heap.
 */
export const PROOF_CACHE_BYTES_MAX = 64 * 1024 * 1024;

const factory = createFactory<AppEnv>();

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
export function proofHandlers(s: InspectServices) {
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
