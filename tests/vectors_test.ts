/**
 * The golden vectors (vectors/): every case's hand-known expectations hold, `rewarder
 * compute` prints the pinned envelope byte for byte, `verify` accepts it and rejects a
 * one-byte change to the manifest, the inputs or the policy; generated epochs keep their
 * pinned hashes.
 */
import assert from "node:assert/strict";
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import { runCliCaptured } from "../src/cli/main.ts";
import { toHex } from "../src/core/merkle.ts";
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
      assert.match(out.stderr, new RegExp(`BAD_REQUEST ${expect.error}\\b`));
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

globalThis.addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
