/**
 * The golden vectors (vectors/): every case's hand-known expectations hold, `rewarder
 * compute` prints the pinned v2 envelope byte for byte, `verify` accepts it and rejects a
 * one-byte change to the manifest, the inputs or the policy; generated epochs keep their
 * pinned hashes. The frozen v1 envelopes and proofs still verify; the v2 extras (run and
 * intent keys, the two-tenant pair, header-only proofs, refusals) hold, checked with an
 * independent BLAKE3 where a hash is re-derived.
 */
import assert from "node:assert/strict";
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import { runCliCaptured } from "../src/cli/main.ts";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { parseInputs } from "../src/core/inputs.ts";
import { intentOf } from "../src/core/intent.ts";
import { toHex } from "../src/core/merkle.ts";
import { asCid } from "../src/core/cid.ts";
import { asEpochId } from "../src/core/ids.ts";
import { intentKeyOf, runKeyOf } from "../src/core/run_key.ts";
import { parseStrictJson } from "../src/core/strict_json.ts";
import { VECTOR_CASES } from "../vectors/cases.ts";
import {
  GENERATED_POLICY,
  GENERATED_SIZES,
  generateEpochInputs,
} from "../vectors/generate_epoch.ts";

const VECTORS = new URL("../vectors/", import.meta.url).pathname;
const work = await mkdtemp(join(tmpdir(), "vectors-test-"));
const keyPath = join(work, "signing.key.json");
await copyFile(join(VECTORS, "keys/vector-signing.key.json"), keyPath);
await chmod(keyPath, 0o600);
const keysPath = join(VECTORS, "keys/vector-keys.json");

const cli = runCliCaptured;

const tieKey = (cid: string, account: string) =>
  toHex(nobleBlake3(new TextEncoder().encode(`svc-rewarder/tie/v1|${cid}|${account}`)));

for (const vector of VECTOR_CASES) {
  const dir = join(VECTORS, "cases", vector.name);
  const computeArgs = [
    "compute",
    "--epoch",
    vector.epochId,
    "--inputs",
    join(dir, "inputs.json"),
    "--policy",
    join(dir, "policy.json"),
    "--signing-key",
    keyPath,
  ];

  Deno.test(`vector ${vector.name}: compute matches the hand-known result and the pinned bytes`, async () => {
    const stored = await readFile(join(dir, "inputs.json"), "utf8");
    assert.equal(stored, vector.inputs, "inputs file holds the case's exact bytes");
    const out = await cli(computeArgs);
    const expect = vector.expect;
    if ("error" in expect) {
      assert.equal(out.code, 2);
      if (expect.error === "json") assert.match(out.stderr, /: not I-JSON/);
      else assert.match(out.stderr, new RegExp(`BAD_REQUEST ${expect.error}\\b`));
      if (expect.field) assert.ok(out.stderr.includes(` at ${expect.field}\n`), out.stderr);
      const pinned = JSON.parse(await readFile(join(dir, "expected.json"), "utf8"));
      assert.equal(out.stderr.replaceAll(VECTORS, "vectors/"), pinned.stderr);
      return;
    }
    assert.equal(out.code, expect.status === "sealed" ? 0 : 3);
    const envelope = JSON.parse(out.stdout);
    const m = envelope.manifest;
    assert.equal(m.status, expect.status);
    if (expect.payouts) {
      assert.deepEqual(
        Object.fromEntries(
          m.payouts.map((
            p: { account: string; amount_minor: string },
          ) => [p.account, p.amount_minor]),
        ),
        expect.payouts,
      );
    }
    for (const [k, v] of Object.entries(expect.totals ?? {})) {
      assert.equal(m.totals[k], v, `totals.${k}`);
    }
    for (const [k, v] of Object.entries(expect.residual ?? {})) {
      assert.equal(m.residual[k], v, `residual.${k}`);
    }
    if (expect.inputsCid) assert.equal(m.inputs_cid, expect.inputsCid);
    if (expect.quarantine) assert.deepEqual(m.quarantine, { reason: expect.quarantine });
    assert.equal(
      out.stdout,
      await readFile(join(dir, "envelope.json"), "utf8"),
      "envelope bytes are pinned",
    );
  });

  if ("error" in vector.expect) continue;

  Deno.test(`vector ${vector.name}: verify accepts, and rejects one-byte changes`, async () => {
    const envelopePath = join(dir, "envelope.json");
    const ok = await cli([
      "verify",
      "--envelope",
      envelopePath,
      "--keys",
      keysPath,
      "--inputs",
      join(dir, "inputs.json"),
      "--policy",
      join(dir, "policy.json"),
    ]);
    assert.equal(ok.code, 0, ok.stderr);

    const text = await readFile(envelopePath, "utf8");
    const tamperedManifest = text.replace(
      /"epoch_id":"([^"]*)"/,
      (_, id: string) => `"epoch_id":"${id}x"`,
    );
    await writeFile(join(work, "m.json"), tamperedManifest);
    assert.equal(
      (await cli(["verify", "--envelope", join(work, "m.json"), "--keys", keysPath])).code,
      1,
    );

    const inputs = await readFile(join(dir, "inputs.json"));
    const changed = inputs.slice();
    changed[changed.length - 1] = 0x20; // "}" → " " : one byte, different CID
    await writeFile(join(work, "i.json"), changed);
    assert.equal(
      (await cli([
        "verify",
        "--envelope",
        envelopePath,
        "--keys",
        keysPath,
        "--inputs",
        join(work, "i.json"),
        "--policy",
        join(dir, "policy.json"),
      ])).code,
      1,
    );

    const policy = await readFile(join(dir, "policy.json"), "utf8");
    await writeFile(join(work, "p.json"), policy.replace('"version":1', '"version":2'));
    assert.equal(
      (await cli([
        "verify",
        "--envelope",
        envelopePath,
        "--keys",
        keysPath,
        "--inputs",
        join(dir, "inputs.json"),
        "--policy",
        join(work, "p.json"),
      ])).code,
      1,
    );
  });
}

Deno.test("tie-broken vectors give the leftover unit to the smallest tie key (independent BLAKE3)", async () => {
  for (
    const [name, accounts] of [["equal-thirds-10", ["x", "y", "z"]], ["split-70-30-order-a", [
      "seventy",
      "thirty",
    ]], ["split-70-30-order-b", ["seventy", "thirty"]]] as const
  ) {
    const envelope = JSON.parse(
      await readFile(join(VECTORS, "cases", name, "envelope.json"), "utf8"),
    );
    const cid = envelope.manifest.inputs_cid;
    const winner = [...accounts].sort((a, b) => (tieKey(cid, a) < tieKey(cid, b) ? -1 : 1))[0];
    const amounts = Object.fromEntries(
      envelope.manifest.payouts.map((
        p: { account: string; amount_minor: string },
      ) => [p.account, p.amount_minor]),
    );
    if (name === "equal-thirds-10") {
      for (const a of accounts) assert.equal(amounts[a], a === winner ? "4" : "3", `${name} ${a}`);
    } else {
      // 3.5 / 1.5: both remainders are 0.5, the tie key decides who rounds up.
      assert.equal(amounts.seventy, winner === "seventy" ? "4" : "3");
      assert.equal(amounts.thirty, winner === "thirty" ? "2" : "1");
    }
  }
});

Deno.test("generated epochs (1k / 10k / 100k) keep their pinned hashes", async () => {
  const pinned = JSON.parse(await readFile(join(VECTORS, "generated.json"), "utf8"));
  await writeFile(join(work, "gen-policy.json"), JSON.stringify(GENERATED_POLICY));
  for (const size of GENERATED_SIZES) {
    const inputsPath = join(work, `${size.name}.json`);
    await writeFile(inputsPath, generateEpochInputs(size.name, size.recipients));
    const out = await cli([
      "compute",
      "--epoch",
      size.name,
      "--inputs",
      inputsPath,
      "--policy",
      join(work, "gen-policy.json"),
      "--signing-key",
      keyPath,
    ]);
    const envelope = JSON.parse(out.stdout);
    const expected = pinned.find((p: { name: string }) => p.name === size.name);
    assert.equal(out.code, expected.exit_code);
    assert.equal(envelope.manifest.inputs_cid, expected.inputs_cid, `${size.name} inputs_cid`);
    assert.equal(envelope.manifest_hash, expected.manifest_hash, `${size.name} manifest_hash`);
    assert.equal(envelope.manifest.payouts.length, expected.totals.recipients);
    await rm(inputsPath);
  }
});

const b3 = (text: string | Uint8Array) =>
  "b3:" + toHex(nobleBlake3(typeof text === "string" ? new TextEncoder().encode(text) : text));
const readJson = async (...parts: string[]) =>
  JSON.parse(await readFile(join(VECTORS, ...parts), "utf8"));

Deno.test("v1 vectors: the frozen v1 envelopes still verify, recomputed under their schema", async () => {
  const names = (await readdir(join(VECTORS, "v1", "cases"))).sort();
  assert.ok(names.length >= 15);
  for (const name of names) {
    const envelopePath = join(VECTORS, "v1", "cases", name, "envelope.json");
    const envelope = await readJson("v1", "cases", name, "envelope.json");
    assert.equal(envelope.manifest.schema, "svc-rewarder.manifest.v1");
    // v1: manifest_hash over the whole manifest (independent BLAKE3 over the JCS text).
    assert.equal(b3(canonicalJson(envelope.manifest)), envelope.manifest_hash, name);
    const ok = await cli([
      "verify",
      "--envelope",
      envelopePath,
      "--keys",
      keysPath,
      "--inputs",
      join(VECTORS, "cases", name, "inputs.json"),
      "--policy",
      join(VECTORS, "cases", name, "policy.json"),
    ]);
    assert.equal(ok.code, 0, `${name}: ${ok.stderr}`);
    const text = await readFile(envelopePath, "utf8");
    await writeFile(join(work, "v1.json"), text.replace('"status":"', '"status":"x'));
    const bad = await cli(["verify", "--envelope", join(work, "v1.json"), "--keys", keysPath]);
    assert.equal(bad.code, 1, name);
  }
});

Deno.test("v1 vectors: v1 proof documents still verify (v1 shape, v1 statement)", async () => {
  for (const p of await readJson("v1", "proofs", "expected.json")) {
    const out = await cli([
      "verify-proof",
      "--proof",
      join(VECTORS, "v1", "proofs", p.file),
      "--keys",
      keysPath,
    ]);
    assert.equal(out.code, 0, `${p.file}: ${out.stderr}`);
    assert.match(out.stdout, new RegExp(` ${p.amount_minor}\\n$`));
  }
});

Deno.test("v2 proofs verify with the keys alone; tampered ones give the hand-known reason", async () => {
  // v1 could not do this: without the manifest, payouts_root was not bound to the hash.
  for (const p of await readJson("v2", "proofs", "expected.json")) {
    const path = join(VECTORS, "v2", "proofs", p.file);
    const out = await cli(["verify-proof", "--proof", path, "--keys", keysPath]);
    if (p.valid) {
      assert.equal(out.code, 0, `${p.file}: ${out.stderr}`);
      const doc = await readJson("v2", "proofs", p.file);
      assert.equal(doc.schema, "svc-rewarder.proof.v2");
      // Independently: the header hashes to manifest_hash, the path folds to its root.
      assert.equal(b3(canonicalJson(doc.header)), doc.manifest_hash);
      let acc = nobleBlake3(new TextEncoder().encode(`\0${doc.account}\0${doc.amount_minor}`));
      assert.equal(toHex(acc), doc.leaf);
      for (const step of doc.proof) {
        const sib = Uint8Array.from(step.hash.match(/../g).map((h: string) => parseInt(h, 16)));
        const [l, r] = step.side === "L" ? [sib, acc] : [acc, sib];
        acc = nobleBlake3(Uint8Array.from([1, ...l, ...r]));
      }
      assert.equal("b3:" + toHex(acc), doc.header.payouts_root);
    } else {
      assert.equal(out.code, 1, p.file);
      assert.match(out.stderr, new RegExp(`^invalid: ${p.reason}\\b`), p.file);
    }
  }
});

Deno.test("v2 keys: the contract's run key, and one intent key per tenant (independent BLAKE3)", async () => {
  const keys = await readJson("v2", "keys.json");
  const r = keys.run_key;
  assert.equal(
    b3(`${r.salt}|${r.epoch_id}|${r.policy_hash}|${r.inputs_cid}`),
    "b3:ffd1e7465fb118c067fd14c30a36e2e12ba27f1e1fca34c4b7edcac919dd9bb9",
  );
  assert.equal(
    r.run_key,
    runKeyOf({
      epochId: asEpochId(r.epoch_id),
      policyHash: asCid(r.policy_hash),
      inputsCid: asCid(r.inputs_cid),
      salt: r.salt,
    }),
  );
  const seen = new Set<string>();
  for (const k of keys.intent_keys) {
    assert.equal(b3(`svc-rewarder/intent-key/v1|${k.tenant}|${k.run_key}`), k.intent_key);
    assert.equal(intentKeyOf({ tenant: k.tenant, runKey: k.run_key }), k.intent_key);
    seen.add(k.intent_key);
  }
  assert.equal(seen.size, keys.intent_keys.length);
});

Deno.test("v2 two-tenant pair: one run key and manifest, two intent keys and bodies", async () => {
  const pair = await readJson("v2", "two-tenant", "expected.json");
  const envelope = await readJson("cases", pair.case, "envelope.json");
  assert.equal(envelope.manifest.run_key, pair.run_key);
  assert.equal(envelope.manifest_hash, pair.manifest_hash);
  const bodies = new Set<string>();
  for (const i of pair.intents) {
    const text = await readFile(join(VECTORS, "v2", "two-tenant", i.file), "utf8");
    const intent = JSON.parse(text);
    assert.equal(b3(`svc-rewarder/intent-key/v1|${i.tenant}|${pair.run_key}`), i.intent_key);
    assert.equal(intent.intent_key, i.intent_key);
    assert.equal(intent.tenant, i.tenant);
    assert.equal(intent.run_key, pair.run_key);
    assert.equal(b3(canonicalJson(intent.header)), pair.manifest_hash);
    assert.equal(
      text,
      canonicalJson(intentOf(envelope, { tenant: i.tenant, intentKey: i.intent_key })),
    );
    // Payouts, then the fee (> 0) to the fee account; total = their sum (contract §7).
    const payouts = envelope.manifest.payouts.map((
      p: { account: string; amount_minor: string },
    ) => ({
      to: p.account,
      amount_minor: p.amount_minor,
    }));
    const fee = {
      to: envelope.manifest.fee.account,
      amount_minor: envelope.manifest.fee.amount_minor,
    };
    assert.deepEqual(intent.transfers, [...payouts, fee]);
    const sum = intent.transfers.reduce(
      (s: bigint, t: { amount_minor: string }) => s + BigInt(t.amount_minor),
      0n,
    );
    assert.equal(intent.total_minor, sum.toString());
    bodies.add(text);
  }
  assert.equal(bodies.size, 2);
});

Deno.test("v2 refusals: JCS refuses lone surrogates, the reader refuses what is not I-JSON", async () => {
  // v1 wrote lone surrogates into canonical JSON and read 1e2 as a compat counter.
  for (const r of await readJson("v2", "refusals.json")) {
    const bytes = r.hex === undefined
      ? new TextEncoder().encode(r.text)
      : Uint8Array.from(r.hex.match(/../g).map((h: string) => parseInt(h, 16)));
    if (r.kind === "jcs") {
      const value = JSON.parse(r.text);
      if (r.expect.startsWith("Cannot")) {
        assert.throws(() => canonicalJson(value), { name: "TypeError", message: r.expect }, r.name);
      } else assert.equal(canonicalJson(value), r.expect, r.name);
    } else if (r.kind === "ijson") {
      assert.deepEqual(parseStrictJson(bytes), { ok: false, problem: r.expect }, r.name);
    } else {
      const parsed = parseInputs(bytes);
      assert.ok(!parsed.ok, r.name);
      assert.equal(`${parsed.error.reason} ${parsed.error.path}`, r.expect, r.name);
    }
  }
});

globalThis.addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
