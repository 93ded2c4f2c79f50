/**
 * Wire types of the contract (§3, §6, §7, §10). Money is a decimal string on the wire and a
 * `bigint` inside the core.
 *
 * @module
 */

/** `b3:` + 64 lowercase hex (contract §1). */
export type CidString = string;

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

/** Manifest schema names: v2 is produced; v1 stays verifiable (contract §6). */
export type ManifestSchema = "svc-rewarder.manifest.v1" | "svc-rewarder.manifest.v2";

/**
 * `svc-rewarder.manifest.v2` (contract §6), or a stored v1 manifest (same members; only the
 * hash rule and the signature statement differ, chosen by `schema`).
 */
export interface Manifest {
  schema: ManifestSchema;
  epoch_id: string;
  run_key: CidString;
  inputs_cid: CidString;
  policy_id: string;
  policy_hash: CidString;
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
  payouts_root: CidString;
  quarantine: { reason: QuarantineReason } | null;
}

/** Why a run was quarantined (contract §4.9). */
export type QuarantineReason = "overflow" | "conservation" | "negative";

/**
 * The manifest header (contract §6): the manifest without `payouts`. In v2,
 * `manifest_hash` = `b3:` + BLAKE3(JCS(header)).
 */
export type ManifestHeader = Omit<Manifest, "payouts">;

/** Sealed manifest envelope (contract §6). */
export interface SealedEnvelope {
  manifest: Manifest;
  manifest_hash: CidString;
  signatures: Signature[];
}

/** Emission states of a run (contract §10). */
export type Emission = "dry_run" | "suppressed" | "pending" | "accepted" | "duplicate" | "failed";

/** Run record (contract §10). */
export interface RunRecord {
  run_key: CidString;
  /** The run's ledger Idempotency-Key (contract §5); null for dry runs and for v1 runs. */
  intent_key: CidString | null;
  epoch_id: string;
  manifest_hash: CidString;
  status: "sealed" | "quarantined";
  dry_run: boolean;
  replayed: boolean;
  emission: Emission;
  totals: ManifestTotals;
}

/** One transfer of a ledger intent (contract §7). */
export interface Transfer {
  to: string;
  amount_minor: string;
}

/** Ledger intent `svc-rewarder.intent.v2` (contract §7): keyed by `intent_key`. */
export interface LedgerIntentV2 {
  schema: "svc-rewarder.intent.v2";
  tenant: string;
  intent_key: CidString;
  run_key: CidString;
  epoch_id: string;
  manifest_hash: CidString;
  asset: string;
  funding_source: string;
  total_minor: string;
  transfers: Transfer[];
  header: ManifestHeader;
  signatures: Signature[];
}

/** Any ledger intent the outbox may hold: v2, or a pending v1 one queued before the upgrade. */
export type LedgerIntent = LedgerIntentV1 | LedgerIntentV2;

/** One step of an inclusion path (contract §6): `side` is the sibling's position. */
export interface ProofStep {
  side: "L" | "R";
  /** 64 lowercase hex. */
  hash: string;
}

/** Proof document `svc-rewarder.proof.v2` (contract §6): verifies alone, with the keys. */
export interface ProofDocumentV2 {
  schema: "svc-rewarder.proof.v2";
  account: string;
  amount_minor: string;
  /** 0-based position in the manifest's payouts. */
  index: number;
  /** 64 lowercase hex. */
  leaf: string;
  proof: ProofStep[];
  header: ManifestHeader;
  manifest_hash: CidString;
  signatures: Signature[];
}

/** Proof document of a v1 envelope (no `schema`; its v1 shape is kept). */
export interface ProofDocumentV1 {
  account: string;
  amount_minor: string;
  leaf: string;
  proof: ProofStep[];
  payouts_root: CidString;
  manifest_hash: CidString;
  signatures: Signature[];
}

/** Ledger intent `svc-rewarder.intent.v1` (contract §7 of v1): keyed by its run key. */
export interface LedgerIntentV1 {
  schema: "svc-rewarder.intent.v1";
  tenant: string;
  run_key: CidString;
  epoch_id: string;
  manifest_hash: CidString;
  asset: string;
  funding_source: string;
  total_minor: string;
  transfers: Transfer[];
  signatures: Signature[];
}

/** Signed policy envelope (contract §3). */
export interface PolicyEnvelope {
  policy: unknown;
  policy_hash: CidString;
  signatures: Signature[];
}
