/**
 * Validity of a manifest read from outside (contract §6, "Validity of an envelope"): exactly
 * the members shown, payouts strictly ascending by account bytes with canonical amounts > 0,
 * `payouts_root` rebuilt, `totals.recipients` = their count, and the sums of §4.9. Used by
 * `verify`, by the edge, and after loading a stored manifest.
 *
 * The header (everything but `payouts`) is checked with a strict zod schema; the payouts,
 * which may be a million lines, with a hand-written loop (zod costs seconds at that size).
 *
 * @module
 */
import { z } from "zod";
import { assert } from "./assert.ts";
import { CID_PATTERN } from "./cid.ts";
import { ACCOUNT_PATTERN, ASSET_PATTERN, EPOCH_ID_PATTERN, POLICY_ID_PATTERN } from "./ids.ts";
import { JSON_INT_MAX } from "./limits.ts";
import { MANIFEST_SCHEMA_V1, MANIFEST_SCHEMA_V2 } from "./manifest.ts";
import { merkleRootPacked, packedLeavesOf, toHex } from "./merkle.ts";
import { isMoney } from "./money.ts";
import { FUNDING_SOURCES } from "./policy.ts";
import type { Manifest, ManifestHeader } from "./types.ts";
import { formatPath } from "./zod_issue.ts";

const money = z.string().refine(isMoney);
const cid = z.string().regex(CID_PATTERN);
const account = z.string().regex(ACCOUNT_PATTERN);

/** The header's exact member set (contract §6): the manifest without `payouts`. */
export const manifestHeaderSchema = z.strictObject({
  schema: z.enum([MANIFEST_SCHEMA_V1, MANIFEST_SCHEMA_V2]),
  epoch_id: z.string().regex(EPOCH_ID_PATTERN),
  run_key: cid,
  inputs_cid: cid,
  policy_id: z.string().regex(POLICY_ID_PATTERN),
  policy_hash: cid,
  status: z.enum(["sealed", "quarantined"]),
  asset: z.string().regex(ASSET_PATTERN),
  funding_source: z.enum(FUNDING_SOURCES),
  totals: z.strictObject({
    pool_minor: money,
    fee_minor: money,
    payout_minor: money,
    residual_minor: money,
    recipients: z.int().min(0).max(JSON_INT_MAX),
  }),
  fee: z.strictObject({ account, amount_minor: money }).nullable(),
  residual: z.strictObject({
    account: account.nullable(),
    amount_minor: money,
    rounding_minor: money,
    below_min_minor: money,
    capped_minor: money,
  }),
  payouts_root: cid,
  quarantine: z.strictObject({ reason: z.enum(["overflow", "conservation", "negative"]) })
    .nullable(),
});

/** Why a manifest is not valid: a rule name and, for a shape fault, the member's path. */
export interface ManifestProblem {
  reason: "schema" | "arithmetic" | "payouts_root";
  path?: string;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Checks a header's shape and the sums a header alone can show (contract §6, §4.9):
 * pool = payout + fee + residual, the residual split, the fee block, the quarantine state.
 * Returns null when they hold.
 */
export function headerProblem(header: unknown): ManifestProblem | null {
  const parsed = manifestHeaderSchema.safeParse(header);
  if (!parsed.success) {
    return { reason: "schema", path: formatPath(parsed.error.issues[0]?.path ?? []) };
  }
  const h = parsed.data;
  const t = h.totals;
  const r = h.residual;
  const sums = BigInt(t.payout_minor) + BigInt(t.fee_minor) + BigInt(t.residual_minor) ===
      BigInt(t.pool_minor) &&
    r.amount_minor === t.residual_minor &&
    BigInt(r.rounding_minor) + BigInt(r.below_min_minor) + BigInt(r.capped_minor) ===
      BigInt(r.amount_minor) &&
    (h.fee === null ? t.fee_minor === "0" : h.fee.amount_minor === t.fee_minor);
  const quarantined = h.status === "quarantined";
  const state = quarantined === (h.quarantine !== null) &&
    (!quarantined || (t.recipients === 0 && t.payout_minor === "0"));
  return sums && state ? null : { reason: "arithmetic" };
}

/**
 * Checks a whole manifest (contract §6): exact member set, the header's sums, the payouts
 * (strictly ascending account bytes, canonical amounts > 0, Σ = `payout_minor`, count =
 * `recipients`) and `payouts_root`. Returns null when valid; then `onLeaves`, when given,
 * receives the packed leaves built for the root, so a caller can cache them (proofs).
 */
export function manifestProblem(
  manifest: unknown,
  onLeaves?: (leaves: Uint8Array) => void,
): ManifestProblem | null {
  if (typeof manifest !== "object" || manifest === null || Array.isArray(manifest)) {
    return { reason: "schema", path: "$" };
  }
  const m = manifest as Record<string, unknown>;
  if (!hasOwn.call(m, "payouts")) return { reason: "schema", path: "$" };
  const { payouts, ...header } = m;
  const headerFault = headerProblem(header);
  if (headerFault !== null) return headerFault;
  const h = header as unknown as ManifestHeader;
  if (!Array.isArray(payouts)) return { reason: "schema", path: "$.payouts" };
  let sum = 0n;
  let previous = "";
  for (let i = 0; i < payouts.length; i++) {
    const p = payouts[i] as Record<string, unknown> | null;
    if (typeof p !== "object" || p === null || Array.isArray(p)) {
      return { reason: "schema", path: `$.payouts[${i}]` };
    }
    let keys = 0;
    for (const key in p) {
      if (!hasOwn.call(p, key)) continue;
      if (key !== "account" && key !== "amount_minor") {
        return { reason: "schema", path: `$.payouts[${i}]` };
      }
      keys++;
    }
    const acct = p.account;
    const amount = p.amount_minor;
    if (typeof acct !== "string" || !ACCOUNT_PATTERN.test(acct)) {
      return { reason: "schema", path: `$.payouts[${i}].account` };
    }
    if (!isMoney(amount)) return { reason: "schema", path: `$.payouts[${i}].amount_minor` };
    if (keys !== 2) return { reason: "schema", path: `$.payouts[${i}]` };
    // Accounts are ASCII (§1), so `<` on strings is byte order (§4.10).
    if (amount === "0" || (i > 0 && !(previous < acct))) return { reason: "arithmetic" };
    sum += BigInt(amount);
    previous = acct;
  }
  if (h.totals.recipients !== payouts.length || BigInt(h.totals.payout_minor) !== sum) {
    return { reason: "arithmetic" };
  }
  const leaves = packedLeavesOf(payouts as Manifest["payouts"]);
  if ("b3:" + toHex(merkleRootPacked(leaves, payouts.length)) !== h.payouts_root) {
    return { reason: "payouts_root" };
  }
  onLeaves?.(leaves);
  return null;
}

/**
 * Asserts that a manifest this process built or loaded is valid (an invariant, paired with
 * the check `verify` makes on envelopes from outside): a failure is a bug, never input.
 */
export function assertManifestValid(manifest: Manifest): void {
  const problem = manifestProblem(manifest);
  assert(problem === null, `manifest is valid (${problem?.reason} ${problem?.path ?? ""})`);
}
