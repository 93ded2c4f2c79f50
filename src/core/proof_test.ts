import assert from "node:assert/strict";
import { canonicalJson } from "./canonical_json.ts";
import { computeManifest } from "./compute.ts";
import { publicKeyOf } from "./ed25519.ts";
import { intentOf } from "./intent.ts";
import { headerHashOf, manifestHashOf, manifestHeaderOf } from "./manifest.ts";
import { parsePolicy } from "./policy.ts";
import { proofDocumentOf, verifyProofDocument } from "./proof.ts";
import { intentKeyOf } from "./run_key.ts";
import { MANIFEST_SIG_DOMAIN_V2, sealManifest, verifyEnvelope, type VerifyKey } from "./seal.ts";
import type { ProofDocumentV2, SealedEnvelope } from "./types.ts";

const seed = new Uint8Array(32).fill(7);
const keys: VerifyKey[] = [
  { alg: "ed25519", kid: "k1", publicKey: publicKeyOf(seed), status: "active" },
];

async function sealedOf(recipients: number): Promise<SealedEnvelope> {
  const entries = Array.from(
    { length: recipients },
    (_, i) => `{"account":"a${String(i).padStart(3, "0")}","metrics":{"votes":"${i + 1}"}}`,
  );
  const inputs = `{"schema":"svc-rewarder.inputs.v1","epoch_id":"e1","asset":"roc",` +
    `"pool_minor":"100000","entries":[${entries.join(",")}]}`;
  const policy = parsePolicy({
    schema: "svc-rewarder.policy.v1",
    policy_id: "p",
    version: 1,
    asset: "roc",
    funding_source: "protocol_pool",
    pool: { source: "inputs" },
    score: [{ metric: "votes", mul: "1", div: "1" }],
    fee: { bps: 100, account: "treasury" },
    allocation: "largest_remainder",
  });
  if (!policy.ok) throw policy.error;
  const out = computeManifest({
    epochId: "e1",
    inputsBytes: new TextEncoder().encode(inputs),
    policy: policy.value.policy,
    policyHash: "b3:" + "b".repeat(64),
  });
  if (!out.ok) throw out.error;
  return await sealManifest(out.value.manifest, [{ alg: "ed25519", kid: "k1", seed }]);
}

Deno.test("v2 manifest_hash covers the header only, and the envelope verifies", async () => {
  const envelope = await sealedOf(5);
  assert.equal(envelope.manifest.schema, "svc-rewarder.manifest.v2");
  const header = manifestHeaderOf(envelope.manifest);
  assert.equal("payouts" in header, false);
  assert.equal(envelope.manifest_hash, headerHashOf(header));
  assert.equal(manifestHashOf(envelope.manifest), envelope.manifest_hash);
  assert.deepEqual(verifyEnvelope(envelope, keys), { ok: true, value: undefined });
});

Deno.test("verifyEnvelope: extra or missing members, order, amounts and sums are refused", async () => {
  const envelope = await sealedOf(4);
  const reasonOf = (mutate: (m: Record<string, unknown>) => void) => {
    const copy = JSON.parse(canonicalJson(envelope));
    mutate(copy.manifest);
    copy.manifest_hash = manifestHashOf(copy.manifest);
    const r = verifyEnvelope(copy, keys);
    return r.ok ? "ok" : r.error.reason;
  };
  assert.equal(reasonOf(() => {}), "ok");
  assert.equal(reasonOf((m) => (m.notes = "x")), "schema");
  assert.equal(reasonOf((m) => delete m.quarantine), "schema");
  const payouts = (m: Record<string, unknown>) => m.payouts as { amount_minor: string }[];
  assert.equal(reasonOf((m) => payouts(m).reverse()), "arithmetic");
  assert.equal(reasonOf((m) => (payouts(m)[0]!.amount_minor = "01")), "schema");
  assert.equal(
    reasonOf((m) => ((m.totals as { recipients: number }).recipients = 3)),
    "arithmetic",
  );
  assert.equal(reasonOf((m) => (m.payouts_root = "b3:" + "0".repeat(64))), "payouts_root");
  const unsigned = { ...envelope, signatures: [] };
  assert.equal(
    (verifyEnvelope(unsigned, keys) as { error: { reason: string } }).error.reason,
    "no_signature",
  );
  const v1Statement = {
    ...envelope,
    manifest: { ...envelope.manifest, schema: "svc-rewarder.manifest.v1" },
  };
  assert.equal(verifyEnvelope(v1Statement, keys).ok, false);
});

Deno.test("a v2 proof document verifies with only the keys, for every recipient", async () => {
  for (const n of [1, 2, 3, 5, 8]) {
    const envelope = await sealedOf(n);
    for (const p of envelope.manifest.payouts) {
      const doc = proofDocumentOf(envelope, p.account) as ProofDocumentV2;
      assert.equal(doc.schema, "svc-rewarder.proof.v2");
      const roundTrip = JSON.parse(canonicalJson(doc));
      const r = verifyProofDocument(roundTrip, keys);
      assert.equal(r.ok, true, `${n} ${p.account}: ${r.ok ? "" : r.error.reason}`);
    }
    assert.equal(proofDocumentOf(envelope, "nobody"), undefined);
  }
});

Deno.test("a v2 proof refuses another index, another path shape, a forged header or leaf", async () => {
  const envelope = await sealedOf(5);
  const doc = JSON.parse(canonicalJson(proofDocumentOf(envelope, "a004")));
  const reasonOf = (mutate: (d: Record<string, unknown>) => void) => {
    const copy = structuredClone(doc);
    mutate(copy);
    const r = verifyProofDocument(copy, keys);
    return r.ok ? "ok" : r.error.reason;
  };
  assert.equal(reasonOf(() => {}), "ok");
  assert.equal(reasonOf((d) => (d.index = 0)), "path"); // index 0 of 5 has three steps
  assert.equal(reasonOf((d) => (d.index = 5)), "index");
  assert.equal(reasonOf((d) => (d.amount_minor = "1")), "leaf");
  assert.equal(reasonOf((d) => (d.extra = 1)), "schema");
  assert.equal(reasonOf((d) => delete d.index), "schema");
  assert.equal(
    reasonOf((d) => ((d.header as { epoch_id: string }).epoch_id = "e2")),
    "manifest_hash",
  );
  assert.equal(reasonOf((d) => (d.signatures = [])), "no_signature");
  // The same path under a larger claimed tree: the sides no longer fit (index, recipients).
  assert.equal(
    reasonOf((d) => ((d.header as { totals: { recipients: number } }).totals.recipients = 6)),
    "path",
  );
});

Deno.test("intent v2: header, intent key, payouts then fee; per-tenant keys differ", async () => {
  const envelope = await sealedOf(3);
  const runKey = envelope.manifest.run_key;
  const a = intentOf(envelope, { tenant: "a", intentKey: intentKeyOf({ tenant: "a", runKey }) });
  const b = intentOf(envelope, { tenant: "b", intentKey: intentKeyOf({ tenant: "b", runKey }) });
  assert.notEqual(a.intent_key, b.intent_key);
  assert.equal(a.run_key, b.run_key);
  assert.deepEqual(a.header, manifestHeaderOf(envelope.manifest));
  assert.equal(headerHashOf(a.header), a.manifest_hash);
  const last = a.transfers[a.transfers.length - 1]!;
  assert.deepEqual(last, { to: "treasury", amount_minor: envelope.manifest.fee!.amount_minor });
  const sum = a.transfers.reduce((s, t) => s + BigInt(t.amount_minor), 0n);
  assert.equal(a.total_minor, sum.toString());
  assert.ok(MANIFEST_SIG_DOMAIN_V2.endsWith("/v2:"));
});
