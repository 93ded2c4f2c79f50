/**
 * The ledger intent of a sealed run (contract §7): the payouts, then the fee (if > 0) to the
 * fee account; `total_minor` is their sum; the manifest's signatures ride along.
 *
 * @module
 */
import { assert } from "./assert.ts";
import type { LedgerIntent, SealedEnvelope } from "./types.ts";

/** Builds the intent of a sealed envelope for `tenant`. Quarantined manifests have none. */
export function intentOf(envelope: SealedEnvelope, tenant: string): LedgerIntent {
  const m = envelope.manifest;
  assert(m.status === "sealed", "only sealed manifests emit intents");
  const transfers = m.payouts.map((p) => ({ to: p.account, amount_minor: p.amount_minor }));
  let total = BigInt(m.totals.payout_minor);
  if (m.fee !== null && BigInt(m.fee.amount_minor) > 0n) {
    transfers.push({ to: m.fee.account, amount_minor: m.fee.amount_minor });
    total += BigInt(m.fee.amount_minor);
  }
  return {
    schema: "svc-rewarder.intent.v1",
    tenant,
    run_key: m.run_key,
    epoch_id: m.epoch_id,
    manifest_hash: envelope.manifest_hash,
    asset: m.asset,
    funding_source: m.funding_source,
    total_minor: total.toString(),
    transfers,
    signatures: envelope.signatures,
  };
}
