import assert from "node:assert/strict";
import { chmod, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fakeRun, storedRunOf } from "../../../tests/support/ledger_fixtures.ts";
import { createAtRestCipher, readAtRestKey } from "./at_rest_cipher.ts";
import { openFileRunStore } from "./file_run_store.ts";
import { runStoreConformance } from "../../../tests/support/run_store_conformance.ts";
import { isStoreUndecryptable } from "./run_store.ts";
import { createFileExclusive, writeFileAtomic } from "../files/atomic_file.ts";

const KEY = new Uint8Array(32).fill(9);
const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "rw-store-"));
  dirs.push(d);
  return d;
}
const openAt = (dataDir: string, key = KEY) =>
  openFileRunStore({ dataDir, cipher: createAtRestCipher(key), nowMs: () => Date.now() });

const dirOf = new WeakMap<object, string>();
runStoreConformance("file", {
  async open() {
    const d = await freshDir();
    const s = await openAt(d);
    dirOf.set(s, d);
    return s;
  },
  async reopen(prev) {
    await prev.close();
    const d = dirOf.get(prev)!;
    const s = await openAt(d);
    dirOf.set(s, d);
    return s;
  },
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

Deno.test("file store: artifacts are encrypted (no plaintext account or hash on disk)", async () => {
  const d = await freshDir();
  const s = await openAt(d);
  const f = fakeRun();
  await s.commitRun(storedRunOf(f, { dryRun: false, seq: 1, atMs: 1 }), f.queued, 1);
  for (const p of await filesUnder(d)) {
    const text = new TextDecoder("latin1").decode(await readFile(p));
    assert.ok(!text.includes("acct_a") && !text.includes(f.runKey.slice(3, 20)), p);
  }
});

Deno.test("file store: a flipped byte is refused with the typed error, health says so", async () => {
  const d = await freshDir();
  let s = await openAt(d);
  const f = fakeRun();
  await s.putRun(storedRunOf(f, { dryRun: true, seq: 1, atMs: 1 }));
  const path = join(d, "store/tenants/acme/runs", `${f.runKey.slice(3)}.bin`);
  const bytes = new Uint8Array(await readFile(path));
  bytes[bytes.length - 20]! ^= 0x01;
  await writeFile(path, bytes);
  await assert.rejects(s.getRun("acme", f.runKey), isStoreUndecryptable);
  assert.equal(await s.health(), "undecryptable");
  s = await openAt(d); // the loader skips it but remembers it
  assert.equal(await s.health(), "undecryptable");
  await assert.rejects(s.getRun("acme", f.runKey), isStoreUndecryptable);
});

Deno.test("file store: swapping two files under each other's names is refused (AAD)", async () => {
  const d = await freshDir();
  const s = await openAt(d);
  const a = fakeRun({ variant: "a" });
  const b = fakeRun({ variant: "b" });
  await s.putRun(storedRunOf(a, { dryRun: true, seq: 1, atMs: 1 }));
  await s.putRun(storedRunOf(b, { dryRun: true, seq: 2, atMs: 1 }));
  const dir = join(d, "store/tenants/acme/runs");
  const pa = join(dir, `${a.runKey.slice(3)}.bin`);
  const pb = join(dir, `${b.runKey.slice(3)}.bin`);
  await rename(pa, `${pa}.x`);
  await rename(pb, pa);
  await rename(`${pa}.x`, pb);
  await assert.rejects(s.getRun("acme", a.runKey), isStoreUndecryptable);
  await assert.rejects(s.getRun("acme", b.runKey), isStoreUndecryptable);
});

Deno.test("file store: a wrong key reads nothing and reports undecryptable", async () => {
  const d = await freshDir();
  const s = await openAt(d);
  const f = fakeRun();
  await s.putRun(storedRunOf(f, { dryRun: true, seq: 1, atMs: 1 }));
  const other = await openAt(d, new Uint8Array(32).fill(1));
  assert.equal(await other.health(), "undecryptable");
  await assert.rejects(other.getRun("acme", f.runKey), isStoreUndecryptable);
});

Deno.test("file store: crash after the commit point is completed on load", async () => {
  const d = await freshDir();
  const s = await openAt(d);
  const f = fakeRun();
  const seq = await s.nextSeq();
  await s.putRun(storedRunOf(f, { dryRun: true, seq, atMs: 1 }));
  await s.commitRun(storedRunOf(f, { dryRun: false, seq, atMs: 1 }), f.queued, 2);
  // Simulate a crash right after link(): the runs/ copy was never rewritten.
  await rm(join(d, "store/tenants/acme/runs", `${f.runKey.slice(3)}.bin`));
  const s2 = await openAt(d);
  assert.equal((await s2.getRun("acme", f.runKey))?.record.dry_run, false);
  assert.equal((await s2.getOutbox("acme", f.runKey))?.state, "pending");
  assert.equal((await s2.duePending(2, 10)).length, 1);
});

Deno.test("file store: an uncommitted temp file (crash before the commit point) leaves no trace", async () => {
  const d = await freshDir();
  let s = await openAt(d);
  const f = fakeRun();
  // A fully written temp commit file that never got linked: the crash came before link().
  const tmp = join(d, "store/tenants/acme/commits/zz.bin.0011223344556677.tmp");
  await writeFileAtomic(tmp, new Uint8Array([1, 2, 3]));
  s = await openAt(d);
  assert.equal(await s.getCommitment("acme", f.epochId), undefined);
  assert.equal((await s.outboxStats()).depth, 0);
  assert.equal(await s.health(), "ok");
});

Deno.test("file store: commits racing with readers leave a log without gaps (all there after a reopen)", async () => {
  const d = await freshDir();
  const s = await openAt(d);
  const runs = Array.from(
    { length: 24 },
    (_, i) => fakeRun({ variant: `r${i}`, epochId: `e${i}` }),
  );
  // Readers of the same tenant's log poll it while every commit lands (a reader that reads a
  // new slot while its committer is between link() and indexing must not skip the next one).
  let done = false;
  const reader = async () => {
    while (!done) await s.getCommitment("acme", "any");
  };
  const readers = Array.from({ length: 4 }, reader);
  for (const [i, f] of runs.entries()) {
    await s.commitRun(storedRunOf(f, { dryRun: false, seq: i + 1, atMs: 1 }), f.queued, 1);
  }
  done = true;
  await Promise.all(readers);
  const again = await openAt(d);
  for (const f of runs) {
    assert.equal(await again.getCommitment("acme", f.epochId), f.runKey, f.epochId);
    assert.equal((await again.getRun("acme", f.runKey))?.record.dry_run, false);
  }
  assert.equal((await again.outboxStats()).depth, runs.length);
});

Deno.test("file store: pending intents of its own commits are read from memory, bounded, dropped once delivered", async () => {
  const d = await freshDir();
  const runs = ["a", "b", "c"].map((v) => fakeRun({ variant: v, epochId: `e-${v}` }));
  // Room for two bodies: the third commit drops the first one kept.
  const s = await openFileRunStore({
    dataDir: d,
    cipher: createAtRestCipher(KEY),
    nowMs: () => Date.now(),
    intentCacheCharsMax: runs[0]!.queued.body.length * 2,
  });
  for (const [i, f] of runs.entries()) {
    const run = storedRunOf(f, { dryRun: false, seq: i + 1, atMs: 1 });
    assert.deepEqual(await s.commitRun(run, f.queued, 1), { committed: true });
  }
  // Make every slot unreadable: what is still answered was not read from disk.
  const log = join(d, "store", "tenants", "acme", "log");
  for (const name of await readdir(log)) {
    const bytes = await readFile(join(log, name));
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(join(log, name), bytes);
  }
  await assert.rejects(s.getOutbox("acme", runs[0]!.runKey), isStoreUndecryptable, "dropped: read");
  for (const f of runs.slice(1)) {
    assert.deepEqual((await s.getOutbox("acme", f.runKey))?.intent, f.queued, "kept: from memory");
  }
  const kept = (await s.getOutbox("acme", runs[2]!.runKey))!;
  // Delivered: its intent is not kept any more.
  await s.updateOutbox({ ...kept, state: "accepted", attempts: 1 });
  await assert.rejects(s.getOutbox("acme", runs[2]!.runKey), isStoreUndecryptable);
  assert.deepEqual((await s.getOutbox("acme", runs[1]!.runKey))?.intent, runs[1]!.queued);
});

Deno.test("atomic_file: exclusive create answers false on an existing name, content intact", async () => {
  const d = await freshDir();
  const p = join(d, "x.bin");
  assert.equal(await createFileExclusive(p, new Uint8Array([1])), true);
  assert.equal(await createFileExclusive(p, new Uint8Array([2])), false);
  assert.deepEqual(new Uint8Array(await readFile(p)), new Uint8Array([1]));
  assert.deepEqual((await readdir(d)).sort(), ["x.bin"], "no temp file left behind");
});

Deno.test("at-rest key file: mode 0600 enforced; raw or base64url 32 bytes", async () => {
  const d = await freshDir();
  const p = join(d, "k");
  await writeFile(p, KEY);
  await chmod(p, 0o644);
  await assert.rejects(
    readAtRestKey(p),
    (e: Error & { reason?: string }) => e.reason === "key_file_mode",
  );
  await chmod(p, 0o600);
  assert.deepEqual(await readAtRestKey(p), KEY);
  await writeFile(p, "AAAA\n");
  await assert.rejects(
    readAtRestKey(p),
    (e: Error & { reason?: string }) => e.reason === "key_file_format",
  );
});

Deno.test("file store tests: cleanup", async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
