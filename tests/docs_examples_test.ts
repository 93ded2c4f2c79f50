/**
 * The examples of docs/FORMATS.md and docs/API.md are real: every fenced block tagged
 * `example=<name>` is extracted and checked with the independent reference implementation
 * (tests/reference/), and every tagged block must be checked by some test here. The examples
 * settle the contract's RustyOnions snapshot as epoch `interop-epoch-1`, signed with the public
 * test key of vectors/keys/.
 */
import assert from "node:assert/strict";
import keysFile from "../vectors/keys/vector-keys.json" with { type: "json" };
import {
  refCanonicalJson,
  refCid,
  refCompute,
  refHeaderHash,
  refIntent,
  refIntentKey,
  refManifestHeader,
  refPolicyHash,
  refProofDocument,
  refRunKey,
} from "./reference/reference_impl.ts";
import {
  refPublishedKeys,
  refVerifyEnvelope,
  refVerifyIntent,
  refVerifyProof,
  refVerifyStatement,
} from "./reference/reference_verify.ts";

type Obj = Record<string, unknown>;

const DOCS = ["docs/FORMATS.md", "docs/API.md"];
/** The contract's published numbers (§4, §5). */
const CONTRACT_INPUTS_CID = "b3:81d428e1df7c29a8443467db8ed59ee2628ac43acd47c692fbc3c23ee495606d";
const CONTRACT_RUN_KEY = "b3:ffd1e7465fb118c067fd14c30a36e2e12ba27f1e1fca34c4b7edcac919dd9bb9";
/** §9 identifier grammar. */
const IDENTIFIER_RE =
  /^v2:([a-z0-9_-]{1,64}):([1-9][0-9]{0,8}):(S(,S){0,2}):((?:[0-9a-f]{2}){8,32})$/.source
    .replaceAll("S", "rewarder\\.(?:run|inspect|quarantine)");

/** name → text of every ```lang example=name block in the docs. */
function extractExamples(): Map<string, string> {
  const out = new Map<string, string>();
  const fence = /^```[a-z]+ example=([a-z0-9-]+)\n([\s\S]*?)\n```$/gm;
  for (const file of DOCS) {
    const text = Deno.readTextFileSync(new URL("../" + file, import.meta.url));
    for (const m of text.matchAll(fence)) {
      assert.ok(!out.has(m[1]!), `example ${m[1]} is defined once`);
      out.set(m[1]!, m[2]!);
    }
  }
  return out;
}

const EXAMPLES = extractExamples();
/** Every example a test below checks; the docs must hold exactly these. */
const CHECKED = [
  "compat-inputs",
  "compat-inputs-cid",
  "compute-body",
  "error",
  "gov-keys",
  "intent",
  "intent-keys",
  "keys",
  "native-inputs",
  "policy-envelope",
  "policy-full",
  "proof",
  "run-key",
  "run-record",
  "sealed-envelope",
  "token-identifier",
];

function text(name: string): string {
  assert.ok(CHECKED.includes(name), `${name} is listed as checked`);
  const t = EXAMPLES.get(name);
  assert.ok(t !== undefined, `the docs hold example ${name}`);
  return t;
}
const json = (name: string): Obj => JSON.parse(text(name));
const canon = (v: unknown) => refCanonicalJson(v);

const keys = () => refPublishedKeys(json("keys"));
const envelope = () => json("sealed-envelope");
const manifest = () => envelope().manifest as Obj;

Deno.test("published keys example is the test key's public document", () => {
  assert.equal(canon(json("keys")), canon(keysFile));
});

Deno.test("compat inputs: the contract's bytes and CID, and its 356/643 allocation", () => {
  const bytes = new TextEncoder().encode(text("compat-inputs"));
  assert.equal(refCid(bytes), CONTRACT_INPUTS_CID);
  assert.equal(text("compat-inputs-cid"), CONTRACT_INPUTS_CID);
  const policy = json("policy-envelope").policy;
  const r = refCompute({ epochId: "interop-epoch-1", inputsBytes: bytes, policyDoc: policy });
  assert.ok(r.ok);
  assert.deepEqual(r.manifest.payouts, [
    { account: "acct_a", amount_minor: "356" },
    { account: "acct_b", amount_minor: "643" },
  ]);
  assert.equal((r.manifest.residual as Obj).amount_minor, "1");
});

Deno.test("native inputs and the full policy are accepted together", () => {
  const inputs = json("native-inputs");
  const r = refCompute({
    epochId: inputs.epoch_id as string,
    inputsBytes: new TextEncoder().encode(text("native-inputs")),
    policyDoc: json("policy-full"),
  });
  assert.ok(r.ok, r.ok ? "" : r.reason);
  assert.equal(r.manifest.status, "sealed");
});

Deno.test("policy envelope: hash of the policy as written, governance signature verifies", async () => {
  const env = json("policy-envelope");
  assert.equal(env.policy_hash, refPolicyHash(env.policy));
  const gov = json("gov-keys") as { threshold: number; keys: Record<string, string> };
  assert.equal(gov.threshold, 1);
  const [sig] = env.signatures as { alg: string; kid: string; sig: string }[];
  assert.equal(sig!.alg, "ed25519");
  const statement = "svc-rewarder/policy-sig/v1:" + env.policy_hash;
  assert.ok(await refVerifyStatement(gov.keys[sig!.kid]!, sig!.sig, statement));
  assert.equal(await refVerifyStatement(gov.keys[sig!.kid]!, sig!.sig, statement + "0"), false);
});

Deno.test("run key example is the contract's", () => {
  const r = json("run-key");
  assert.equal(r.run_key, CONTRACT_RUN_KEY);
  assert.equal(
    refRunKey(
      r.salt as string,
      r.epoch_id as string,
      r.policy_hash as string,
      r.inputs_cid as string,
    ),
    r.run_key,
  );
});

Deno.test("intent keys: one per tenant for the example run", () => {
  const rows = json("intent-keys") as unknown as Obj[];
  assert.equal(rows.length, 2);
  for (const row of rows) {
    assert.equal(row.run_key, manifest().run_key);
    assert.equal(row.intent_key, refIntentKey(row.tenant as string, row.run_key as string));
  }
  assert.notEqual(rows[0]!.intent_key, rows[1]!.intent_key);
});

Deno.test("sealed envelope: recomputed byte for byte, header hashes to manifest_hash, verifies", async () => {
  const env = envelope();
  const r = refCompute({
    epochId: manifest().epoch_id as string,
    inputsBytes: new TextEncoder().encode(text("compat-inputs")),
    policyDoc: json("policy-envelope").policy,
  });
  assert.ok(r.ok);
  assert.equal(canon(manifest()), canon(r.manifest));
  assert.equal(env.manifest_hash, refHeaderHash(refManifestHeader(manifest())));
  assert.equal(manifest().policy_hash, json("policy-envelope").policy_hash);
  assert.deepEqual(await refVerifyEnvelope(env, keys()), { ok: true });
});

Deno.test("proof document verifies with only the published keys", async () => {
  const proof = json("proof");
  assert.deepEqual(await refVerifyProof(proof, keys()), { ok: true });
  assert.equal(canon(proof), canon(refProofDocument(envelope(), proof.account as string)));
});

Deno.test("intent v2 body is the reference's for tenant acme, and a ledger can verify it", async () => {
  const intent = json("intent");
  const built = refIntent(envelope(), intent.tenant as string);
  assert.ok(built !== null);
  assert.equal(canon(intent), built.body);
  assert.equal(intent.intent_key, built.idempotencyKey);
  assert.deepEqual(await refVerifyIntent(intent, keys()), { ok: true });
});

Deno.test("error body example: code, reason, corr_id and a field path", () => {
  const body = json("error");
  assert.deepEqual(Object.keys(body), ["error"]);
  const e = body.error as Obj;
  assert.deepEqual(Object.keys(e).sort(), ["code", "corr_id", "field", "reason"]);
  assert.equal(e.code, "CONFLICT");
  assert.equal(e.reason, "inputs_settled");
  assert.equal(e.field, "inputs_cid");
});

Deno.test("API compute body names the example's inputs and policy", () => {
  const body = json("compute-body");
  assert.equal(body.inputs_cid, CONTRACT_INPUTS_CID);
  const policyEnvelope = json("policy-envelope");
  assert.equal(body.policy_hash, policyEnvelope.policy_hash);
  assert.equal(body.policy_id, (policyEnvelope.policy as Obj).policy_id);
  assert.ok((body.notes as string).length <= 1024);
});

Deno.test("API run record is the example run's, with tenant acme's intent key", () => {
  const run = json("run-record");
  const m = manifest();
  assert.equal(run.run_key, m.run_key);
  assert.equal(run.epoch_id, m.epoch_id);
  assert.equal(run.manifest_hash, envelope().manifest_hash);
  assert.equal(run.status, m.status);
  assert.deepEqual(run.totals, m.totals);
  assert.equal(run.intent_key, refIntentKey("acme", m.run_key as string));
});

Deno.test("API token identifier example follows the v2 grammar", () => {
  const re = new RegExp(IDENTIFIER_RE);
  assert.ok(re.test(text("token-identifier")));
  // the v2 grammar refuses what v1 allowed or what would widen a grant
  assert.equal(re.test("v2:acme:1:rewarder.run:00"), false); // nonce < 8 bytes
  assert.equal(re.test("v2:acme:01:rewarder.run:0011223344556677"), false);
  assert.equal(re.test("v2:Acme:1:rewarder.run:0011223344556677"), false);
});

Deno.test("every example in the docs is checked, and every checked one is in the docs", () => {
  assert.deepEqual([...EXAMPLES.keys()].sort(), CHECKED);
});
