/**
 * Keys end to end (docs/KEYS.md): signing-key rotation with overlap and `verify`, unknown/revoked kids,
 * REQUIRE_PQ_ON, 2-of-3 policy governance through `policy-sign` and the running service (with
 * `rejected_total{reason}`), recipient proofs and `verify-proof` (tampering), and Ed25519
 * signatures checked by independent implementations (OpenSSL, PyNaCl / pyca `cryptography`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { buildApp } from "../src/app.ts";
import type { CliIo } from "../src/cli/args.ts";
import { runCli } from "../src/cli/main.ts";
import { fromBase64Url } from "../src/core/base64url.ts";
import { computeManifest } from "../src/core/compute.ts";
import { leafHash, merkleRoot, toHex } from "../src/core/merkle.ts";
import { proofDocumentOf } from "../src/core/proof.ts";
import { parsePolicy, policyHashOf } from "../src/core/policy.ts";
import { verifyPolicyEnvelope } from "../src/core/policy_envelope.ts";
import { MANIFEST_SIG_DOMAIN, sealManifest } from "../src/core/seal.ts";
import type { SealedEnvelope } from "../src/core/types.ts";
import { loadConfig } from "../src/shell/config/config.ts";
import { devToken, ensureDevMaterial } from "../src/shell/keys/dev_bootstrap.ts";
import { parseGovernanceKeys, writeSecretFile } from "../src/shell/keys/key_files.ts";
import { rotateSigningKey } from "../src/shell/keys/key_rotation.ts";
import { REJECT_REASONS } from "../src/shell/observe/metrics.ts";
import { buildServices } from "../src/shell/services.ts";
import { loadSigner } from "../src/shell/keys/signer.ts";

const VECTORS = new URL("../vectors/", import.meta.url).pathname;
const IN_CI = process.env.CI === "true";
const HOUR_MS = 3_600_000;
const T0 = Date.UTC(2030, 0, 1);
/** The engine worker must be up before the first compute (see the report on engine_runner). */
const COMPUTE_ATTEMPTS_MAX = 5;
const COMPUTE_RETRY_SLEEP_MS = 1_000;
/** Independent verifiers get this long per call. */
const VERIFIER_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------------------------
// helpers

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io: CliIo = {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    env: (n) => (n === "DATA_DIR" ? undefined : process.env[n]),
  };
  const code = await runCli(args, io);
  return { code, out, err };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "keys-gov-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const writeJson = (path: string, value: unknown) => writeFile(path, JSON.stringify(value));

async function readVector(name: string, file: string): Promise<string> {
  return await readFile(join(VECTORS, "cases", name, file), "utf8");
}

/** A 7-recipient epoch (odd count: the Merkle tree has a lone node moving up). */
function sevenInputs(): string {
  return JSON.stringify({
    schema: "svc-rewarder.inputs.v1",
    epoch_id: "seven-1",
    asset: "roc",
    pool_minor: "1000",
    entries: ["a1", "a2", "a3", "a4", "a5", "a6", "a7"].map((account, i) => ({
      account,
      metrics: { votes: String(i + 1) },
    })),
  });
}

// ---------------------------------------------------------------------------------------------
// independent Ed25519 verifiers

const SPKI_ED25519_PREFIX = "302a300506032b6570032100";

function toolPresent(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: "ignore", timeout: VERIFIER_TIMEOUT_MS });
  return r.status === 0;
}

/** Skips visibly outside CI, fails in CI, when a verifier is missing. */
function requireTool(name: string, present: boolean): boolean {
  if (present) return true;
  if (IN_CI) assert.fail(`${name} is required in CI (.ci/setup.d/25-nacl.sh installs it)`);
  console.warn(`SKIPPED: ${name} is not installed; independent Ed25519 check not run`);
  return false;
}

/** Verifies with `openssl pkeyutl -verify -rawin`; returns true when OpenSSL accepts. */
async function opensslVerify(
  dir: string,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const der = new Uint8Array([
    ...SPKI_ED25519_PREFIX.match(/../g)!.map((h) => parseInt(h, 16)),
    ...publicKey,
  ]);
  const b64 = btoa(String.fromCharCode(...der));
  await writeFile(
    join(dir, "pub.pem"),
    `-----BEGIN PUBLIC KEY-----\n${b64}\n-----END PUBLIC KEY-----\n`,
  );
  await writeFile(join(dir, "msg.bin"), message);
  await writeFile(join(dir, "sig.bin"), signature);
  const r = spawnSync("openssl", [
    "pkeyutl",
    "-verify",
    "-pubin",
    "-inkey",
    join(dir, "pub.pem"),
    "-rawin",
    "-in",
    join(dir, "msg.bin"),
    "-sigfile",
    join(dir, "sig.bin"),
  ], { encoding: "utf8", timeout: VERIFIER_TIMEOUT_MS });
  return r.status === 0 && /Signature Verified Successfully/.test(r.stdout);
}

const PY_NACL = `
import sys, base64
from nacl.signing import VerifyKey
from nacl.exceptions import BadSignatureError
pk, msg, sig = (bytes.fromhex(x) for x in sys.argv[1:4])
try:
    VerifyKey(pk).verify(msg, sig); print("ok")
except BadSignatureError:
    print("bad")
`;
const PY_CRYPTOGRAPHY = `
import sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.exceptions import InvalidSignature
pk, msg, sig = (bytes.fromhex(x) for x in sys.argv[1:4])
try:
    Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg); print("ok")
except InvalidSignature:
    print("bad")
`;

function pythonVerify(
  script: string,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const r = spawnSync(
    "/usr/bin/python3",
    ["-c", script, toHex(publicKey), toHex(message), toHex(signature)],
    { encoding: "utf8", timeout: VERIFIER_TIMEOUT_MS },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() === "ok";
}

/**
 * Checks every Ed25519 signature of `envelope` with each independent verifier available, and
 * that each verifier refuses a one-byte change of the message (so the check can fail).
 */
async function assertIndependentEd25519(
  dir: string,
  manifestHash: string,
  signatures: SealedEnvelope["signatures"],
  keys: { kid: string; alg: string; public_key: string }[],
): Promise<void> {
  const hasOpenssl = requireTool("openssl", toolPresent("openssl", ["version"]));
  const hasNacl = requireTool(
    "python3-nacl",
    toolPresent("/usr/bin/python3", ["-c", "import nacl.signing"]),
  );
  const hasCryptography = toolPresent("/usr/bin/python3", [
    "-c",
    "from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey",
  ]);
  if (!hasCryptography) console.warn("SKIPPED: python3-cryptography absent (optional third check)");
  const message = new TextEncoder().encode(MANIFEST_SIG_DOMAIN + manifestHash);
  const tampered = new TextEncoder().encode(
    MANIFEST_SIG_DOMAIN + manifestHash.replace(/.$/, (c) => c === "0" ? "1" : "0"),
  );
  const ed = signatures.filter((s) => s.alg === "ed25519");
  assert.ok(ed.length > 0);
  for (const sig of ed) {
    const key = keys.find((k) => k.kid === sig.kid && k.alg === "ed25519");
    assert.ok(key, `published key for ${sig.kid}`);
    const pk = fromBase64Url(key.public_key);
    const bytes = fromBase64Url(sig.sig);
    if (hasOpenssl) {
      assert.equal(await opensslVerify(dir, pk, message, bytes), true, "openssl accepts");
      assert.equal(await opensslVerify(dir, pk, tampered, bytes), false, "openssl refuses");
    }
    if (hasNacl) {
      assert.equal(pythonVerify(PY_NACL, pk, message, bytes), true, "PyNaCl accepts");
      assert.equal(pythonVerify(PY_NACL, pk, tampered, bytes), false, "PyNaCl refuses");
    }
    if (hasCryptography) {
      assert.equal(pythonVerify(PY_CRYPTOGRAPHY, pk, message, bytes), true);
      assert.equal(pythonVerify(PY_CRYPTOGRAPHY, pk, tampered, bytes), false);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 1. rotation with overlap, verify across rotation, unknown and revoked kids

Deno.test("rotation with overlap: old manifests verify, new ones carry the new kid; unknown/revoked kids rejected by verify", async () => {
  await withDir(async (dir) => {
    const keysDir = join(dir, "signing");
    await mkdir(keysDir, { mode: 0o700 });
    assert.equal((await cli(["keygen", "--kid", "k1", "--out", join(keysDir, "k1.json")])).code, 0);
    const policy = JSON.parse(await readVector("equal-thirds-10", "policy.json"));
    const parsed = parsePolicy(policy);
    assert.ok(parsed.ok);
    const computed = computeManifest({
      epochId: "seven-1",
      inputsBytes: new TextEncoder().encode(sevenInputs()),
      policy: parsed.value.policy,
      policyHash: policyHashOf(policy),
      salt: "svc-rewarder|v1",
    });
    assert.ok(computed.ok);
    const manifest = computed.value.manifest;

    let now = T0;
    const clock = () => now;
    // Before rotation: k1 signs.
    const before = await loadSigner(keysDir, { requirePq: false, nowMs: clock });
    const e1 = await sealManifest(manifest, before.active());
    // Rotate: k2 published now, signs in one hour.
    await rotateSigningKey(keysDir, { kid: "k2", alg: "ed25519", overlapS: 3600, nowMs: clock });
    const restarted = await loadSigner(keysDir, { requirePq: false, nowMs: clock });
    assert.deepEqual(restarted.published().map((k) => [k.kid, k.status]), [
      ["k1", "active"],
      ["k2", "active"],
    ]);
    const eOverlap = await sealManifest(manifest, restarted.active());
    assert.equal(eOverlap.signatures[0]?.kid, "k1", "the old key signs during the overlap");
    now = T0 + HOUR_MS;
    const e2 = await sealManifest(manifest, restarted.active());
    assert.deepEqual(e2.signatures.map((s) => s.kid), ["k2"]);
    const keysDoc = { keys: restarted.published() };
    assert.deepEqual(keysDoc.keys.map((k) => [k.kid, k.status]), [
      ["k1", "retired"],
      ["k2", "active"],
    ]);

    await writeJson(join(dir, "keys.json"), keysDoc);
    await writeJson(join(dir, "e1.json"), e1);
    await writeJson(join(dir, "e2.json"), e2);
    for (const env of ["e1.json", "e2.json"]) {
      const r = await cli([
        "verify",
        "--envelope",
        join(dir, env),
        "--keys",
        join(dir, "keys.json"),
      ]);
      assert.equal(r.code, 0, `${env}: ${r.err}`);
    }
    // Independent Ed25519 implementations agree with the service's signatures (old and new).
    await assertIndependentEd25519(dir, e1.manifest_hash, e1.signatures, keysDoc.keys);
    await assertIndependentEd25519(dir, e2.manifest_hash, e2.signatures, keysDoc.keys);

    // Unknown kid: a keys document without k1.
    await writeJson(join(dir, "only-k2.json"), {
      keys: keysDoc.keys.filter((k) => k.kid === "k2"),
    });
    let r = await cli([
      "verify",
      "--envelope",
      join(dir, "e1.json"),
      "--keys",
      join(dir, "only-k2.json"),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /invalid: unknown_kid/);
    // A signature by a key nobody published (same kid, other key) is a bad signature.
    const outsider = await sealManifest(manifest, [{
      alg: "ed25519",
      kid: "k9",
      seed: crypto.getRandomValues(new Uint8Array(32)),
    }]);
    await writeJson(join(dir, "e9.json"), outsider);
    r = await cli(["verify", "--envelope", join(dir, "e9.json"), "--keys", join(dir, "keys.json")]);
    assert.equal(r.code, 1);
    assert.match(r.err, /invalid: unknown_kid/);

    // Revoked: key-status revokes k1 → no longer published → unknown_kid; a keys file that
    // marks k1 revoked → revoked_kid.
    r = await cli(["key-status", "--dir", keysDir, "--kid", "k1", "--status", "revoked"]);
    assert.equal(r.code, 0, r.err);
    const afterRevoke = await loadSigner(keysDir, { requirePq: false, nowMs: clock });
    assert.deepEqual(afterRevoke.published().map((k) => k.kid), ["k2"]);
    await writeJson(join(dir, "keys-now.json"), { keys: afterRevoke.published() });
    r = await cli([
      "verify",
      "--envelope",
      join(dir, "e1.json"),
      "--keys",
      join(dir, "keys-now.json"),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /invalid: unknown_kid/);
    await writeJson(join(dir, "keys-revoked.json"), {
      keys: keysDoc.keys.map((k) => (k.kid === "k1" ? { ...k, status: "revoked" } : k)),
    });
    r = await cli([
      "verify",
      "--envelope",
      join(dir, "e1.json"),
      "--keys",
      join(dir, "keys-revoked.json"),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /invalid: revoked_kid/);
    r = await cli([
      "verify",
      "--envelope",
      join(dir, "e2.json"),
      "--keys",
      join(dir, "keys-revoked.json"),
    ]);
    assert.equal(r.code, 0, r.err);
  });
});

Deno.test("key-rotate CLI: the new key is written 0600 with not_before = now + overlap", async () => {
  await withDir(async (dir) => {
    await cli(["keygen", "--kid", "k1", "--out", join(dir, "k1.json")]);
    const started = Date.now();
    const r = await cli(["key-rotate", "--dir", dir, "--kid", "k2", "--overlap-s", "7200"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).keys[0].kid, "k2");
    const doc = JSON.parse(await readFile(join(dir, "k2.json"), "utf8"));
    const notBefore = Date.parse(doc.not_before);
    assert.ok(notBefore >= started + 7_200_000 && notBefore <= Date.now() + 7_201_000);
    const signer = await loadSigner(dir, { requirePq: false });
    assert.deepEqual(signer.active().map((k) => k.kid), ["k1"]);
    assert.equal((await cli(["key-rotate", "--dir", dir, "--kid", "k2"])).code, 2, "kid exists");
  });
});

// ---------------------------------------------------------------------------------------------
// 2. REQUIRE_PQ_ON

Deno.test("REQUIRE_PQ_ON: loadSigner refuses without ml-dsa-65; verify --require-pq demands both; compute --pq-key adds it", async () => {
  await withDir(async (dir) => {
    const keysDir = join(dir, "signing");
    await mkdir(keysDir, { mode: 0o700 });
    await cli(["keygen", "--kid", "ed1", "--out", join(keysDir, "ed1.json")]);
    for (const value of ["true", "false"]) {
      const config = loadConfig({ DATA_DIR: dir, REQUIRE_PQ_ON: value });
      const load = loadSigner(keysDir, { requirePq: config.requirePq });
      if (value === "true") await assert.rejects(load, /REQUIRE_PQ_ON/);
      else assert.equal((await load).active().length, 1);
    }
    const pq = await cli([
      "keygen",
      "--kid",
      "pq1",
      "--alg",
      "ml-dsa-65",
      "--out",
      join(keysDir, "pq1.json"),
    ]);
    assert.equal(pq.code, 0);
    const on = await loadSigner(keysDir, { requirePq: true });
    assert.deepEqual(on.active().map((k) => k.alg), ["ed25519", "ml-dsa-65"]);
    await writeJson(join(dir, "keys.json"), { keys: on.published() });

    await writeFile(join(dir, "inputs.json"), await readVector("equal-thirds-10", "inputs.json"));
    await writeFile(join(dir, "policy.json"), await readVector("equal-thirds-10", "policy.json"));
    const base = ["compute", "--epoch", "thirds-1", "--inputs", join(dir, "inputs.json")];
    const both = await cli([
      ...base,
      "--policy",
      join(dir, "policy.json"),
      "--signing-key",
      join(keysDir, "ed1.json"),
      "--pq-key",
      join(keysDir, "pq1.json"),
    ]);
    assert.equal(both.code, 0, both.err);
    const dual = JSON.parse(both.out) as SealedEnvelope;
    assert.deepEqual(dual.signatures.map((s) => s.alg), ["ed25519", "ml-dsa-65"]);
    const edOnly = await cli([
      ...base,
      "--policy",
      join(dir, "policy.json"),
      "--signing-key",
      join(keysDir, "ed1.json"),
    ]);
    await writeFile(join(dir, "dual.json"), both.out);
    await writeFile(join(dir, "ed.json"), edOnly.out);
    const verify = (env: string, pqFlag: boolean) =>
      cli([
        "verify",
        "--envelope",
        join(dir, env),
        "--keys",
        join(dir, "keys.json"),
        ...(pqFlag ? ["--require-pq"] : []),
      ]);
    assert.equal((await verify("dual.json", true)).code, 0);
    assert.equal((await verify("dual.json", false)).code, 0);
    assert.equal((await verify("ed.json", false)).code, 0);
    const refused = await verify("ed.json", true);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /pq_required/);
    // A tampered ML-DSA signature is caught even though Ed25519 is intact.
    const bad = structuredClone(dual);
    const pqSig = bad.signatures[1]!;
    pqSig.sig = (pqSig.sig[0] === "A" ? "B" : "A") + pqSig.sig.slice(1);
    await writeJson(join(dir, "bad.json"), bad);
    const badR = await verify("bad.json", true);
    assert.equal(badR.code, 1);
    assert.match(badR.err, /bad_signature/);
  });
});

// ---------------------------------------------------------------------------------------------
// 3–5. governance through the running service, proofs from the running service

interface Governor {
  kid: string;
  path: string;
}

async function signPolicy(
  dir: string,
  name: string,
  policy: unknown,
  governors: Governor[],
): Promise<Record<string, unknown>> {
  let current = join(dir, `${name}.0.json`);
  await writeJson(current, policy);
  for (const [i, g] of governors.entries()) {
    const r = await cli(["policy-sign", "--policy", current, "--key", g.path]);
    assert.equal(r.code, 0, r.err);
    current = join(dir, `${name}.${i + 1}.json`);
    await writeFile(current, r.out);
  }
  return JSON.parse(await readFile(current, "utf8"));
}

function metricValue(text: string, reason: string): number {
  const m = new RegExp(`^rejected_total\\{reason="${reason}"\\} (\\d+)`, "m").exec(text);
  return m === null ? 0 : Number(m[1]);
}

Deno.test("governance 2-of-3 and proofs through the running service; refusals counted by reason", async () => {
  await withDir(async (dir) => {
    const dataDir = join(dir, "data");
    const work = join(dir, "work");
    await mkdir(join(dataDir, "keys"), { recursive: true, mode: 0o700 });
    await mkdir(work);
    // Three governors and an outsider, made with the CLI.
    const govs: Governor[] = [];
    const gov: Record<string, string> = {};
    for (const kid of ["gov-a", "gov-b", "gov-c", "stranger"]) {
      const path = join(work, `${kid}.key.json`);
      assert.equal((await cli(["keygen", "--kid", kid, "--out", path])).code, 0);
      govs.push({ kid, path });
      if (kid !== "stranger") gov[kid] = (await cli(["gov-pubkey", "--key", path])).out.trim();
    }
    const [a, b, c, stranger] = govs as [Governor, Governor, Governor, Governor];
    const govDoc = { threshold: 2, keys: gov };
    await writeSecretFile(
      join(dataDir, "keys", "gov.json"),
      new TextEncoder().encode(JSON.stringify(govDoc)),
    );
    const { paths, samples } = await ensureDevMaterial(dataDir, VECTORS);
    const sample = samples.find((s) => s.epochId === "interop-epoch-1")!;
    const basePolicy = JSON.parse(await readVector("rustyonions-interop", "policy.json"));
    const variant = (id: string) => ({ ...basePolicy, policy_id: id });
    const policyDir = join(dataDir, "policies");

    // CLI: a governor cannot sign twice.
    await signPolicy(work, "twice", variant("gov-twice"), [a]);
    const twice = await cli([
      "policy-sign",
      "--policy",
      join(work, "twice.1.json"),
      "--key",
      a.path,
    ]);
    assert.equal(twice.code, 2);
    assert.match(twice.err, /already signed/);

    const ok = await signPolicy(work, "ok", variant("gov-ok"), [a, c]);
    const one = await signPolicy(work, "one", variant("gov-one"), [b]);
    const dupBase = await signPolicy(work, "dup", variant("gov-dup"), [a]);
    const dup = {
      ...dupBase,
      signatures: [...(dupBase.signatures as unknown[]), ...(dupBase.signatures as unknown[])],
    };
    const unknown = await signPolicy(work, "unknown", variant("gov-unknown"), [a, stranger]);
    const hashBase = await signPolicy(work, "hash", variant("gov-hash"), [a, b]);
    const hashBad = { ...hashBase, policy: { ...variant("gov-hash"), version: 2 } };
    const sigBase = await signPolicy(work, "sig", variant("gov-sig"), [a, b]);
    const sigs = structuredClone(sigBase.signatures) as { sig: string }[];
    sigs[1]!.sig = (sigs[1]!.sig[0] === "A" ? "B" : "A") + sigs[1]!.sig.slice(1);
    const sigBad = { ...sigBase, signatures: sigs };

    const govKeys = parseGovernanceKeys(govDoc);
    const cases: [string, Record<string, unknown>, string | null][] = [
      ["gov-ok", ok, null],
      ["gov-one", one, "policy_threshold"],
      ["gov-dup", dup, "policy_threshold"],
      ["gov-unknown", unknown, "unknown_kid"],
      ["gov-hash", hashBad, "policy_hash"],
      ["gov-sig", sigBad, "policy_signature"],
    ];
    for (const [id, envelope, reason] of cases) {
      const checked = verifyPolicyEnvelope(envelope, govKeys);
      assert.equal(checked.ok ? null : checked.error.reason, reason, id);
      await writeJson(join(policyDir, `${id}.json`), envelope);
    }

    const config = loadConfig({ DATA_DIR: dataDir, REQUEST_TIMEOUT_MS: "10000" });
    const built = await buildServices(config, paths, { version: "test", env: {} });
    try {
      const { app } = buildApp(built.services);
      const token = await devToken(paths.capsKeysPath, Date.now());
      const auth = { authorization: `Macaroon ${token}` };
      const compute = (policyId: string, policyHash: string) =>
        app.request(`/rewarder/epochs/${sample.epochId}/compute`, {
          method: "POST",
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify({
            inputs_cid: sample.inputsCid,
            policy_id: policyId,
            policy_hash: policyHash,
          }),
        });

      // Refusals first (they fail before the engine runs).
      for (const [id, envelope, reason] of cases) {
        if (reason === null) continue;
        const res = await compute(id, envelope.policy_hash as string);
        const body = await res.json();
        assert.equal(res.status, 400, `${id}: ${JSON.stringify(body)}`);
        assert.equal(body.error.reason, reason, id);
      }
      const metrics = await (await app.request("/metrics")).text();
      for (const reason of ["unknown_kid", "policy_hash", "policy_signature"]) {
        assert.equal(metricValue(metrics, reason), 1, reason);
      }
      if ((REJECT_REASONS as readonly string[]).includes("policy_threshold")) {
        assert.equal(metricValue(metrics, "policy_threshold"), 2);
      } else {
        console.warn(
          "NOTE: metrics.ts REJECT_REASONS lacks policy_threshold; it is counted as other",
        );
        assert.ok(metricValue(metrics, "other") >= 2);
      }

      // The 2-of-3 policy is accepted (retry while the engine worker warms up).
      let res: Response | undefined;
      for (let i = 0; i < COMPUTE_ATTEMPTS_MAX; i++) {
        res = await compute("gov-ok", ok.policy_hash as string);
        if (res.status !== 503) break;
        await new Promise((r) => setTimeout(r, COMPUTE_RETRY_SLEEP_MS));
      }
      assert.equal(res?.status, 200, await res?.text());

      // Proof from the service, keys from the service, verify-proof with nothing else.
      const proof = await (await app.request(
        `/rewarder/epochs/${sample.epochId}/proofs/acct_a`,
        { headers: auth },
      )).json();
      const keys = await (await app.request("/rewarder/keys")).json();
      const envelope = await (await app.request(`/rewarder/epochs/${sample.epochId}`, {
        headers: auth,
      })).json() as SealedEnvelope;
      await writeJson(join(work, "keys.json"), keys);
      await writeJson(join(work, "envelope.json"), envelope);
      await assertProofVerdicts(work, proof);
      const v = await cli([
        "verify",
        "--envelope",
        join(work, "envelope.json"),
        "--keys",
        join(work, "keys.json"),
      ]);
      assert.equal(v.code, 0, v.err);
      await assertIndependentEd25519(work, envelope.manifest_hash, envelope.signatures, keys.keys);
    } finally {
      await built.close();
    }
  });
});

/** verify-proof accepts `proof` and refuses each tampered variant. */
async function assertProofVerdicts(dir: string, proof: Record<string, unknown>): Promise<void> {
  const run = async (p: unknown) => {
    await writeJson(join(dir, "proof.json"), p);
    return await cli([
      "verify-proof",
      "--proof",
      join(dir, "proof.json"),
      "--keys",
      join(dir, "keys.json"),
    ]);
  };
  const good = await run(proof);
  assert.equal(good.code, 0, good.err);
  const steps = proof.proof as { side: string; hash: string }[];
  const sigs = proof.signatures as { sig: string }[];
  const flip = (s: string) => (s[0] === "0" ? "1" : "0") + s.slice(1);
  const tampered: [string, unknown][] = [
    ["amount", { ...proof, amount_minor: String(BigInt(proof.amount_minor as string) + 1n) }],
    ["amount+leaf", {
      ...proof,
      amount_minor: String(BigInt(proof.amount_minor as string) + 1n),
      leaf: toHex(
        leafHash(proof.account as string, String(BigInt(proof.amount_minor as string) + 1n)),
      ),
    }],
    ["account", { ...proof, account: "acct_z" }],
    ["sibling", {
      ...proof,
      proof: steps.map((s, i) => (i === 0 ? { ...s, hash: flip(s.hash) } : s)),
    }],
    ["side", {
      ...proof,
      proof: steps.map((s, i) => (i === 0 ? { ...s, side: s.side === "L" ? "R" : "L" } : s)),
    }],
    ["dropped step", { ...proof, proof: steps.slice(1) }],
    ["signature", {
      ...proof,
      signatures: sigs.map((
        s,
        i,
      ) => (i === 0 ? { ...s, sig: (s.sig[0] === "A" ? "B" : "A") + s.sig.slice(1) } : s)),
    }],
    ["manifest_hash", { ...proof, manifest_hash: "b3:" + "0".repeat(64) }],
    ["no signatures", { ...proof, signatures: [] }],
  ];
  for (const [what, p] of tampered) {
    const r = await run(p);
    assert.equal(r.code, 1, `tampered ${what} must be refused`);
    assert.match(r.err, /^invalid: /);
  }
}

Deno.test("verify-proof on proofs built with merkle.ts for every recipient of a 7-payout manifest", async () => {
  await withDir(async (dir) => {
    const keysDir = join(dir, "signing");
    await mkdir(keysDir, { mode: 0o700 });
    const keyPath = join(keysDir, "k1.json");
    await cli(["keygen", "--kid", "k1", "--out", keyPath]);
    await writeFile(join(dir, "inputs.json"), sevenInputs());
    await writeFile(join(dir, "policy.json"), await readVector("equal-thirds-10", "policy.json"));
    const r = await cli([
      "compute",
      "--epoch",
      "seven-1",
      "--inputs",
      join(dir, "inputs.json"),
      "--policy",
      join(dir, "policy.json"),
      "--signing-key",
      keyPath,
    ]);
    assert.equal(r.code, 0, r.err);
    const envelope = JSON.parse(r.out) as SealedEnvelope;
    const signer = await loadSigner(keysDir, { requirePq: false });
    await writeJson(join(dir, "keys.json"), { keys: signer.published() });
    const payouts = envelope.manifest.payouts;
    assert.equal(payouts.length, 7);
    const leaves = payouts.map((p) => leafHash(p.account, p.amount_minor));
    assert.equal("b3:" + toHex(merkleRoot(leaves)), envelope.manifest.payouts_root);
    for (const [i, p] of payouts.entries()) {
      const proof = proofDocumentOf(envelope, p.account) as unknown as Record<string, unknown>;
      assert.equal(proof.schema, "svc-rewarder.proof.v2");
      assert.equal(proof.index, i);
      assert.equal(proof.leaf, toHex(leaves[i]!));
      if (i === 6) await assertProofVerdicts(dir, proof); // the lone node that moves up
      else {
        await writeJson(join(dir, "proof.json"), proof);
        const v = await cli([
          "verify-proof",
          "--proof",
          join(dir, "proof.json"),
          "--keys",
          join(dir, "keys.json"),
        ]);
        assert.equal(v.code, 0, `${p.account}: ${v.err}`);
      }
    }
    // v1 could not bind payouts_root without the whole manifest: a proof against a forged
    // root with a correctly signed manifest_hash passed. v2 signs the header, which holds the
    // root (contract §6): the same forgery, with the real header or a forged one, is refused.
    const forgedLeaves = [leafHash("mallory", "1000")];
    const genuine = proofDocumentOf(envelope, payouts[0]!.account)!;
    if (!("header" in genuine)) throw new Error("a v2 envelope gives a v2 proof");
    const forged = {
      schema: "svc-rewarder.proof.v2",
      account: "mallory",
      amount_minor: "1000",
      index: 0,
      leaf: toHex(forgedLeaves[0]!),
      proof: [],
      header: {
        ...genuine.header,
        payouts_root: "b3:" + toHex(merkleRoot(forgedLeaves)),
        totals: { ...genuine.header.totals, recipients: 1 },
      },
      manifest_hash: envelope.manifest_hash,
      signatures: envelope.signatures,
    };
    await writeJson(join(dir, "forged.json"), forged);
    const f = await cli([
      "verify-proof",
      "--proof",
      join(dir, "forged.json"),
      "--keys",
      join(dir, "keys.json"),
    ]);
    assert.equal(f.code, 1, "the signed header binds payouts_root: a forged root is refused");
    await writeJson(join(dir, "forged.json"), { ...forged, header: genuine.header });
    const g = await cli([
      "verify-proof",
      "--proof",
      join(dir, "forged.json"),
      "--keys",
      join(dir, "keys.json"),
    ]);
    assert.equal(g.code, 1, "a forged leaf does not rebuild the signed root");
  });
});
