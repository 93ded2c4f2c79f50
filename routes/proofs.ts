/**
 * `GET /rewarder/epochs/{epoch_id}/proofs/{account}` (contract §6, §10): a recipient's payout
 * proof from the committed envelope, an immutable answer (ETag, 304: `immutable.ts`). The
 * padded bytes of each answered proof and the packed Merkle leaves of recent manifests are
 * kept in the registry's artifact cache, one LRU bounded by bytes (docs/ARCHITECTURE.md,
 * "Caches"); an epoch whose leaves exceed the whole budget is rebuilt per request.
 *
 * @module
 */
import { createFactory } from "hono/factory";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { packedLeavesOf } from "../src/core/merkle.ts";
import type { AppEnv } from "../middleware/context.ts";
import { immutableBodyResponse, notModifiedResponse } from "./immutable.ts";
import { padJsonText } from "../middleware/pad_response.ts";
import { artifactKey, type HotCaches } from "../src/shell/registry/hot_cache.ts";
import { noQuerySchema, proofParamSchema } from "../src/api/schemas.ts";
import { validParam, validQuery } from "./validate.ts";
import { committedHashOrNotFound, committedOrNotFound, type InspectServices } from "./inspect.ts";
import { proofDocumentOf, RewarderError, type SealedEnvelope } from "../src/core/mod.ts";

const factory = createFactory<AppEnv>();

/** The packed leaves of an envelope, kept in the artifact cache (by manifest hash). */
function leavesOf(caches: HotCaches, envelope: SealedEnvelope): Uint8Array {
  const key = artifactKey("leaves", envelope.manifest_hash);
  const hit = caches.artifacts.get(key);
  if (hit !== undefined && typeof hit !== "string") return hit;
  const leaves = packedLeavesOf(envelope.manifest.payouts);
  caches.artifacts.set(key, leaves as Uint8Array<ArrayBuffer>, leaves.byteLength);
  return leaves;
}

/**
 * `GET /rewarder/epochs/{epoch_id}/proofs/{account}`: the proof document (contract §6), v2
 * for a v2 envelope and the v1 shape for a v1 one; 404 `no_payout` for an account without
 * a payout in the committed epoch.
 */
export function proofHandlers(s: InspectServices) {
  return factory.createHandlers(
    validParam(proofParamSchema),
    validQuery(noQuerySchema),
    async function proof(c) {
      const { epoch_id: epochId, account } = c.req.valid("param");
      const tenant = c.get("auth").tenant;
      const manifestHash = await committedHashOrNotFound(s, tenant, epochId);
      const caches = s.registry.caches;
      const key = artifactKey("proof", manifestHash, tenant, account);
      let text = caches.artifacts.get(key);
      if (typeof text !== "string") {
        const envelope = await committedOrNotFound(s, tenant, epochId);
        const doc = proofDocumentOf(envelope, account, leavesOf(caches, envelope));
        if (doc === undefined) throw new RewarderError("NOT_FOUND", "no_payout");
        const padded = padJsonText(canonicalJson(doc));
        text = padded.text;
        caches.artifacts.set(key, text, padded.bytes);
      }
      // The 404 above comes first: a matching If-None-Match never hides a missing payout.
      return notModifiedResponse(c.req.raw, manifestHash) ??
        immutableBodyResponse(manifestHash, text);
    },
  );
}
