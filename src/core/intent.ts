/**
 * The ledger intent of a sealed run (contract §7): the payouts, then the fee (if > 0) to the
 * fee account; `total_minor` is their sum; the manifest's header and signatures ride along so
 * the ledger can check the commitment (BLAKE3(JCS(header)) = `manifest_hash`, the transfers
 * before the fee rebuild `header.payouts_root`, a published signature verifies).
 *
 * An intent's bytes and key are fixed when first enqueued (§7): these builders run once per
 * run, never on resend. A pending v1 intent stays v1; {@link intentV1Of} exists for fixtures
 * and tests of that upgrade path, not for new runs.
 *
 * @module
 */
import { assert } from "./assert.ts";
import { MANIFEST_SCHEMA_V2, manifestHeaderOf } from "./manifest.ts";
import type { LedgerIntentV1, LedgerIntentV2, SealedEnvelope, Transfer } from "./types.ts";

/** What the intent of a run needs besides its envelope. */
export interface IntentOptions {
  /** The compute token's tenant (contract §7). */
  tenant: string;
  /** `intentKeyOf({tenant, runKey})` (contract §5): the ledger's Idempotency-Key. */
  intentKey: string;
}

function transfersOf(envelope: SealedEnvelope): { transfers: Transfer[]; totalMinor: string } {
  const m = envelope.manifest;
  assert(m.status === "sealed", "only sealed manifests emit intents");
  const transfers = m.payouts.map((p) => ({ to: p.account, amount_minor: p.amount_minor }));
  let total = BigInt(m.totals.payout_minor);
  if (m.fee !== null && BigInt(m.fee.amount_minor) > 0n) {
    transfers.push({ to: m.fee.account, amount_minor: m.fee.amount_minor });
    total += BigInt(m.fee.amount_minor);
  }
  return { transfers, totalMinor: total.toString() };
}

/**
 * Builds the `svc-rewarder.intent.v2` of a sealed v2 envelope for `tenant` under
 * `intentKey`. Quarantined manifests and v1 manifests have none (a v1 run's intent, if any,
 * was queued as v1 and is resent as stored).
 *
 * @example
 * ```ts
 * const intentKey = intentKeyOf({ tenant: "acme", runKey: envelope.manifest.run_key });
 * const intent = intentOf(envelope, { tenant: "acme", intentKey });
 * ```
 */
export function intentOf(envelope: SealedEnvelope, options: IntentOptions): LedgerIntentV2 {
  const m = envelope.manifest;
  assert(m.schema === MANIFEST_SCHEMA_V2, "v2 intents carry v2 manifests only");
  const { transfers, totalMinor } = transfersOf(envelope);
  return {
    schema: "svc-rewarder.intent.v2",
    tenant: options.tenant,
    intent_key: options.intentKey,
    run_key: m.run_key,
    epoch_id: m.epoch_id,
    manifest_hash: envelope.manifest_hash,
    asset: m.asset,
    funding_source: m.funding_source,
    total_minor: totalMinor,
    transfers,
    header: manifestHeaderOf(m),
    signatures: envelope.signatures,
  };
}

/** The v1 intent of a sealed envelope (contract v1 §7: keyed by its run key, no header). */
export function intentV1Of(envelope: SealedEnvelope, tenant: string): LedgerIntentV1 {
  const m = envelope.manifest;
  const { transfers, totalMinor } = transfersOf(envelope);
  return {
    schema: "svc-rewarder.intent.v1",
    tenant,
    run_key: m.run_key,
    epoch_id: m.epoch_id,
    manifest_hash: envelope.manifest_hash,
    asset: m.asset,
    funding_source: m.funding_source,
    total_minor: totalMinor,
    transfers,
    signatures: envelope.signatures,
  };
}
