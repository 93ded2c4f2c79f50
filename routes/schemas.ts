/**
 * The HTTP DTOs of contract §10 as zod schemas: the single source for request validation,
 * `/schema/compute.json` and `/openapi.json` (generated from these, never hand-written).
 *
 * @module
 */
import { z } from "zod";
import { CID_PATTERN } from "../src/core/cid.ts";
import { EPOCH_ID_PATTERN, POLICY_ID_PATTERN } from "../src/core/ids.ts";
import { NOTES_CHARS_MAX } from "../src/core/limits.ts";

const cid = z.string().regex(CID_PATTERN);
const money = z.string().regex(/^(0|[1-9][0-9]{0,38})$/);

/** `POST /rewarder/epochs/{epoch_id}/compute` body; unknown keys → 400. */
export const computeBodySchema = z.strictObject({
  inputs_cid: cid,
  policy_id: z.string().regex(POLICY_ID_PATTERN),
  policy_hash: cid,
  dry_run: z.boolean().optional(),
  notes: z.string().max(NOTES_CHARS_MAX).optional(),
}).meta({
  title: "ComputeRequest",
  examples: [{
    inputs_cid: "b3:81d428e1df7c29a8443467db8ed59ee2628ac43acd47c692fbc3c23ee495606d",
    policy_id: "ron-node-rewards",
    policy_hash: "b3:02c36579a8f4d1b617cd9dfa8fa5e351a55acbefc5f6236a4ae2221b728b6b84",
    dry_run: false,
    notes: "epoch settlement",
  }],
});

/** Compute body type. */
export type ComputeBody = z.infer<typeof computeBodySchema>;

const totals = z.strictObject({
  pool_minor: money,
  fee_minor: money,
  payout_minor: money,
  residual_minor: money,
  recipients: z.int().min(0),
});

/** Run record (contract §10). */
export const runRecordSchema = z.strictObject({
  run_key: cid,
  epoch_id: z.string().regex(EPOCH_ID_PATTERN),
  manifest_hash: cid,
  status: z.enum(["sealed", "quarantined"]),
  dry_run: z.boolean(),
  replayed: z.boolean(),
  emission: z.enum(["dry_run", "suppressed", "pending", "accepted", "duplicate", "failed"]),
  totals,
}).meta({ title: "RunRecord" });

const signature = z.strictObject({
  alg: z.enum(["ed25519", "ml-dsa-65"]),
  kid: z.string(),
  sig: z.string(),
});

/** Sealed envelope (contract §6); the manifest is described loosely here, exactly in §6. */
export const envelopeSchema = z.strictObject({
  manifest: z.record(z.string(), z.unknown()),
  manifest_hash: cid,
  signatures: z.array(signature),
}).meta({ title: "SealedEnvelope" });

/** `GET /rewarder/runs/{run_key}` answer. */
export const runAnswerSchema = z.strictObject({ run: runRecordSchema, envelope: envelopeSchema });

/** `GET /rewarder/runs` query. */
export const runsQuerySchema = z.strictObject({
  epoch_id: z.string().regex(EPOCH_ID_PATTERN).optional(),
  policy_hash: cid.optional(),
  inputs_cid: cid.optional(),
  status: z.enum(["sealed", "quarantined"]).optional(),
  cursor: z.string().max(256).optional(),
  limit: z.string().regex(/^[1-9][0-9]{0,2}$/).optional(),
});

/** `GET /rewarder/runs` answer. */
export const runsAnswerSchema = z.strictObject({
  runs: z.array(runRecordSchema),
  next_cursor: z.string().nullable(),
});

/** Payout proof (contract §10). */
export const proofSchema = z.strictObject({
  account: z.string(),
  amount_minor: money,
  leaf: z.string().regex(/^[0-9a-f]{64}$/),
  proof: z.array(
    z.strictObject({ side: z.enum(["L", "R"]), hash: z.string().regex(/^[0-9a-f]{64}$/) }),
  ),
  payouts_root: cid,
  manifest_hash: cid,
  signatures: z.array(signature),
}).meta({ title: "PayoutProof" });

/** `/rewarder/keys` answer. */
export const keysSchema = z.strictObject({
  keys: z.array(z.strictObject({
    kid: z.string(),
    alg: z.enum(["ed25519", "ml-dsa-65"]),
    public_key: z.string(),
    use: z.literal("manifest"),
    status: z.enum(["active", "retired"]),
  })),
});

/** `/rewarder/quarantine` body and answer. */
export const quarantineSchema = z.strictObject({ quarantine_only: z.boolean() }).meta({
  examples: [{ quarantine_only: true }],
});

/** Error envelope (contract §8). */
export const errorSchema = z.strictObject({
  error: z.object({ code: z.string(), reason: z.string(), corr_id: z.string() }),
}).meta({ title: "Error" });

/** `/readyz` answer. */
export const readySchema = z.object({
  ready: z.boolean(),
  causes: z.array(z.string()).optional(),
});
