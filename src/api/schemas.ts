/**
 * The HTTP DTOs of contract §10 as zod schemas: the single source for request validation,
 * `/schema/compute.json` and `/openapi.json` (generated from these, never hand-written).
 *
 * @module
 */
import { z } from "zod";
import { CID_PATTERN } from "../core/cid.ts";
import { ACCOUNT_PATTERN, EPOCH_ID_PATTERN, POLICY_ID_PATTERN } from "../core/ids.ts";
import { NOTES_CHARS_MAX } from "../core/limits.ts";
import { REASONS } from "../core/reasons.ts";

const cid = z.string().regex(CID_PATTERN);
const money = z.string().regex(/^(0|[1-9][0-9]{0,38})$/);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
/** An id of contract §1: its grammar, and never `.` or `..`. */
const id = (pattern: RegExp) =>
  z.string().regex(pattern).refine((v) => v !== "." && v !== "..", { abort: true });
const epochId = id(EPOCH_ID_PATTERN);

/** Path parameters of the epoch routes. */
export const epochParamSchema = z.strictObject({ epoch_id: epochId });

/** Path parameters of the proof route (the account may hold `/`, sent as `%2F`, §9). */
export const proofParamSchema = z.strictObject({
  epoch_id: epochId,
  account: id(ACCOUNT_PATTERN),
});

/** Path parameters of `GET /rewarder/runs/{run_key}`. */
export const runParamSchema = z.strictObject({ run_key: cid });

/** Path parameters of `GET /rewarder/policy/{policy_id}`. */
export const policyParamSchema = z.strictObject({ policy_id: id(POLICY_ID_PATTERN) });

/** `GET /rewarder/policy/{policy_id}` query: `?hash=` picks one version. */
export const policyQuerySchema = z.strictObject({ hash: cid.optional() });

/** The query of routes that take none: an unknown parameter is refused like an unknown key. */
export const noQuerySchema = z.strictObject({});

/** `POST /rewarder/epochs/{epoch_id}/compute` body; unknown keys → 400. */
export const computeBodySchema = z.strictObject({
  inputs_cid: cid,
  policy_id: id(POLICY_ID_PATTERN),
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

/** Run record (contract §10); `intent_key` is null for dry runs and v1 runs. */
export const runRecordSchema = z.strictObject({
  run_key: cid,
  intent_key: cid.nullable(),
  epoch_id: epochId,
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
  epoch_id: epochId.optional(),
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

const proofStep = z.strictObject({ side: z.enum(["L", "R"]), hash: hex64 });

/** Proof document v2 (contract §6): verifies alone with the published keys. */
export const proofV2Schema = z.strictObject({
  schema: z.literal("svc-rewarder.proof.v2"),
  account: z.string(),
  amount_minor: money,
  index: z.int().min(0),
  leaf: hex64,
  proof: z.array(proofStep),
  header: z.record(z.string(), z.unknown()),
  manifest_hash: cid,
  signatures: z.array(signature),
}).meta({ title: "ProofDocumentV2" });

/** A v1 envelope's proof keeps its v1 shape (no `schema`, contract §6). */
export const proofV1Schema = z.strictObject({
  account: z.string(),
  amount_minor: money,
  leaf: hex64,
  proof: z.array(proofStep),
  payouts_root: cid,
  manifest_hash: cid,
  signatures: z.array(signature),
}).meta({ title: "ProofDocumentV1" });

/** The proof route's answer: v2 for v2 envelopes, the v1 shape for v1 ones. */
export const proofSchema = z.union([proofV2Schema, proofV1Schema]).meta({ title: "PayoutProof" });

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

const reasonNames = Object.keys(REASONS) as [keyof typeof REASONS, ...(keyof typeof REASONS)[]];

/** Error envelope (contract §8): `field` names the offending field's schema path. */
export const errorSchema = z.strictObject({
  error: z.object({
    code: z.enum([...new Set(Object.values(REASONS).map((r) => r.code))] as [string, ...string[]]),
    reason: z.enum(reasonNames),
    corr_id: z.string(),
    field: z.string().optional().meta({
      description: 'Schema path of the offending field (never its value); "" is the top level',
    }),
  }),
}).meta({ title: "Error" });

/** `/readyz` answer. */
export const readySchema = z.object({
  ready: z.boolean(),
  causes: z.array(z.string()).optional(),
});
