/**
 * Manifest construction and hashing (contract §6). The manifest holds no time, notes,
 * dry-run flag or scores: the same (epoch_id, policy, inputs) gives the same bytes anywhere.
 *
 * v2 (`svc-rewarder.manifest.v2`, what is built): `manifest_hash` = `b3:` + BLAKE3(JCS(header)),
 * the header being the manifest without `payouts`, which it commits to through `payouts_root`.
 * v1 (still verifiable): `manifest_hash` = `b3:` + BLAKE3(JCS(whole manifest)).
 *
 * @module
 */
import type { Allocation } from "./allocate.ts";
import { canonicalJson } from "./canonical_json.ts";
import { type Checkpoint, CHECKPOINT_MASK, NEVER_CANCELLED } from "./checkpoint.ts";
import { type Cid, cidOf } from "./cid.ts";
import { formatMinor } from "./money.ts";
import { LeafHasher, merkleRootPacked, toHex } from "./merkle.ts";
import type { Policy } from "./policy.ts";
import type { Manifest, ManifestHeader, Payout } from "./types.ts";

/** Schema name of the manifests this engine builds (contract §6). */
export const MANIFEST_SCHEMA_V2 = "svc-rewarder.manifest.v2";
/** Schema name of v1 manifests (verified, never built). */
export const MANIFEST_SCHEMA_V1 = "svc-rewarder.manifest.v1";

/** What identifies a run besides its allocation. */
export interface RunIdentity {
  epochId: string;
  runKey: string;
  inputsCid: string;
  policyHash: string;
}

/**
 * Builds the manifest of an allocation. `checkpoint` is called every CHECKPOINT_EVERY payouts
 * and between the leaf hashing and the Merkle fold (src/core/checkpoint.ts).
 */
export function buildManifest(
  header: RunIdentity,
  policy: Policy,
  allocation: Allocation,
  checkpoint: Checkpoint = NEVER_CANCELLED,
): Manifest {
  // One pass: each amount's decimal string is made once, for its payout and its leaf, and
  // the leaf preimage is written straight into the hasher's buffer (no per-leaf objects).
  const { count, accounts, amountsMinor } = allocation.payouts;
  const payouts: Payout[] = [];
  const leaves = new LeafHasher(count, checkpoint);
  for (let i = 0; i < count; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    const account = accounts[i]!;
    const amount = formatMinor(amountsMinor[i]!);
    payouts.push({ account, amount_minor: amount });
    leaves.add(account, amount);
  }
  checkpoint();
  const root = merkleRootPacked(leaves.finish(), count);
  // Σ payouts as recounted by the allocation's conservation check (contract §4.9).
  const payoutMinor = allocation.payouts.sumMinor;
  const r = allocation.residual;
  return {
    schema: MANIFEST_SCHEMA_V2,
    epoch_id: header.epochId,
    run_key: header.runKey,
    inputs_cid: header.inputsCid,
    policy_id: policy.policyId,
    policy_hash: header.policyHash,
    status: allocation.quarantine === null ? "sealed" : "quarantined",
    asset: policy.asset,
    funding_source: policy.fundingSource,
    totals: {
      pool_minor: formatMinor(allocation.poolMinor),
      fee_minor: formatMinor(allocation.feeMinor),
      payout_minor: formatMinor(payoutMinor),
      residual_minor: formatMinor(r.amountMinor),
      recipients: payouts.length,
    },
    // The fee block is present whenever the policy defines a fee, even when it rounds to 0.
    fee: policy.fee === null
      ? null
      : { account: policy.fee.account, amount_minor: formatMinor(allocation.feeMinor) },
    residual: {
      account: policy.residualAccount,
      amount_minor: formatMinor(r.amountMinor),
      rounding_minor: formatMinor(r.roundingMinor),
      below_min_minor: formatMinor(r.belowMinMinor),
      capped_minor: formatMinor(r.cappedMinor),
    },
    payouts,
    payouts_root: "b3:" + toHex(root),
    quarantine: allocation.quarantine === null ? null : { reason: allocation.quarantine },
  };
}

/**
 * The header of a manifest (contract §6): every member but `payouts` (`payouts_root` and
 * `totals.recipients` included). Shares the nested objects with `m` (no copy).
 */
export function manifestHeaderOf(m: Manifest): ManifestHeader {
  const { payouts: _payouts, ...header } = m;
  return header;
}

/** `b3:` + BLAKE3(JCS(header)): the v2 `manifest_hash` of a header (contract §6). */
export function headerHashOf(header: ManifestHeader): Cid {
  return cidOf(canonicalJson(header));
}

/**
 * The canonical JSON text that a manifest's hash covers, chosen by `schema`: the header for
 * v2, the whole manifest for v1.
 */
export function manifestJson(manifest: Manifest): string {
  return canonicalJson(
    manifest.schema === MANIFEST_SCHEMA_V1 ? manifest : manifestHeaderOf(manifest),
  );
}

/**
 * `manifest_hash` by schema (contract §6): v2 = `b3:` + BLAKE3(JCS(header)), so hashing a
 * 1M-payout manifest costs one small header, not a second pass over the payouts (their
 * commitment, `payouts_root`, was computed while building); v1 = BLAKE3(JCS(manifest)).
 *
 * @example
 * ```ts
 * manifestHashOf(envelope.manifest) === envelope.manifest_hash; // for a valid envelope
 * ```
 */
export function manifestHashOf(manifest: Manifest): Cid {
  return cidOf(manifestJson(manifest));
}
