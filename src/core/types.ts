/**
 * Wire types of the contract (§3, §6, §7, §10). Money is a decimal string on the wire and a
 * `bigint` inside the core.
 *
 * @module
 */

/** `b3:` + 64 lowercase hex (contract §1). */
export type Cid = string;

/** A detached signature in an envelope (contract §3, §6). */
export interface Signature {
  alg: "ed25519" | "ml-dsa-65";
  kid: string;
  /** base64url, no padding. */
  sig: string;
}

/** Totals block of a manifest (contract §6). */
export interface ManifestTotals {
  pool_minor: string;
  fee_minor: string;
  payout_minor: string;
  residual_minor: string;
  recipients: number;
}

/** One payout line (contract §6). */
export interface Payout {
  account: string;
  amount_minor: string;
}

/** `svc-rewarder.manifest.v1` (contract §6). */
export interface Manifest {
  schema: "svc-rewarder.manifest.v1";
  epoch_id: string;
  run_key: Cid;
  inputs_cid: Cid;
  policy_id: string;
  policy_hash: Cid;
  status: "sealed" | "quarantined";
  asset: string;
  funding_source: string;
  totals: ManifestTotals;
  fee: { account: string; amount_minor: string } | null;
  residual: {
    account: string | null;
    amount_minor: string;
    rounding_minor: string;
    below_min_minor: string;
    capped_minor: string;
  };
  payouts: Payout[];
  payouts_root: Cid;
  quarantine: { reason: QuarantineReason } | null;
}

/** Why a run was quarantined (contract §4.9). */
export type QuarantineReason = "overflow" | "conservation" | "negative";

/** Sealed manifest envelope (contract §6). */
export interface SealedEnvelope {
  manifest: Manifest;
  manifest_hash: Cid;
  signatures: Signature[];
}

/** Emission states of a run (contract §10). */
export type Emission = "dry_run" | "suppressed" | "pending" | "accepted" | "duplicate" | "failed";

/** Run record (contract §10). */
export interface RunRecord {
  run_key: Cid;
  epoch_id: string;
  manifest_hash: Cid;
  status: "sealed" | "quarantined";
  dry_run: boolean;
  replayed: boolean;
  emission: Emission;
  totals: ManifestTotals;
}

/** Ledger intent `svc-rewarder.intent.v1` (contract §7). */
export interface LedgerIntent {
  schema: "svc-rewarder.intent.v1";
  tenant: string;
  run_key: Cid;
  epoch_id: string;
  manifest_hash: Cid;
  asset: string;
  funding_source: string;
  total_minor: string;
  transfers: { to: string; amount_minor: string }[];
  signatures: Signature[];
}

/** Signed policy envelope (contract §3). */
export interface PolicyEnvelope {
  policy: unknown;
  policy_hash: Cid;
  signatures: Signature[];
}
