/**
 * The reward policy `svc-rewarder.policy.v1` (contract §3): strict schema, typed view with
 * bigint money and defaults applied, and its hash over the document *as written*.
 *
 * @module
 */
import { z } from "zod";
import { canonicalBytes } from "./canonical_json.ts";
import { type Cid, cidOf } from "./cid.ts";
import { type Result } from "./errors.ts";
import { ACCOUNT_PATTERN, ASSET_PATTERN, METRIC_PATTERN, POLICY_ID_PATTERN } from "./ids.ts";
import { JSON_INT_MAX, SCORE_TERMS_MAX } from "./limits.ts";
import { isMoney } from "./money.ts";
import { schemaError } from "./zod_issue.ts";

const money = z.string().refine(isMoney, { error: "money" });
const positiveMoney = money.refine((v) => v !== "0", { error: "positive" });
const account = z.string().regex(ACCOUNT_PATTERN);

/** Funding sources (contract §3). */
export const FUNDING_SOURCES = [
  "protocol_pool",
  "advertiser_budget",
  "creator_pool",
  "sponsor_budget",
  "governance_budget",
] as const;

/** Reference schema of a policy document; unknown keys anywhere are rejected. */
export const policySchema = z.strictObject({
  schema: z.literal("svc-rewarder.policy.v1"),
  policy_id: z.string().regex(POLICY_ID_PATTERN),
  version: z.int().min(1).max(JSON_INT_MAX),
  asset: z.string().regex(ASSET_PATTERN),
  funding_source: z.enum(FUNDING_SOURCES),
  pool: z.discriminatedUnion("source", [
    z.strictObject({ source: z.literal("inputs") }),
    z.strictObject({ source: z.literal("fixed"), amount_minor: money }),
  ]),
  pool_cap_minor: money.optional(),
  score: z.array(
    z.strictObject({
      metric: z.string().regex(METRIC_PATTERN),
      mul: money,
      div: positiveMoney,
    }),
  ).min(1).max(SCORE_TERMS_MAX),
  min_score: money.optional(),
  fee: z.strictObject({ bps: z.int().min(0).max(10_000), account }).optional(),
  allocation: z.enum(["floor", "largest_remainder"]),
  cap_minor: money.optional(),
  cap_excess: z.enum(["residual", "redistribute"]).optional(),
  min_payout_minor: money.optional(),
  residual_account: account.nullable().optional(),
});

/** A policy document exactly as written (what is hashed). */
export type PolicyDocument = z.infer<typeof policySchema>;

/** One score term with bigint factors. */
export interface ScoreTerm {
  metric: string;
  mul: bigint;
  div: bigint;
}

/** The policy as the engine uses it: bigint money, defaults applied (contract §3). */
export interface Policy {
  policyId: string;
  version: number;
  asset: string;
  fundingSource: (typeof FUNDING_SOURCES)[number];
  pool: { source: "inputs" } | { source: "fixed"; amountMinor: bigint };
  poolCapMinor: bigint | null;
  score: readonly ScoreTerm[];
  minScore: bigint;
  fee: { bps: bigint; account: string } | null;
  allocation: "floor" | "largest_remainder";
  capMinor: bigint | null;
  capExcess: "residual" | "redistribute";
  minPayoutMinor: bigint;
  residualAccount: string | null;
}

/** Parses and validates a policy document (already JSON-decoded). */
export function parsePolicy(doc: unknown): Result<{ document: PolicyDocument; policy: Policy }> {
  const parsed = policySchema.safeParse(doc);
  if (!parsed.success) return { ok: false, error: schemaError(parsed.error, "policy") };
  const d = parsed.data;
  return {
    ok: true,
    value: {
      document: d,
      policy: {
        policyId: d.policy_id,
        version: d.version,
        asset: d.asset,
        fundingSource: d.funding_source,
        pool: d.pool.source === "fixed"
          ? { source: "fixed", amountMinor: BigInt(d.pool.amount_minor) }
          : { source: "inputs" },
        poolCapMinor: d.pool_cap_minor === undefined ? null : BigInt(d.pool_cap_minor),
        score: d.score.map((t) => ({ metric: t.metric, mul: BigInt(t.mul), div: BigInt(t.div) })),
        minScore: BigInt(d.min_score ?? "1"),
        fee: d.fee === undefined ? null : { bps: BigInt(d.fee.bps), account: d.fee.account },
        allocation: d.allocation,
        capMinor: d.cap_minor === undefined ? null : BigInt(d.cap_minor),
        capExcess: d.cap_excess ?? "residual",
        minPayoutMinor: BigInt(d.min_payout_minor ?? "1"),
        residualAccount: d.residual_account ?? null,
      },
    },
  };
}

/** `policy_hash` = `b3:` + BLAKE3(JCS(policy)) over the document as written (contract §3). */
export function policyHashOf(document: unknown): Cid {
  return cidOf(canonicalBytes(document));
}
