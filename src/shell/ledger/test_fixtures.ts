/**
 * Test-only fixtures: fake-but-well-formed sealed envelopes and ledger intents, signed with a
 * deterministic Ed25519 test key, independent of the engine (written concurrently).
 *
 * @module
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { canonicalBytes } from "../../core/canonical_json.ts";
import { cidOf } from "../../core/cid.ts";
import { toBase64Url } from "../../core/base64url.ts";
import type { LedgerIntent, Manifest, SealedEnvelope } from "../../core/types.ts";
import type { StoredRun } from "../store/run_store.ts";

ed.hashes.sha512 = sha512;

/** Deterministic test signing key (seed = 32 × 0x07). */
export const TEST_SECRET_KEY: Uint8Array = new Uint8Array(32).fill(7);
/** Its kid. */
export const TEST_KID = "test-key-1";
/** `{"keys":[...]}` document for the dev ledger. */
export function testKeysDocument(): {
  keys: { kid: string; alg: "ed25519"; public_key: string }[];
} {
  return {
    keys: [{
      kid: TEST_KID,
      alg: "ed25519",
      public_key: toBase64Url(ed.getPublicKey(TEST_SECRET_KEY)),
    }],
  };
}

/** A fake run: envelope + intent + meta inputs. */
export interface FakeRun {
  tenant: string;
  runKey: string;
  epochId: string;
  policyHash: string;
  inputsCid: string;
  envelope: SealedEnvelope;
  intent: LedgerIntent;
}

/** Builds a well-formed signed envelope and its intent. `variant` changes the run key. */
export function fakeRun(
  options: { tenant?: string; epochId?: string; variant?: string; quarantined?: boolean } = {},
): FakeRun {
  const tenant = options.tenant ?? "acme";
  const epochId = options.epochId ?? "epoch-1";
  const variant = options.variant ?? "a";
  const policyHash = cidOf(`policy|${variant}`);
  const inputsCid = cidOf(`inputs|${variant}`);
  const runKey = cidOf(`svc-rewarder|v1|${epochId}|${policyHash}|${inputsCid}`);
  const q = options.quarantined === true;
  const payouts = q ? [] : [
    { account: "acct_a", amount_minor: "356" },
    { account: "acct_b", amount_minor: "643" },
  ];
  const manifest: Manifest = {
    schema: "svc-rewarder.manifest.v1",
    epoch_id: epochId,
    run_key: runKey,
    inputs_cid: inputsCid,
    policy_id: "pol-1",
    policy_hash: policyHash,
    status: q ? "quarantined" : "sealed",
    asset: "roc",
    funding_source: "protocol_pool",
    totals: {
      pool_minor: "1000",
      fee_minor: "0",
      payout_minor: q ? "0" : "999",
      residual_minor: q ? "1000" : "1",
      recipients: payouts.length,
    },
    fee: null,
    residual: {
      account: "treasury",
      amount_minor: q ? "1000" : "1",
      rounding_minor: q ? "1000" : "1",
      below_min_minor: "0",
      capped_minor: "0",
    },
    payouts,
    payouts_root: cidOf(variant),
    quarantine: q ? { reason: "overflow" } : null,
  };
  const manifestHash = cidOf(canonicalBytes(manifest));
  const msg = new TextEncoder().encode(`svc-rewarder/manifest-sig/v1:${manifestHash}`);
  const signatures = [{
    alg: "ed25519" as const,
    kid: TEST_KID,
    sig: toBase64Url(ed.sign(msg, TEST_SECRET_KEY)),
  }];
  const envelope: SealedEnvelope = { manifest, manifest_hash: manifestHash, signatures };
  const intent: LedgerIntent = {
    schema: "svc-rewarder.intent.v1",
    tenant,
    run_key: runKey,
    epoch_id: epochId,
    manifest_hash: manifestHash,
    asset: "roc",
    funding_source: "protocol_pool",
    total_minor: "999",
    transfers: payouts.map((p) => ({ to: p.account, amount_minor: p.amount_minor })),
    signatures,
  };
  return { tenant, runKey, epochId, policyHash, inputsCid, envelope, intent };
}

/** A StoredRun for store-level tests. */
export function storedRunOf(
  f: FakeRun,
  options: { dryRun: boolean; seq: number; atMs: number },
): StoredRun {
  const m = f.envelope.manifest;
  return {
    tenant: f.tenant,
    record: {
      run_key: f.runKey,
      epoch_id: f.epochId,
      manifest_hash: f.envelope.manifest_hash,
      status: m.status,
      dry_run: options.dryRun,
      totals: m.totals,
    },
    envelope: f.envelope,
    meta: {
      policyHash: f.policyHash,
      inputsCid: f.inputsCid,
      createdSeq: options.seq,
      createdAtMs: options.atMs,
    },
  };
}
