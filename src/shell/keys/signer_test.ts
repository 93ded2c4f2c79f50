import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBase64Url } from "../../core/base64url.ts";
import { KeyFileError, writeSecretFile } from "./key_files.ts";
import { rotateSigningKey, setSigningKeyStatus } from "./key_rotation.ts";
import { loadSigner } from "./signer.ts";

const T0 = Date.UTC(2030, 0, 1);
const HOUR_MS = 3_600_000;

async function writeKey(
  dir: string,
  kid: string,
  fields: { alg?: string; status?: string; not_before?: string } = {},
): Promise<void> {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const doc = { kid, alg: fields.alg ?? "ed25519", private_key: toBase64Url(seed), ...fields };
  await writeSecretFile(join(dir, `${kid}.json`), new TextEncoder().encode(JSON.stringify(doc)));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "signer-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const kidsOf = (keys: { kid: string }[]) => keys.map((k) => k.kid);
const statusOf = (s: { published(): { kid: string; status: string }[] }) =>
  Object.fromEntries(s.published().map((k) => [k.kid, k.status]));

Deno.test("rotation with overlap: the new key is published first, signs at not_before, the old one retires", async () => {
  await withDir(async (dir) => {
    await writeKey(dir, "k1");
    let now = T0;
    const rotated = await rotateSigningKey(dir, {
      kid: "k2",
      alg: "ed25519",
      overlapS: 3600,
      nowMs: () => now,
    });
    assert.equal(rotated.notBeforeMs, T0 + HOUR_MS);
    const signer = await loadSigner(dir, { requirePq: false, nowMs: () => now });
    assert.deepEqual(kidsOf(signer.active()), ["k1"]);
    assert.deepEqual(statusOf(signer), { k1: "active", k2: "active" });
    now = T0 + HOUR_MS - 1;
    assert.deepEqual(kidsOf(signer.active()), ["k1"]);
    now = T0 + HOUR_MS;
    assert.deepEqual(kidsOf(signer.active()), ["k2"]);
    assert.deepEqual(statusOf(signer), { k1: "retired", k2: "active" });
    // Marking it retired in the file changes nothing observable; revoking unpublishes it.
    await setSigningKeyStatus(dir, "k1", "retired");
    const again = await loadSigner(dir, { requirePq: false, nowMs: () => now });
    assert.deepEqual(statusOf(again), { k1: "retired", k2: "active" });
    await setSigningKeyStatus(dir, "k1", "revoked");
    const revoked = await loadSigner(dir, { requirePq: false, nowMs: () => now });
    assert.deepEqual(statusOf(revoked), { k2: "active" });
  });
});

Deno.test("a pending key alone cannot start the service; ambiguous active keys are refused", async () => {
  await withDir(async (dir) => {
    await writeKey(dir, "k1", { not_before: "2030-01-01T01:00:00Z" });
    await assert.rejects(loadSigner(dir, { requirePq: false, nowMs: () => T0 }), KeyFileError);
    await writeKey(dir, "k0");
    const s = await loadSigner(dir, { requirePq: false, nowMs: () => T0 });
    assert.deepEqual(kidsOf(s.active()), ["k0"]);
    await writeKey(dir, "k3");
    await assert.rejects(
      loadSigner(dir, { requirePq: false, nowMs: () => T0 }),
      /share a not_before/,
    );
  });
});

Deno.test("malformed not_before and unknown status are refused", async () => {
  await withDir(async (dir) => {
    await writeKey(dir, "k1", { not_before: "tomorrow" });
    await assert.rejects(loadSigner(dir, { requirePq: false }), /not_before/);
  });
  await withDir(async (dir) => {
    await writeKey(dir, "k1", { status: "pending" });
    await assert.rejects(loadSigner(dir, { requirePq: false }), /malformed/);
  });
});

Deno.test("REQUIRE_PQ_ON: refused without an eligible ml-dsa-65 key, both keys sign with it", async () => {
  await withDir(async (dir) => {
    await writeKey(dir, "ed1");
    const off = await loadSigner(dir, { requirePq: false, nowMs: () => T0 });
    assert.deepEqual(off.active().map((k) => k.alg), ["ed25519"]);
    await assert.rejects(
      loadSigner(dir, { requirePq: true, nowMs: () => T0 }),
      /REQUIRE_PQ_ON/,
    );
    await writeKey(dir, "pq1", { alg: "ml-dsa-65", not_before: "2030-01-01T01:00:00Z" });
    await assert.rejects(
      loadSigner(dir, { requirePq: true, nowMs: () => T0 }),
      /REQUIRE_PQ_ON/,
      "a pending ml-dsa-65 key does not satisfy REQUIRE_PQ_ON",
    );
    const on = await loadSigner(dir, { requirePq: true, nowMs: () => T0 + HOUR_MS });
    assert.deepEqual(on.active().map((k) => `${k.alg}:${k.kid}`), ["ed25519:ed1", "ml-dsa-65:pq1"]);
  });
});

Deno.test("wipe zeroes every private key buffer and disables signing", async () => {
  await withDir(async (dir) => {
    await writeKey(dir, "k1");
    const s = await loadSigner(dir, { requirePq: false });
    const [key] = s.active();
    assert.ok(key?.alg === "ed25519" && key.seed.some((b) => b !== 0));
    s.wipe();
    assert.ok(key.seed.every((b) => b === 0));
    assert.throws(() => s.active(), KeyFileError);
  });
});
