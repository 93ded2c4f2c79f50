// The publication format (contract §13, src/core/publication.ts): paths, signed pointers, and
// the check an edge runs on what an untrusted origin returns. Each refusal below is an attack
// an origin can mount with files it already holds: a pointer copied under another epoch's or
// tenant's name, an object with one byte changed, an object swapped for another valid one.
import assert from "node:assert/strict";
import { canonicalBytes, canonicalJson } from "../src/core/canonical_json.ts";
import { keysDocumentOf, parseKeysDocument } from "../src/core/keys_document.ts";
import {
  checkPublishedEpoch,
  POINTER_SCHEMA,
  POINTER_SIG_DOMAIN,
  publicationFilesOf,
  publicationPaths,
  signPointer,
  verifyPointer,
} from "../src/core/publication.ts";
import { proofDocumentOf, verifyProofDocument } from "../src/core/proof.ts";
import { statusOf } from "../src/core/errors.ts";
import { signStatement } from "../src/core/seal.ts";
import type { SealedEnvelope } from "../src/core/types.ts";
import {
  objectBytesOf,
  v1Envelope,
  v2Envelope,
  vectorKeys,
  vectorKeysBytes,
  vectorSigningKey,
} from "./support/publication_fixture.ts";

const enc = (v: unknown) => canonicalBytes(v);

async function published(tenant: string, envelope: SealedEnvelope) {
  const files = await publicationFilesOf(tenant, envelope, [await vectorSigningKey()]);
  return { objectBytes: files[0]!.bytes, pointerBytes: files[1]!.bytes, files };
}

function refusedAt(
  result: ReturnType<typeof checkPublishedEpoch>,
  path: string | RegExp,
): void {
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.error.code, "DEPENDENCY_UNAVAILABLE");
  assert.equal(result.error.reason, "origin_integrity");
  assert.equal(statusOf(result.error), 503);
  if (typeof path === "string") assert.equal(result.error.path, path);
  else assert.match(result.error.path ?? "", path);
}

Deno.test("publicationPaths: per-tenant roots, content-addressed objects, ids checked", () => {
  const hash = "b3:" + "ab".repeat(32);
  assert.deepEqual(publicationPaths("acme", "2026-11:a.b", hash), {
    object: `tenants/acme/objects/${"ab".repeat(32)}.json`,
    pointer: "tenants/acme/epochs/2026-11:a.b.json",
    keys: "keys.json",
  });
  assert.throws(() => publicationPaths("acme", "..", hash), TypeError);
  assert.throws(() => publicationPaths("acme", "a/b", hash), TypeError);
  assert.throws(() => publicationPaths("../x", "e", hash), TypeError);
  assert.throws(() => publicationPaths("acme", "e", "b3:AB"), TypeError);
});

Deno.test("publicationFilesOf: object (JCS of the envelope) first, then its signed pointer", async () => {
  const envelope = await v2Envelope();
  const { files } = await published("acme", envelope);
  assert.deepEqual(files.map((f) => f.path), [
    `tenants/acme/objects/${envelope.manifest_hash.slice(3)}.json`,
    `tenants/acme/epochs/${envelope.manifest.epoch_id}.json`,
  ]);
  assert.deepEqual(files[0]!.bytes, objectBytesOf(envelope));
  const doc = JSON.parse(new TextDecoder().decode(files[1]!.bytes));
  assert.deepEqual(Object.keys(doc), ["pointer", "signatures"]);
  assert.deepEqual(doc.pointer, {
    epoch_id: envelope.manifest.epoch_id,
    manifest_hash: envelope.manifest_hash,
    schema: POINTER_SCHEMA,
    tenant: "acme",
  });
  // The statement is the domain + JCS(pointer), exactly (contract §13).
  const again = await signStatement(POINTER_SIG_DOMAIN, canonicalJson(doc.pointer), [
    await vectorSigningKey(),
  ]);
  assert.deepEqual(doc.signatures, again);
});

Deno.test("checkPublishedEpoch: a faithful publication is served, v2 and v1", async () => {
  const keys = await vectorKeys();
  for (const envelope of [await v2Envelope(), await v1Envelope()]) {
    const { objectBytes, pointerBytes } = await published("acme", envelope);
    const checked = checkPublishedEpoch({
      pointerBytes,
      objectBytes,
      keys,
      tenant: "acme",
      epochId: envelope.manifest.epoch_id,
    });
    assert.ok(checked.ok, checked.ok ? "" : checked.error.message);
    assert.deepEqual(checked.value.envelope, envelope);
  }
});

Deno.test("a v1 envelope published is served with v1 proofs", async () => {
  const keys = await vectorKeys();
  const envelope = await v1Envelope();
  const { objectBytes, pointerBytes } = await published("acme", envelope);
  const checked = checkPublishedEpoch({
    pointerBytes,
    objectBytes,
    keys,
    tenant: "acme",
    epochId: envelope.manifest.epoch_id,
  });
  assert.ok(checked.ok);
  const account = envelope.manifest.payouts[0]!.account;
  const doc = proofDocumentOf(checked.value.envelope, account)!;
  assert.equal("schema" in doc, false, "v1 proofs keep the v1 shape (no schema)");
  assert.equal((doc as { payouts_root: string }).payouts_root, envelope.manifest.payouts_root);
  assert.ok(verifyProofDocument(doc, keys).ok);
});

Deno.test("a pointer copied under another epoch's name is refused", async () => {
  const keys = await vectorKeys();
  const envelope = await v2Envelope();
  const { objectBytes, pointerBytes } = await published("acme", envelope);
  refusedAt(
    checkPublishedEpoch({ pointerBytes, objectBytes, keys, tenant: "acme", epochId: "other" }),
    "pointer.epoch_id",
  );
});

Deno.test("another tenant's pointer (and object) is refused", async () => {
  const keys = await vectorKeys();
  const envelope = await v2Envelope();
  const { objectBytes, pointerBytes } = await published("globex", envelope);
  refusedAt(
    checkPublishedEpoch({
      pointerBytes,
      objectBytes,
      keys,
      tenant: "acme",
      epochId: envelope.manifest.epoch_id,
    }),
    "pointer.tenant",
  );
});

Deno.test("a byte changed in an object is refused, wherever it is", async () => {
  const keys = await vectorKeys();
  const envelope = await v2Envelope();
  const { objectBytes, pointerBytes } = await published("acme", envelope);
  const text = new TextDecoder().decode(objectBytes);
  const tampered = [
    // an amount (the payouts no longer rebuild payouts_root, sums fail)
    text.replace('"amount_minor":"2"', '"amount_minor":"3"'),
    // a header member (the hash no longer matches)
    text.replace('"asset":"roc"', '"asset":"rod"'),
    // one insignificant space: same value, not the canonical bytes
    text.replace('{"manifest":', '{ "manifest":'),
    // a duplicate member (not I-JSON)
    text.replace('{"manifest":', '{"manifest_hash":"x","manifest":'),
  ];
  for (const t of tampered) {
    assert.notEqual(t, text);
    refusedAt(
      checkPublishedEpoch({
        pointerBytes,
        objectBytes: new TextEncoder().encode(t),
        keys,
        tenant: "acme",
        epochId: envelope.manifest.epoch_id,
      }),
      /^object/,
    );
  }
  // and a byte flipped in the pointer's signature
  const pointer = JSON.parse(new TextDecoder().decode(pointerBytes));
  const sig: string = pointer.signatures[0].sig;
  pointer.signatures[0].sig = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
  refusedAt(
    checkPublishedEpoch({
      pointerBytes: enc(pointer),
      objectBytes,
      keys,
      tenant: "acme",
      epochId: envelope.manifest.epoch_id,
    }),
    "signatures",
  );
});

Deno.test("an object swapped for another valid envelope is refused (hash is the pointer's)", async () => {
  const keys = await vectorKeys();
  const a = await v2Envelope("alabama-10");
  const b = await v2Envelope("alabama-11");
  const { pointerBytes } = await published("acme", a);
  refusedAt(
    checkPublishedEpoch({
      pointerBytes,
      objectBytes: objectBytesOf(b),
      keys,
      tenant: "acme",
      epochId: a.manifest.epoch_id,
    }),
    "object.manifest_hash",
  );
});

Deno.test("a pointer signed by a key the reader does not pin is refused", async () => {
  const envelope = await v2Envelope();
  const stranger = { alg: "ed25519" as const, kid: "vector-test-1", seed: new Uint8Array(32) };
  const doc = await signPointer({
    schema: POINTER_SCHEMA,
    tenant: "acme",
    epoch_id: envelope.manifest.epoch_id,
    manifest_hash: envelope.manifest_hash,
  }, [stranger]);
  const checked = verifyPointer(doc, await vectorKeys(), {
    tenant: "acme",
    epochId: envelope.manifest.epoch_id,
  });
  assert.equal(checked.ok, false);
  // an extra member in the pointer is refused before any signature is checked
  const extra = { ...doc, pointer: { ...doc.pointer, note: "x" } };
  const r = verifyPointer(extra, await vectorKeys(), { tenant: "acme", epochId: "x" });
  assert.ok(!r.ok && r.error.path === "pointer");
});

Deno.test("keys document: round trip, strict members, private keys refused", async () => {
  const keys = await vectorKeys();
  assert.deepEqual(
    canonicalBytes(keysDocumentOf(keys)),
    canonicalBytes(JSON.parse(new TextDecoder().decode(await vectorKeysBytes()))),
  );
  const doc = keysDocumentOf(keys);
  const withSecret = { keys: [{ ...doc.keys[0], private_key: "F5_ivxzJPhy" }] };
  const r = parseKeysDocument(withSecret);
  assert.ok(!r.ok && r.error.path === "keys[0].private_key");
  const jwk = { keys: [{ ...doc.keys[0], d: "x" }] };
  assert.ok(!parseKeysDocument(jwk).ok);
  assert.ok(!parseKeysDocument({ keys: [{ ...doc.keys[0], public_key: "AAAA" }] }).ok);
  assert.ok(!parseKeysDocument({ keys: [], extra: 1 }).ok);
  assert.ok(!parseKeysDocument(new TextEncoder().encode('{"keys":[],"keys":[]}')).ok);
});
