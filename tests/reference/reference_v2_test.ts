/**
 * Contract v2 rules in the independent reference implementation: I-JSON input, integer
 * literals and id grammars (§1, §2), manifest v2 header and hash, sealing and the signature
 * rule (§6), proof documents v2 with their strict path shape (§6), intent keys and intent v2
 * bodies (§5, §7), and v1 documents still verifying by their own rules. Each negative case is
 * one that a v1 reading accepts.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import keysDoc from "../../vectors/keys/vector-keys.json" with { type: "json" };
import signingKey from "../../vectors/keys/vector-signing.key.json" with { type: "json" };
import {
  refCanonicalJson,
  refCid,
  refCompute,
  refIntent,
  refIntentKey,
  refManifestHash,
  refManifestHeader,
  refMerkleProof,
  refPathSides,
  refProofDocument,
  refRunKey,
} from "./reference_impl.ts";
import {
  refPublishedKeys,
  refSeal,
  refSign,
  refVerifyEnvelope,
  refVerifyIntent,
  refVerifyProof,
} from "./reference_verify.ts";

type Obj = Record<string, unknown>;
const enc = (s: string) => new TextEncoder().encode(s);
const KEYS = refPublishedKeys(keysDoc);
const clone = <T>(v: T): T => structuredClone(v);

const RON_INPUTS = '{"produced_at_millis":1,"pool_minor_units":"1000","contributions":[' +
  '{"account":"acct_a","bytes_stored":100,"bytes_served":50,"uptime_seconds":10},' +
  '{"account":"acct_b","bytes_stored":200,"bytes_served":0,"uptime_seconds":20}]}';
const RON_CID = "b3:81d428e1df7c29a8443467db8ed59ee2628ac43acd47c692fbc3c23ee495606d";
const EXAMPLE_RUN_KEY = "b3:ffd1e7465fb118c067fd14c30a36e2e12ba27f1e1fca34c4b7edcac919dd9bb9";

function policy(pool: string, extra: Obj = {}): Obj {
  return {
    schema: "svc-rewarder.policy.v1",
    policy_id: "p",
    version: 1,
    asset: "roc",
    funding_source: "protocol_pool",
    pool: { source: "fixed", amount_minor: pool },
    score: [{ metric: "v", mul: "1", div: "1" }],
    allocation: "floor",
    ...extra,
  };
}

function nativeText(entries: string, extra = ""): string {
  return '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e1","asset":"roc"' + extra +
    ',"entries":[' + entries + "]}";
}

/** n accounts `a00`.. with scores 1..n over a pool of 1000·n: every one is paid. */
function manifestOf(n: number, schema?: "svc-rewarder.manifest.v1", extra: Obj = {}): Obj {
  const entries = Array.from(
    { length: n },
    (_, i) => `{"account":"a${String(i).padStart(2, "0")}","metrics":{"v":"${i + 1}"}}`,
  );
  const r = refCompute({
    epochId: "e1",
    inputsBytes: enc(nativeText(entries.join(","))),
    policyDoc: policy(String(1000 * n), extra),
    ...(schema === undefined ? {} : { schema }),
  });
  if (!r.ok) throw new Error(r.reason);
  return r.manifest;
}

function reason(text: string, pol: unknown = policy("1")): string {
  const r = refCompute({ epochId: "e1", inputsBytes: enc(text), policyDoc: pol });
  return r.ok ? "ok" : r.reason;
}

describe("reference v2: I-JSON, integer literals, grammars (§1, §2)", () => {
  const entry = (account: string) => `{"account":"${account}","metrics":{"v":"1"}}`;
  it("lone surrogates and noncharacters, escaped or raw, are reason json", () => {
    assert.equal(reason(nativeText(entry("a"))), "ok");
    for (const bad of ["\\ud800", "\\udc00x", "\\ufdd0", "\\uffff", "\\ud83f\\udffe", "\uffff"]) {
      assert.equal(reason(nativeText(entry("a"), `,"x${bad}":1`)), "json", bad);
    }
    // a well-formed pair is fine for the parser (the unknown key is then a schema fault)
    assert.equal(reason(nativeText(entry("a"), ',"x\\ud83d\\ude00":1')), "inputs");
    assert.equal(reason("\ufeff" + nativeText(entry("a"))), "json");
    assert.equal(reason(nativeText(entry("a"), ',"asset":"roc"')), "json"); // duplicate member
  });
  it("nesting: 64 containers parse, 65 do not", () => {
    const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
    assert.equal(reason(nativeText(entry("a"), `,"x":${nest(63)}`)), "inputs");
    assert.equal(reason(nativeText(entry("a"), `,"x":${nest(64)}`)), "json");
  });
  it("compat counters are plain integer literals; every shown key is required", () => {
    const ron = (from: string, to: string) => reason(RON_INPUTS.replace(from, to), ronPolicy());
    assert.equal(ron("", ""), "ok");
    for (const lit of ["1e2", "100.0", "1E2", "-0", "-1", "9007199254740992"]) {
      assert.equal(ron('"bytes_stored":100', `"bytes_stored":${lit}`), "inputs", lit);
    }
    assert.equal(ron('"produced_at_millis":1', '"produced_at_millis":1e0'), "inputs");
    assert.equal(ron('"pool_minor_units":"1000",', ""), "inputs");
  });
  it("asset has a grammar; no id is . or ..", () => {
    assert.equal(reason(nativeText(entry("a")).replace('"roc"', '"r c"')), "inputs");
    assert.equal(reason(nativeText(entry("a")), policy("1", { asset: "r c" })), "policy");
    assert.equal(reason(nativeText(entry("."))), "inputs");
    assert.equal(reason(nativeText(entry(".."))), "inputs");
    assert.equal(reason(nativeText(entry("..."))), "ok");
    assert.equal(reason(nativeText(entry("a")), policy("1", { policy_id: ".." })), "policy");
  });
  it("JCS refuses a lone surrogate in a key or a value", () => {
    assert.throws(() => refCanonicalJson({ "\udc00": 1 }));
    assert.throws(() => refCanonicalJson(["a\ud800"]));
    assert.equal(refCanonicalJson(["\ud83d\ude00"]), '["\ud83d\ude00"]');
  });
});

function ronPolicy(): Obj {
  return {
    schema: "svc-rewarder.policy.v1",
    policy_id: "ron-interop",
    version: 1,
    asset: "roc",
    funding_source: "protocol_pool",
    pool: { source: "inputs" },
    score: [
      { metric: "bytes_stored", mul: "1", div: "1" },
      { metric: "bytes_served", mul: "1", div: "4" },
      { metric: "uptime_seconds", mul: "1", div: "1" },
    ],
    allocation: "floor",
  };
}

describe("reference v2: run key and intent key (§5)", () => {
  it("the run key example, and intent keys per tenant", () => {
    const runKey = refRunKey("svc-rewarder|v1", "interop-epoch-1", "b3:" + "b".repeat(64), RON_CID);
    assert.equal(runKey, EXAMPLE_RUN_KEY);
    const acme = refIntentKey("acme", runKey);
    assert.equal(acme, refCid(enc("svc-rewarder/intent-key/v1|acme|" + runKey)));
    assert.notEqual(acme, refIntentKey("beta", runKey));
    assert.notEqual(acme, runKey);
    assert.throws(() => refIntentKey("Acme", runKey));
    const tool = spawnSync("b3sum", ["--no-names"], {
      input: enc("svc-rewarder/intent-key/v1|acme|" + runKey),
    });
    if (tool.status === 0) assert.equal("b3:" + tool.stdout.toString().trim(), acme);
  });
});

describe("reference v2: manifest header, sealing, envelope validity (§6)", () => {
  it("manifest_hash covers the header: payouts changes do not move it, payouts_root does", () => {
    const m = manifestOf(3);
    assert.equal(m.schema, "svc-rewarder.manifest.v2");
    const header = refManifestHeader(m);
    assert.deepEqual(
      Object.keys(header).sort(),
      Object.keys(m).filter((k) => k !== "payouts").sort(),
    );
    assert.equal(refManifestHash(m), refCid(enc(refCanonicalJson(header))));
    const v1 = manifestOf(3, "svc-rewarder.manifest.v1");
    assert.equal(refManifestHash(v1), refCid(enc(refCanonicalJson(v1))));
  });
  it("a sealed v2 envelope verifies; tampering and wrong statements fail", async () => {
    const env = await refSeal(
      manifestOf(3, undefined, { fee: { bps: 100, account: "t" } }),
      signingKey,
    );
    assert.deepEqual(await refVerifyEnvelope(env, KEYS), { ok: true });
    // payouts tampered, header intact: the hash still matches, payouts_root does not
    const swapped = clone(env);
    const payouts = (swapped.manifest as Obj).payouts as { amount_minor: string }[];
    payouts[0]!.amount_minor = String(BigInt(payouts[0]!.amount_minor) + 1n);
    payouts[1]!.amount_minor = String(BigInt(payouts[1]!.amount_minor) - 1n);
    assert.deepEqual(await refVerifyEnvelope(swapped, KEYS), { ok: false, reason: "root" });
    const header = clone(env);
    ((header.manifest as Obj).residual as Obj).account = "x";
    assert.deepEqual(await refVerifyEnvelope(header, KEYS), { ok: false, reason: "hash" });
    // the v1 statement over a v2 hash is refused (statement prefixes differ by schema)
    const v1Statement = clone(env);
    v1Statement.signatures = [{
      alg: "ed25519",
      kid: signingKey.kid,
      sig: await refSign(
        "svc-rewarder/manifest-sig/v1:" + env.manifest_hash,
        signingKey.private_key,
      ),
    }];
    assert.deepEqual(await refVerifyEnvelope(v1Statement, KEYS), {
      ok: false,
      reason: "signature",
    });
    const unknownKid = clone(env);
    (unknownKid.signatures as Obj[])[0]!.kid = "other";
    assert.deepEqual(await refVerifyEnvelope(unknownKid, KEYS), { ok: false, reason: "signature" });
    const retired = KEYS.map((k) => ({ ...k, status: "retired" }));
    assert.deepEqual(await refVerifyEnvelope(env, retired), { ok: true });
    const revoked = KEYS.map((k) => ({ ...k, status: "revoked" }));
    assert.deepEqual(await refVerifyEnvelope(env, revoked), { ok: false, reason: "signature" });
    assert.deepEqual(await refVerifyEnvelope(env, KEYS, { requirePq: true }), {
      ok: false,
      reason: "signature",
    });
    const extra = clone(env);
    (extra.manifest as Obj).note = "x";
    assert.deepEqual(await refVerifyEnvelope(extra, KEYS), { ok: false, reason: "shape" });
    assert.deepEqual(await refVerifyEnvelope(env, KEYS, { policy: policy("1") }), {
      ok: false,
      reason: "shape",
    });
  });
  it("a v1 envelope verifies by its own rules (whole-manifest hash, v1 statement)", async () => {
    const env = await refSeal(manifestOf(2, "svc-rewarder.manifest.v1"), signingKey);
    assert.deepEqual(await refVerifyEnvelope(env, KEYS), { ok: true });
    const tampered = clone(env);
    ((tampered.manifest as Obj).payouts as Obj[])[0]!.account = "a99";
    assert.deepEqual(await refVerifyEnvelope(tampered, KEYS), { ok: false, reason: "hash" });
  });
});

describe("reference v2: proof documents (§6)", () => {
  it("path shape of (index, recipients) is the tree's", () => {
    for (let n = 1; n <= 17; n++) {
      const payouts = Array.from(
        { length: n },
        (_, i) => ({ account: `x${i}`, amount_minor: "1" }),
      );
      for (let i = 0; i < n; i++) {
        assert.deepEqual(
          refPathSides(i, n),
          refMerkleProof(payouts, i).proof.map((s) => s.side),
          `${i}/${n}`,
        );
      }
    }
    assert.deepEqual(refPathSides(4, 5), ["L"]); // promoted twice, then the left sibling
    assert.throws(() => refPathSides(5, 5));
  });
  it("every recipient's proof verifies alone, for 1..9 recipients", async () => {
    for (let n = 1; n <= 9; n++) {
      const env = await refSeal(manifestOf(n), signingKey);
      for (const p of (env.manifest as Obj).payouts as { account: string }[]) {
        const doc = refProofDocument(env, p.account)!;
        assert.equal(doc.schema, "svc-rewarder.proof.v2");
        assert.deepEqual(await refVerifyProof(doc, KEYS), { ok: true }, `${p.account}/${n}`);
      }
      assert.equal(refProofDocument(env, "nobody"), null);
    }
  });
  it("a proof is refused when its index, path, leaf or header disagree", async () => {
    const env = await refSeal(manifestOf(4), signingKey);
    const doc = refProofDocument(env, "a01")!; // index 1 of 4: sides L, R
    const expect = async (d: Obj, reason: string) =>
      assert.deepEqual(await refVerifyProof(d, KEYS), { ok: false, reason });
    // the path still rebuilds the root, but index 3 gives sides L, L
    await expect({ ...clone(doc), index: 3 }, "path");
    await expect({ ...clone(doc), index: 4 }, "index");
    const longer = clone(doc);
    (longer.proof as Obj[]).push({ side: "R", hash: "0".repeat(64) });
    await expect(longer, "path");
    const flipped = clone(doc);
    (flipped.proof as Obj[])[1]!.side = "L";
    await expect(flipped, "path");
    await expect({ ...clone(doc), amount_minor: "1" }, "leaf");
    const header = clone(doc);
    (header.header as Obj).epoch_id = "e2";
    await expect(header, "hash");
    const { schema: _schema, ...noSchema } = clone(doc);
    await expect(noSchema, "shape");
    const withPayouts = clone(doc);
    (withPayouts.header as Obj).payouts = [];
    await expect(withPayouts, "shape");
  });
  it("a v1 envelope gives a v1-shaped proof that verifies by the v1 rules", async () => {
    const env = await refSeal(manifestOf(3, "svc-rewarder.manifest.v1"), signingKey);
    const doc = refProofDocument(env, "a02")!;
    assert.equal("schema" in doc, false);
    assert.equal(doc.payouts_root, (env.manifest as Obj).payouts_root);
    assert.deepEqual(await refVerifyProof(doc, KEYS), { ok: true });
    assert.deepEqual(await refVerifyProof({ ...doc, amount_minor: "2" }, KEYS), {
      ok: false,
      reason: "leaf",
    });
  });
});

describe("reference v2: ledger intents (§7)", () => {
  it("intent.v2 carries the tenant's intent key and the header, and verifies", async () => {
    const env = await refSeal(
      manifestOf(3, undefined, { fee: { bps: 100, account: "t" } }),
      signingKey,
    );
    const m = env.manifest as Obj;
    const acme = refIntent(env, "acme")!;
    const beta = refIntent(env, "beta")!;
    assert.equal(acme.intent.schema, "svc-rewarder.intent.v2");
    assert.equal(acme.idempotencyKey, refIntentKey("acme", m.run_key as string));
    assert.equal(acme.intent.intent_key, acme.idempotencyKey);
    assert.notEqual(acme.idempotencyKey, beta.idempotencyKey); // two tenants, one run key
    assert.equal(acme.intent.run_key, beta.intent.run_key);
    assert.deepEqual(acme.intent.header, refManifestHeader(m));
    assert.equal(acme.body, refCanonicalJson(acme.intent));
    assert.deepEqual((acme.intent.transfers as Obj[]).at(-1), { to: "t", amount_minor: "30" });
    assert.deepEqual(await refVerifyIntent(JSON.parse(acme.body), KEYS), { ok: true });
    const wrongKey = { ...JSON.parse(acme.body), intent_key: m.run_key };
    assert.deepEqual(await refVerifyIntent(wrongKey, KEYS), { ok: false, reason: "intent_key" });
    const otherTenant = { ...JSON.parse(acme.body), tenant: "beta" };
    assert.deepEqual(await refVerifyIntent(otherTenant, KEYS), { ok: false, reason: "intent_key" });
    const moved = JSON.parse(acme.body);
    moved.transfers[0].amount_minor = String(BigInt(moved.transfers[0].amount_minor) + 1n);
    moved.transfers[1].amount_minor = String(BigInt(moved.transfers[1].amount_minor) - 1n);
    assert.deepEqual(await refVerifyIntent(moved, KEYS), { ok: false, reason: "root" });
  });
  it("a v1 envelope still gives intent.v1 keyed by its run key", async () => {
    const env = await refSeal(manifestOf(2, "svc-rewarder.manifest.v1"), signingKey);
    const out = refIntent(env, "acme")!;
    assert.equal(out.intent.schema, "svc-rewarder.intent.v1");
    assert.equal(out.idempotencyKey, (env.manifest as Obj).run_key);
    assert.equal("intent_key" in out.intent, false);
    assert.equal("header" in out.intent, false);
  });
});
