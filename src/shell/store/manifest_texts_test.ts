import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { GENERATED_POLICY, generateEpochInputs } from "../../../vectors/generate_epoch.ts";
import { TEST_KID, TEST_SECRET_KEY } from "../../../tests/support/ledger_fixtures.ts";
import { canonicalJson } from "../../core/canonical_json.ts";
import { cidOf } from "../../core/cid.ts";
import { intentKeyOf, intentOf, sealManifest } from "../../core/mod.ts";
import type { Manifest, SealedEnvelope } from "../../core/types.ts";
import { runEngineJob } from "../engine/engine_worker.ts";
import { fromWire, toWire, transferablesOf, transfersJcsOf } from "../engine/engine_wire.ts";
import { createRunRegistry, queuedIntentOfEnvelope } from "../registry/run_registry.ts";
import { createAtRestCipher, sealedChunks } from "./at_rest_cipher.ts";
import { openFileRunStore } from "./file_run_store.ts";
import {
  JSON_BIG_STRING_CHARS,
  JSON_PIECE_CHARS,
  jsonPieces,
  lightManifestOf,
  manifestOfTexts,
  payoutsUtf8Of,
  transfersTextOf,
} from "./manifest_texts.ts";
import { queuedIntentOf, type RunStore } from "./run_store.ts";
import { createMemoryRunStore } from "./memory_run_store.ts";
import { openPostgresRunStore } from "./postgres_run_store.ts";
import {
  dropSchemas,
  freshSchema,
  withTestDatabase,
} from "../../../tests/support/postgres_test_db.ts";

const KEY = new Uint8Array(32).fill(5);
const POLICY_HASH = `b3:${"0".repeat(64)}`;

const utf8 = (text: string) => new TextEncoder().encode(text);
const textOf = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : new TextDecoder().decode(bytes);

/** A manifest-like object whose payouts are text, and the same object with parsed payouts. */
function lazyPair(payouts: unknown[]): { lazy: Manifest; plain: Manifest } {
  const plain = { schema: "s", a: 1, payouts, z: "last" } as unknown as Manifest;
  const lazy = manifestOfTexts(
    { ...plain, payouts: [] } as unknown as Manifest,
    utf8(JSON.stringify(payouts)),
    utf8("[]"),
  );
  return { lazy, plain };
}

Deno.test("manifest texts: payouts parse on first read, in place; a write replaces the text", () => {
  const { lazy, plain } = lazyPair([{ account: "a", amount_minor: "1" }]);
  assert.equal(textOf(payoutsUtf8Of(lazy)), '[{"account":"a","amount_minor":"1"}]');
  assert.equal(transfersTextOf(lazy), "[]");
  assert.deepEqual(Object.keys(lightManifestOf(lazy)), ["schema", "a", "payouts", "z"]);
  assert.equal(
    textOf(payoutsUtf8Of(lazy)),
    '[{"account":"a","amount_minor":"1"}]',
    "light: not read",
  );
  assert.equal(JSON.stringify(lazy), JSON.stringify(plain), "same members, same order");
  assert.equal(textOf(payoutsUtf8Of(lazy)), undefined, "read once: the text is gone");
  assert.deepEqual(lazy, plain);
  const other = lazyPair([]).lazy;
  (other as { payouts: unknown[] }).payouts = [1];
  assert.equal(payoutsUtf8Of(other), undefined);
  assert.deepEqual(other.payouts, [1]);
});

Deno.test("jsonPieces: the pieces join to JSON.stringify of the value (long strings, surrogates)", () => {
  const pair = "\u{1F600}"; // a surrogate pair
  const long = (at: number) => {
    // A pair straddling a slice boundary, a lone surrogate, quotes, a backslash, a control.
    const chars = Array.from({ length: at + 16 }, (_, i) => 'ab"\\\n'[i % 5]!);
    return chars.slice(0, at - 1).join("") + pair + "\ud800x" + chars.slice(at).join("");
  };
  const big = long(JSON_PIECE_CHARS);
  assert.ok(big.length > JSON_BIG_STRING_CHARS);
  const payouts = Array.from({ length: 3 }, (_, i) => ({ account: `${pair}${i}`, amount: i }));
  for (
    const value of [
      { n: 1, s: "short", nested: [null, true, { x: big }] },
      { manifest: lazyPair(payouts).lazy, body: big, tail: [1, 2] },
      [lazyPair([]).lazy, long(JSON_BIG_STRING_CHARS + 1)],
      "plain",
    ]
  ) {
    const pieces = [...jsonPieces(value)].map((p) => typeof p === "string" ? p : textOf(p)!);
    const expected = JSON.stringify(value, (_k, v) => v); // reads (parses) the payouts
    assert.equal(pieces.join(""), expected);
    for (const p of pieces) {
      assert.ok(p.length <= JSON_PIECE_CHARS * 6 + 2, "a piece is bounded");
      assert.ok(!/[\ud800-\udbff]$/.test(p), "no piece ends inside a pair");
    }
  }
  const manifest = lazyPair(payouts).lazy;
  [...jsonPieces({ manifest })];
  assert.ok(payoutsUtf8Of(manifest) !== undefined, "serialised without parsing the payouts");
});

Deno.test("at-rest sealer: chunks sealed one by one open as the whole plaintext", async () => {
  const cipher = createAtRestCipher(KEY);
  assert.ok(cipher.sealer !== undefined, "Deno's native cipher seals incrementally");
  const plaintext = new Uint8Array(300_001).map((_, i) => i * 7);
  const chunks = [0, 1, 65_536, 100_000, 299_999, 300_001];
  const parts = chunks.slice(1).map((end, i) => plaintext.subarray(chunks[i], end));
  const sealed = await joined(sealedChunks(cipher, "x/name", parts));
  assert.deepEqual(cipher.open("x/name", sealed), plaintext);
  assert.throws(() => cipher.open("x/other", sealed), "the name is bound (AAD)");
  // Without an incremental sealer, the chunks are joined and sealed once.
  const { sealer: _s, ...oneShot } = cipher;
  const once = await joined(sealedChunks(oneShot, "x/name", parts));
  assert.deepEqual(cipher.open("x/name", once), plaintext);
});

async function joined(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const all: Uint8Array[] = [];
  for await (const c of chunks) all.push(c);
  const out = new Uint8Array(all.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of all) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A real engine output for `recipients`, as it crossed from the worker, and the object one. */
async function computed(
  recipients: number,
): Promise<{ lazy: SealedEnvelope; plain: SealedEnvelope }> {
  const epochId = `texts-${recipients}`;
  const bytes = new TextEncoder().encode(generateEpochInputs(epochId, recipients));
  const answer = await runEngineJob({
    id: 1,
    epochId,
    inputs: { kind: "bytes", bytes },
    expectedInputsCid: cidOf(bytes),
    policyDocument: GENERATED_POLICY,
    policyHash: POLICY_HASH,
    salt: "",
  });
  assert.ok(answer.ok);
  // As the worker posts it: the texts' buffers are moved, not copied.
  const wire = toWire(answer);
  const moved = transferablesOf(wire);
  assert.equal(moved.length, answer.value.manifest.status === "sealed" ? 2 : 1);
  const back = fromWire(structuredClone(wire, { transfer: moved }));
  assert.ok(moved.every((b) => b.byteLength === 0), "the sender's buffers are detached");
  assert.ok(back.ok);
  const keys = [{ alg: "ed25519" as const, kid: TEST_KID, seed: TEST_SECRET_KEY }];
  const { manifest, manifestHash } = answer.value;
  return {
    lazy: await sealManifest(back.value.manifest, keys, manifestHash),
    plain: await sealManifest(manifest, keys, manifestHash),
  };
}

Deno.test("engine wire: the transfers' JCS made in the worker is JCS of the intent's transfers", async () => {
  const { plain } = await computed(500);
  const { transfers } = intentOf(plain, { tenant: "acme", intentKey: "k" });
  assert.ok(BigInt(plain.manifest.fee?.amount_minor ?? "0") > 0n, "a fee transfer is last");
  assert.equal(transfersJcsOf(plain.manifest), canonicalJson(transfers));
  assert.equal(transfersJcsOf({ ...plain.manifest, status: "quarantined" }), undefined);
});

Deno.test("a large run's slot and intent are byte-identical to the object path's (file store)", async () => {
  const { lazy, plain } = await computed(50_000);
  const tenant = "acme";
  const m = plain.manifest;
  const intentKey = intentKeyOf({ tenant, runKey: m.run_key as never });
  const expectedIntent = queuedIntentOf(intentOf(plain, { tenant, intentKey }));
  assert.ok(expectedIntent.body.length > JSON_BIG_STRING_CHARS, "the body is escaped in slices");
  assert.ok(payoutsUtf8Of(lazy.manifest)!.length > JSON_PIECE_CHARS, "payouts in several pieces");
  assert.deepEqual(queuedIntentOfEnvelope(lazy, { tenant, intentKey }), expectedIntent);
  assert.ok(payoutsUtf8Of(lazy.manifest) !== undefined, "the intent did not parse the payouts");

  const dir = await mkdtemp(join(tmpdir(), "rw-texts-"));
  try {
    const cipher = createAtRestCipher(KEY);
    const store = await openFileRunStore({ dataDir: dir, cipher, nowMs: () => 0 });
    const registry = await createRunRegistry({ store, nowMs: () => 7 });
    const record = await registry.submit({
      tenant,
      runKey: m.run_key,
      epochId: m.epoch_id,
      dryRun: false,
      envelope: lazy,
      policyHash: m.policy_hash,
      inputsCid: m.inputs_cid,
    });
    assert.equal(record.intent_key, intentKey);
    assert.ok(payoutsUtf8Of(lazy.manifest) !== undefined, "committed without parsing them");
    const name = `tenants/${tenant}/log/000000000001.bin`;
    const text = new TextDecoder().decode(
      cipher.open(name, new Uint8Array(await readFile(join(dir, "store", name)))),
    );
    const stored = JSON.parse(text);
    // The object path: the same body with the manifest's payouts as objects.
    const expected = JSON.stringify({
      run: { ...stored.run, envelope: plain },
      intent: expectedIntent,
      enqueuedAtMs: stored.enqueuedAtMs,
    });
    assert.equal(text, expected);
    assert.deepEqual((await store.getOutbox(tenant, m.run_key))?.intent, expectedIntent);
    const reopened = await openFileRunStore({ dataDir: dir, cipher, nowMs: () => 0 });
    assert.deepEqual((await reopened.getOutbox(tenant, m.run_key))?.intent, expectedIntent);
    assert.deepEqual((await reopened.getRun(tenant, m.run_key))?.envelope, plain);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Commits a run whose payouts are text through the registry; reads it back as the object one. */
async function roundTrip(store: RunStore): Promise<void> {
  const { lazy, plain } = await computed(2_000);
  const tenant = "acme";
  const m = plain.manifest;
  const intentKey = intentKeyOf({ tenant, runKey: m.run_key as never });
  const registry = await createRunRegistry({ store, nowMs: () => 7 });
  await registry.submit({
    tenant,
    runKey: m.run_key,
    epochId: m.epoch_id,
    dryRun: false,
    envelope: lazy,
    policyHash: m.policy_hash,
    inputsCid: m.inputs_cid,
  });
  assert.deepEqual((await store.getRun(tenant, m.run_key))?.envelope, plain);
  assert.deepEqual(
    (await store.getOutbox(tenant, m.run_key))?.intent,
    queuedIntentOf(intentOf(plain, { tenant, intentKey })),
  );
}

Deno.test("memory store: a run whose payouts are text reads back as the object path's", async () => {
  await roundTrip(createMemoryRunStore());
});

await withTestDatabase("postgres store, payouts as text", (url) => {
  Deno.test("postgres store: a run whose payouts are text reads back as the object path's", async () => {
    const schema = freshSchema("texts");
    const store = await openPostgresRunStore({
      databaseUrl: url,
      cipher: createAtRestCipher(KEY),
      leaseMs: 60_000,
      schema,
      poolMax: 2,
    });
    try {
      await roundTrip(store);
    } finally {
      await store.close();
      await dropSchemas(url, [schema]);
    }
  });
});
