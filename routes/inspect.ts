/**
 * Read routes of contract §10: committed epoch envelope, runs by key, run listing (payout
 * proofs: `proofs.ts`; policies: `policy.ts`). Every answer is tenant-scoped: another tenant's data
 * is 404. The epoch envelope is an immutable answer (ETag, 304: `immutable.ts`) whose padded
 * bytes are kept in the registry's artifact cache (docs/ARCHITECTURE.md, "Caches").
 *
 * @module
 */
import { createFactory } from "hono/factory";
import { canonicalJson } from "../src/core/canonical_json.ts";
import type { AppServices } from "../src/shell/app_services.ts";
import type { AppEnv } from "../middleware/context.ts";
import { paddedJsonResponse, padJsonText } from "../middleware/pad_response.ts";
import { immutableBodyResponse, notModifiedResponse } from "./immutable.ts";
import { artifactKey } from "../src/shell/registry/hot_cache.ts";
import { checkRunEpoch } from "../src/shell/caps/authorize.ts";
import {
  epochParamSchema,
  noQuerySchema,
  runParamSchema,
  runsQuerySchema,
} from "../src/api/schemas.ts";
import { validParam, validQuery } from "./validate.ts";
import { RewarderError, type SealedEnvelope } from "../src/core/mod.ts";

const factory = createFactory<AppEnv>();

/** What the read routes use: the run registry (the policy route: the policy registry). */
export type InspectServices = Pick<AppServices, "registry">;

/** The committed envelope of a tenant's epoch, or 404 `unknown_epoch`. */
export async function committedOrNotFound(
  s: InspectServices,
  tenant: string,
  epochId: string,
): Promise<SealedEnvelope> {
  const envelope = await s.registry.committedEnvelope(tenant, epochId);
  if (!envelope) throw new RewarderError("NOT_FOUND", "unknown_epoch");
  return envelope;
}

/** The manifest hash of a tenant's committed epoch, or 404 `unknown_epoch`. */
export async function committedHashOrNotFound(
  s: InspectServices,
  tenant: string,
  epochId: string,
): Promise<string> {
  const manifestHash = await s.registry.committedManifestHash(tenant, epochId);
  if (manifestHash === undefined) throw new RewarderError("NOT_FOUND", "unknown_epoch");
  return manifestHash;
}

/**
 * `GET /rewarder/epochs/{epoch_id}`: the sealed envelope of the committed run, as the padded
 * text first answered (cached by tenant and manifest hash: they never change; the tenant is
 * part of the key because two tenants' envelopes of one manifest carry their own signatures).
 */
export function epochHandlers(s: InspectServices) {
  return factory.createHandlers(
    validParam(epochParamSchema),
    validQuery(noQuerySchema),
    async function epoch(c) {
      const { epoch_id: epochId } = c.req.valid("param");
      const tenant = c.get("auth").tenant;
      const manifestHash = await committedHashOrNotFound(s, tenant, epochId);
      const notModified = notModifiedResponse(c.req.raw, manifestHash);
      if (notModified !== undefined) return notModified;
      const key = artifactKey("envelope", manifestHash, tenant);
      const artifacts = s.registry.caches.artifacts;
      let text = artifacts.get(key);
      if (typeof text !== "string") {
        const padded = padJsonText(canonicalJson(await committedOrNotFound(s, tenant, epochId)));
        text = padded.text;
        artifacts.set(key, text, padded.bytes);
      }
      return immutableBodyResponse(manifestHash, text);
    },
  );
}

/** `GET /rewarder/runs/{run_key}`: not immutable (its emission moves on), so no ETag. */
export function runHandlers(s: InspectServices) {
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
export function runsHandlers(s: InspectServices) {
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
