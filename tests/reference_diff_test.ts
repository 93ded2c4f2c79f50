/**
 * Differential tests: the production core against the independent reference implementation
 * (tests/reference/, written from the contract alone, with another BLAKE3 and another Ed25519
 * verifier). On every golden vector, a generated 10k epoch and ≥ 1,000 random epochs, the
 * contract v2 bytes must be identical: manifest, manifest_hash (header hash, §6), sealed
 * envelope (v2 statement), proof documents v2, intent keys and intent v2 bodies (§5, §7). Each
 * side also verifies what the other produced, and both still verify v1 envelopes and proofs.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import keysDoc from "../vectors/keys/vector-keys.json" with { type: "json" };
import signingKeyFile from "../vectors/keys/vector-signing.key.json" with { type: "json" };
import { fromBase64Url } from "../src/core/base64url.ts";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { computeManifest } from "../src/core/compute.ts";
import { intentOf } from "../src/core/intent.ts";
import { parsePolicy, policyHashOf } from "../src/core/policy.ts";
import { proofDocumentOf, verifyProofDocument } from "../src/core/proof.ts";
import { intentKeyOf } from "../src/core/run_key.ts";
import { sealManifest, type SigningKey, verifyEnvelope, type VerifyKey } from "../src/core/seal.ts";
import type { Manifest, SealedEnvelope } from "../src/core/types.ts";
import { VECTOR_CASES } from "../vectors/cases.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../vectors/generate_epoch.ts";
import {
  refCanonicalJson,
  refCompute,
  refIntent,
  refIntentKey,
  refProofDocument,
} from "./reference/reference_impl.ts";
import {
  refPublishedKeys,
  refSeal,
  refVerifyEnvelope,
  refVerifyProof,
} from "./reference/reference_verify.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 1000);
const TENANTS = ["acme", "beta"];
const REF_KEYS = refPublishedKeys(keysDoc);
const PROD_KEYS: VerifyKey[] = keysDoc.keys.map((k) => ({
  alg: "ed25519",
  kid: k.kid,
  publicKey: fromBase64Url(k.public_key),
  status: "active",
}));
const PROD_SIGNING: SigningKey[] = [{
  alg: "ed25519",
  kid: signingKeyFile.kid,
  seed: fromBase64Url(signingKeyFile.private_key),
}];

type Obj = Record<string, unknown>;

function production(epochId: string, inputs: string, policyDoc: unknown) {
  const parsed = parsePolicy(policyDoc);
  if (!parsed.ok) return { ok: false as const, reason: parsed.error.reason };
  const out = computeManifest({
    epochId,
    inputsBytes: new TextEncoder().encode(inputs),
    policy: parsed.value.policy,
    policyHash: policyHashOf(policyDoc),
  });
  if (!out.ok) return { ok: false as const, reason: out.error.reason };
  return { ok: true as const, manifest: out.value.manifest, manifestHash: out.value.manifestHash };
}

/** Which payouts get their proof compared: all of a small epoch, a spread of a large one. */
function sampleIndexes(count: number): number[] {
  if (count <= 16) return Array.from({ length: count }, (_, i) => i);
  const picks = new Set([0, 1, 2, count >> 1, count - 3, count - 2, count - 1]);
  return [...picks].sort((a, b) => a - b);
}

async function agree(epochId: string, inputs: string, policyDoc: unknown): Promise<void> {
  const ours = production(epochId, inputs, policyDoc);
  const ref = refCompute({ epochId, inputsBytes: new TextEncoder().encode(inputs), policyDoc });
  assert.equal(
    ours.ok,
    ref.ok,
    `accept/reject agree (ours ${ours.ok ? "ok" : ours.reason}, ref ${ref.ok ? "ok" : ref.reason})`,
  );
  if (!ours.ok || !ref.ok) return;
  // manifest v2 and its header hash (§6), each side serialising with its own JCS
  assert.equal(canonicalJson(ours.manifest), refCanonicalJson(ref.manifest));
  assert.equal(ours.manifestHash, ref.manifestHash);
  // sealed envelope: Ed25519 is deterministic, so the v2 statement's signature bytes agree
  const ourEnv = await sealManifest(ours.manifest, PROD_SIGNING, ours.manifestHash);
  const refEnv = await refSeal(ref.manifest, signingKeyFile);
  assert.equal(canonicalJson(ourEnv), refCanonicalJson(refEnv));
  assert.deepEqual(await refVerifyEnvelope(ourEnv, REF_KEYS), { ok: true });
  const checked = verifyEnvelope(refEnv, PROD_KEYS);
  assert.ok(checked.ok, `production verifies the reference envelope: ${JSON.stringify(checked)}`);
  await agreeOnProofs(ourEnv, refEnv);
  agreeOnIntents(ourEnv, refEnv);
}

async function agreeOnProofs(ourEnv: SealedEnvelope, refEnv: Obj): Promise<void> {
  const payouts = ourEnv.manifest.payouts;
  for (const i of sampleIndexes(payouts.length)) {
    const account = payouts[i]!.account;
    const ourDoc = proofDocumentOf(ourEnv, account);
    const refDoc = refProofDocument(refEnv, account);
    assert.ok(ourDoc !== undefined && refDoc !== null);
    assert.equal(canonicalJson(ourDoc), refCanonicalJson(refDoc));
    assert.deepEqual(await refVerifyProof(ourDoc, REF_KEYS), { ok: true });
    const checked = verifyProofDocument(refDoc, PROD_KEYS);
    assert.ok(checked.ok, `production verifies the reference proof: ${JSON.stringify(checked)}`);
  }
  // an account without a payout has no proof on either side (the route's 404 no_payout)
  assert.equal(proofDocumentOf(ourEnv, "no.such-account"), undefined);
  assert.equal(refProofDocument(refEnv, "no.such-account"), null);
}

function agreeOnIntents(ourEnv: SealedEnvelope, refEnv: Obj): void {
  const ref = TENANTS.map((tenant) => refIntent(refEnv, tenant));
  if (ourEnv.manifest.status !== "sealed") {
    assert.deepEqual(ref, [null, null]); // a quarantined run never emits (§6)
    return;
  }
  for (const [i, tenant] of TENANTS.entries()) {
    const intentKey = intentKeyOf({ tenant, runKey: ourEnv.manifest.run_key });
    assert.equal(intentKey, refIntentKey(tenant, ourEnv.manifest.run_key));
    assert.equal(intentKey, ref[i]!.idempotencyKey);
    assert.equal(canonicalJson(intentOf(ourEnv, { tenant, intentKey })), ref[i]!.body);
  }
  assert.notEqual(ref[0]!.idempotencyKey, ref[1]!.idempotencyKey); // per-tenant keys (§5)
}

for (const vector of VECTOR_CASES) {
  Deno.test(`reference agrees on vector ${vector.name}`, () =>
    agree(vector.epochId, vector.inputs, vector.policy));
}

Deno.test("reference agrees on a generated 10k epoch", () =>
  agree("medium-10k", generateEpochInputs("medium-10k", 10_000), GENERATED_POLICY));

Deno.test("both sides still verify v1 envelopes and v1-shaped proofs by the v1 rules", async () => {
  const vector = VECTOR_CASES.find((v) => v.name === "rustyonions-interop")!;
  const ref = refCompute({
    epochId: vector.epochId,
    inputsBytes: new TextEncoder().encode(vector.inputs),
    policyDoc: vector.policy,
    schema: "svc-rewarder.manifest.v1",
  });
  assert.ok(ref.ok);
  const env = await refSeal(ref.manifest, signingKeyFile);
  const checked = verifyEnvelope(env, PROD_KEYS);
  assert.ok(checked.ok, JSON.stringify(checked));
  const ours = proofDocumentOf(env as unknown as SealedEnvelope, "acct_b")!;
  assert.equal(canonicalJson(ours), refCanonicalJson(refProofDocument(env, "acct_b")));
  assert.ok(verifyProofDocument(ours, PROD_KEYS).ok);
  // a v1 manifest relabelled v2 is refused by both (the hash rule follows `schema`)
  const relabelled = structuredClone(env);
  (relabelled.manifest as Manifest).schema = "svc-rewarder.manifest.v2";
  assert.equal(verifyEnvelope(relabelled, PROD_KEYS).ok, false);
  assert.deepEqual(await refVerifyEnvelope(relabelled, REF_KEYS), { ok: false, reason: "hash" });
});

Deno.test("I-JSON and integer literals: accept/reject agree on hand-made inputs", async () => {
  const ron = VECTOR_CASES.find((v) => v.name === "rustyonions-interop")!;
  const variants: [string, string][] = [
    ['"bytes_stored":100', '"bytes_stored":1e2'],
    ['"bytes_stored":100', '"bytes_stored":100.0'],
    ['"bytes_stored":100', '"bytes_stored":-0'],
    ['"produced_at_millis":1', '"produced_at_millis":1E0'],
    ['"acct_a"', '"acct\\ud800"'],
    ['"acct_a"', '"acct\\udfff_a"'],
    ['"acct_a"', '"acct_\\ufdd0"'],
    ['"pool_minor_units":"1000",', ""],
    ['"contributions"', '"pool_minor_units":"1","contributions"'],
    ['"acct_a"', '"."'],
  ];
  const disagreements: string[] = [];
  for (const [from, to] of variants) {
    assert.ok(ron.inputs.includes(from), from);
    try {
      await agree(ron.epochId, ron.inputs.replace(from, to), ron.policy);
    } catch (e) {
      disagreements.push(`${to}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  assert.deepEqual(disagreements, [], "every variant is judged alike (§1, §2)");
});

Deno.test("JCS: both sides refuse lone surrogates and agree on well-formed strings", () => {
  const strings = fc.array(
    fc.oneof(
      fc.constantFrom(0xd800, 0xdbff, 0xdc00, 0xdfff, 0x7f, 0x2028, 0xfffe),
      fc.integer({ min: 0, max: 0xffff }),
    ),
    { maxLength: 6 },
  ).map((units) => String.fromCharCode(...units));
  fc.assert(
    fc.property(strings, strings, (key, value) => {
      const doc = { [key]: [value], k: value };
      let ours: string | Error;
      let ref: string | Error;
      try {
        ours = canonicalJson(doc);
      } catch (e) {
        ours = e as Error;
      }
      try {
        ref = refCanonicalJson(doc);
      } catch (e) {
        ref = e as Error;
      }
      if (typeof ours === "string" || typeof ref === "string") assert.equal(ours, ref);
    }),
    { numRuns: RUNS },
  );
});

Deno.test("reference agrees on random epochs and policies", async () => {
  const money = (max: bigint) => fc.bigInt({ min: 0n, max }).map(String);
  const entries = fc.uniqueArray(
    fc.record({
      account: fc.stringMatching(/^[a-z0-9:./-]{1,6}$/).filter((a) => a !== "." && a !== ".."),
      x: money(10n ** 9n),
      y: money(10n ** 4n),
    }),
    { selector: (e) => e.account, maxLength: 20 },
  );
  const policy = fc.record({
    allocation: fc.constantFrom("floor", "largest_remainder"),
    fee: fc.option(
      fc.record({ bps: fc.integer({ min: 0, max: 10_000 }), account: fc.constant("fee") }),
      { nil: undefined },
    ),
    cap_minor: fc.option(money(10n ** 6n), { nil: undefined }),
    cap_excess: fc.option(fc.constantFrom("residual", "redistribute"), { nil: undefined }),
    min_payout_minor: fc.option(money(500n), { nil: undefined }),
    min_score: fc.option(money(50n), { nil: undefined }),
    div: fc.bigInt({ min: 1n, max: 9n }).map(String),
  });
  await fc.assert(
    fc.asyncProperty(entries, policy, money(10n ** 10n), async (es, p, pool) => {
      const { div, ...rest } = p;
      const doc = Object.fromEntries(
        Object.entries({
          schema: "svc-rewarder.policy.v1",
          policy_id: "diff",
          version: 1,
          asset: "roc",
          funding_source: "creator_pool",
          pool: { source: "inputs" },
          score: [{ metric: "x", mul: "1", div: "1" }, { metric: "y", mul: "7", div }],
          ...rest,
        }).filter(([, v]) => v !== undefined),
      );
      const inputs = JSON.stringify({
        schema: "svc-rewarder.inputs.v1",
        epoch_id: "diff",
        asset: "roc",
        pool_minor: pool,
        entries: es.map((e) => ({ account: e.account, metrics: { x: e.x, y: e.y } })),
      });
      await agree("diff", inputs, doc);
    }),
    { numRuns: RUNS },
  );
});
