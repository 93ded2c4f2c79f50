/**
 * Test-only fixtures: fake-but-well-formed sealed envelopes and ledger intents, signed with a
 * deterministic Ed25519 test key, independent of the engine (written concurrently).
 *
 * @module
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { canonicalBytes } from "../../src/core/canonical_json.ts";
import { cidOf } from "../../src/core/cid.ts";
import { leafHash, merkleRoot, toHex } from "../../src/core/merkle.ts";
import { toBase64Url } from "../../src/core/base64url.ts";
import { intentKeyOf } from "../../src/core/run_key.ts";
import type {
  LedgerIntent,
  Manifest,
  ManifestHeader,
  SealedEnvelope,
} from "../../src/core/types.ts";
import {
  type QueuedIntent,
  queuedIntentOf,
  type StoredRun,
} from "../../src/shell/store/run_store.ts";

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
  /** The per-tenant intent key (contract §5); null for a v1 run. */
  intentKey: string | null;
  epochId: string;
  policyHash: string;
  inputsCid: string;
  envelope: SealedEnvelope;
  intent: LedgerIntent;
  /** The intent as the registry queues it (key + exact body text). */
  queued: QueuedIntent;
}

/**
 * Builds a well-formed signed envelope and its intent. `variant` changes the run key (and the
 * inputs CID unless `inputsCid` is given). v2 (manifest hash over the header, intent v2 keyed
 * by the intent key) unless `v1` asks for the v1 shapes that a store written before the
 * upgrade holds.
 */
export function fakeRun(
  options: {
    tenant?: string;
    epochId?: string;
    variant?: string;
    quarantined?: boolean;
    inputsCid?: string;
    v1?: boolean;
    /** A fee paid to `treasury` (a trailing fee transfer in the intent). */
    feeMinor?: string;
  } = {},
): FakeRun {
  const v1 = options.v1 === true;
  const feeMinor = options.feeMinor ?? "0";
  const tenant = options.tenant ?? "acme";
  const epochId = options.epochId ?? "epoch-1";
  const variant = options.variant ?? "a";
  const policyHash = cidOf(`policy|${variant}`);
  const inputsCid = options.inputsCid ?? cidOf(`inputs|${variant}`);
  const runKey = cidOf(`svc-rewarder|v1|${epochId}|${policyHash}|${inputsCid}`);
  const q = options.quarantined === true;
  const payouts = q ? [] : [
    { account: "acct_a", amount_minor: "356" },
    { account: "acct_b", amount_minor: "643" },
  ];
  const manifest: Manifest = {
    schema: v1 ? "svc-rewarder.manifest.v1" : "svc-rewarder.manifest.v2",
    epoch_id: epochId,
    run_key: runKey,
    inputs_cid: inputsCid,
    policy_id: "pol-1",
    policy_hash: policyHash,
    status: q ? "quarantined" : "sealed",
    asset: "roc",
    funding_source: "protocol_pool",
    totals: {
      pool_minor: (1000n + BigInt(feeMinor)).toString(),
      fee_minor: feeMinor,
      payout_minor: q ? "0" : "999",
      residual_minor: q ? "1000" : "1",
      recipients: payouts.length,
    },
    fee: options.feeMinor === undefined ? null : { account: "treasury", amount_minor: feeMinor },
    residual: {
      account: "treasury",
      amount_minor: q ? "1000" : "1",
      rounding_minor: q ? "1000" : "1",
      below_min_minor: "0",
      capped_minor: "0",
    },
    payouts,
    payouts_root: `b3:${
      toHex(merkleRoot(payouts.map((p) => leafHash(p.account, p.amount_minor))))
    }`,
    quarantine: q ? { reason: "overflow" } : null,
  };
  const { payouts: _payouts, ...header } = manifest;
  const manifestHash = cidOf(canonicalBytes(v1 ? manifest : header));
  const statement = v1 ? "svc-rewarder/manifest-sig/v1:" : "svc-rewarder/manifest-sig/v2:";
  const msg = new TextEncoder().encode(`${statement}${manifestHash}`);
  const signatures = [{
    alg: "ed25519" as const,
    kid: TEST_KID,
    sig: toBase64Url(ed.sign(msg, TEST_SECRET_KEY)),
  }];
  const envelope: SealedEnvelope = { manifest, manifest_hash: manifestHash, signatures };
  const intentKey = v1 ? null : intentKeyOf({ tenant, runKey });
  const common = {
    tenant,
    run_key: runKey,
    epoch_id: epochId,
    manifest_hash: manifestHash,
    asset: "roc",
    funding_source: "protocol_pool",
    total_minor: (999n + BigInt(feeMinor)).toString(),
    transfers: [
      ...payouts.map((p) => ({ to: p.account, amount_minor: p.amount_minor })),
      ...(feeMinor === "0" ? [] : [{ to: "treasury", amount_minor: feeMinor }]),
    ],
  };
  const intent: LedgerIntent = intentKey === null
    ? { schema: "svc-rewarder.intent.v1", ...common, signatures }
    : {
      schema: "svc-rewarder.intent.v2",
      ...common,
      intent_key: intentKey,
      header: header as ManifestHeader,
      signatures,
    };
  return {
    tenant,
    runKey,
    intentKey,
    epochId,
    policyHash,
    inputsCid,
    envelope,
    intent,
    queued: queuedIntentOf(intent),
  };
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
      intent_key: options.dryRun ? null : f.intentKey,
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
