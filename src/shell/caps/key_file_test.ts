import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBase64Url } from "../../core/base64url.ts";
import { loadCapsKeys, openKeyRing, parseCapsKeys } from "./key_file.ts";

const S = toBase64Url(new Uint8Array(32).fill(2));
const good = { current_epoch: 1, epochs: { "1": S }, revoked: [] as number[] };

Deno.test("parseCapsKeys: strict validation", () => {
  assert.equal(parseCapsKeys(JSON.stringify(good)).currentEpoch, 1);
  const bad: unknown[] = [
    { ...good, extra: 1 },
    { ...good, current_epoch: 2 },
    { ...good, current_epoch: 1.5 },
    { ...good, epochs: { "01": S } },
    { ...good, epochs: { "1": S + "A" } },
    { ...good, epochs: { "1": toBase64Url(new Uint8Array(31)) } },
    { ...good, revoked: [1] },
    { ...good, revoked: [2, 2] },
    { ...good, revoked: ["2"] },
    [],
  ];
  for (const b of bad) {
    assert.throws(() => parseCapsKeys(JSON.stringify(b)), /Cannot load caps key file/);
  }
  assert.throws(() => parseCapsKeys("{"), /not JSON/);
});

Deno.test("loadCapsKeys reads a real file and refuses modes looser than 0600", async () => {
  const dir = await mkdtemp(join(tmpdir(), "caps-keys-"));
  try {
    const path = join(dir, "caps.json");
    await writeFile(path, JSON.stringify(good));
    for (const mode of [0o600, 0o400]) {
      await chmod(path, mode);
      assert.equal((await loadCapsKeys(path)).currentEpoch, 1);
    }
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
      await chmod(path, mode);
      await assert.rejects(loadCapsKeys(path), /looser than 0600/);
      await assert.rejects(openKeyRing({ path }), /looser than 0600/);
    }
    await assert.rejects(loadCapsKeys(join(dir, "missing.json")));
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("KeyRing: interval bounded to 60 s, reload() on demand, status after failure", async () => {
  let text = JSON.stringify(good);
  const reader = () => Promise.resolve({ mode: 0o600, text });
  await assert.rejects(openKeyRing({ path: "x", reader, reloadIntervalMs: 60_001 }), RangeError);
  const ring = await openKeyRing({ path: "x", reader, nowMs: () => 0 });
  assert.ok(await ring.masterSecretFor(1));
  text = JSON.stringify({ current_epoch: 2, epochs: { "1": S, "2": S }, revoked: [1] });
  assert.ok(await ring.masterSecretFor(1)); // clock frozen: no reload yet
  await ring.reload();
  assert.equal(await ring.masterSecretFor(1), undefined);
  assert.equal(ring.currentEpoch(), 2);
  text = "garbage";
  await ring.reload();
  assert.equal(ring.status(), "unreadable");
  assert.ok(await ring.masterSecretFor(2));
  const stop = ring.startTimer();
  stop();
});

Deno.test("KeyRing: a reload tells onChange about a new current epoch and new revocations only", async () => {
  let text = JSON.stringify(good);
  const reader = () => Promise.resolve({ mode: 0o600, text });
  const changes: unknown[] = [];
  const ring = await openKeyRing({
    path: "x",
    reader,
    nowMs: () => 0,
    onChange: (c) => void changes.push(c),
  });
  await ring.reload();
  assert.deepEqual(changes, [], "an unchanged file is no change");
  text = JSON.stringify({ current_epoch: 2, epochs: { "1": S, "2": S }, revoked: [1] });
  await ring.reload();
  assert.deepEqual(changes, [{ kind: "current", keyEpoch: 2 }, { kind: "revoked", keyEpoch: 1 }]);
  text = "garbage";
  await ring.reload();
  assert.equal(changes.length, 2, "a failed reload changes nothing");
});

Deno.test("caps key file: I-JSON only (a duplicate member is refused, not last-wins)", () => {
  const twice = `{"current_epoch":1,"epochs":{"1":"${S}"},"revoked":[],"revoked":[1]}`;
  assert.throws(() => parseCapsKeys(twice), /not I-JSON/);
  assert.equal(parseCapsKeys(JSON.stringify(good)).currentEpoch, 1);
});

Deno.test("caps key file: the default reader refuses a loose mode on the handle it reads", async () => {
  const dir = await mkdtemp(join(tmpdir(), "caps-mode-"));
  try {
    const path = join(dir, "caps.json");
    await writeFile(path, JSON.stringify(good));
    await chmod(path, 0o644);
    await assert.rejects(loadCapsKeys(path), /mode 644 is looser than 0600/);
    await chmod(path, 0o600);
    assert.equal((await loadCapsKeys(path)).currentEpoch, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
