/**
 * Manifest construction and hashing (contract §6). The manifest holds no time, notes,
 * dry-run flag or scores: the same (epoch_id, policy, inputs) gives the same bytes anywhere.
 *
 * @module
 */
import type { Allocation } from "./allocate.ts";
import { assert } from "./assert.ts";
import { canonicalJson } from "./canonical_json.ts";
import { cidOf } from "./cid.ts";
import { formatMinor } from "./money.ts";
import { leafHashInto, merkleRootPacked, toHex } from "./merkle.ts";
import type { Policy } from "./policy.ts";
import type { Manifest, Payout } from "./types.ts";

/** What identifies a run besides its allocation. */
export interface ManifestHeader {
  epochId: string;
  runKey: string;
  inputsCid: string;
  policyHash: string;
}

/** Builds the manifest of an allocation. */
export function buildManifest(
  header: ManifestHeader,
  policy: Policy,
  allocation: Allocation,
): Manifest {
  const payouts: Payout[] = new Array(allocation.payouts.length);
  const leaves = new Uint8Array(32 * allocation.payouts.length);
  let payoutMinor = 0n;
  for (let i = 0; i < allocation.payouts.length; i++) {
    const p = allocation.payouts[i]!;
    const amount = formatMinor(p.amountMinor);
    payouts[i] = { account: p.account, amount_minor: amount };
    leafHashInto(p.account, amount, leaves, i);
    payoutMinor += p.amountMinor;
  }
  const r = allocation.residual;
  return {
    schema: "svc-rewarder.manifest.v1",
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
    payouts_root: "b3:" + toHex(merkleRootPacked(leaves, payouts.length)),
    quarantine: allocation.quarantine === null ? null : { reason: allocation.quarantine },
  };
}

/** The canonical JSON text of a manifest (what is hashed). */
export function manifestJson(manifest: Manifest): string {
  return canonicalJson(manifest);
}

/** `manifest_hash` = `b3:` + BLAKE3(JCS(manifest)). */
export function manifestHashOf(manifest: Manifest): string {
  return cidOf(manifestJson(manifest));
}

/**
 * Re-checks a manifest's own arithmetic (used after loading a stored manifest and by
 * `verify`): totals agree with payouts, conservation holds, payouts sorted and positive.
 */
export function checkManifestArithmetic(m: Manifest): void {
  let sum = 0n;
  let previous = "";
  for (const p of m.payouts) {
    assert(p.account > previous, "payouts sorted by account and unique");
    assert(BigInt(p.amount_minor) > 0n, "payout amounts are positive");
    sum += BigInt(p.amount_minor);
    previous = p.account;
  }
  const t = m.totals;
  assert(BigInt(t.payout_minor) === sum, "payout total equals the sum of payouts");
  assert(t.recipients === m.payouts.length, "recipient count equals payouts");
  assert(
    sum + BigInt(t.fee_minor) + BigInt(t.residual_minor) === BigInt(t.pool_minor),
    "payouts + fee + residual = pool",
  );
  const r = m.residual;
  assert(
    BigInt(r.rounding_minor) + BigInt(r.below_min_minor) + BigInt(r.capped_minor) ===
        BigInt(r.amount_minor) && r.amount_minor === t.residual_minor,
    "residual split adds up",
  );
}
