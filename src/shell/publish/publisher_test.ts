/**
 * The publisher over a memory store (contract §13): a tick writes keys.json once, each queued
 * commit's object and pointer, and removes the entry only after its files are written; a
 * failing directory leaves the entries queued and counts each failure; `writePublicationFile`
 * skips identical files and, in `refuse` mode, never overwrites a different one.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { canonicalBytes } from "../../core/canonical_json.ts";
import { objectPath, pointerPath, verifyPointer } from "../../core/publication.ts";
import { createMemoryRunStore } from "../store/memory_run_store.ts";
import { fakeRun, storedRunOf } from "../../../tests/support/ledger_fixtures.ts";
import { vectorKeys, vectorSigningKey } from "../../../tests/support/publication_fixture.ts";
import { createPublisher } from "./publisher.ts";
import { PublicationConflict, publishEnvelope } from "./publication_writer.ts";

async function setup(root: string) {
  const store = createMemoryRunStore();
  const signing = [await vectorSigningKey()];
  const keys = await vectorKeys();
  const runs = [
    fakeRun({ variant: "a", epochId: "e-1" }),
    fakeRun({ variant: "b", epochId: "e-2" }),
  ];
  for (const [i, f] of runs.entries()) {
    const run = storedRunOf(f, { dryRun: false, seq: i + 1, atMs: 10 + i });
    assert.deepEqual(await store.commitRun(run, f.queued, 10 + i), { committed: true });
  }
  const failures: unknown[] = [];
  const publisher = createPublisher({
    store,
    root,
    signingKeys: () => signing,
    publishedKeys: () => keys,
    nowMs: () => 70_010,
    onFailure: (_entry, err) => failures.push(err),
  });
  return { store, signing, keys, runs, failures, publisher };
}

Deno.test("publisher: a tick publishes every queued commit, then removes its entry", async () => {
  const root = await Deno.makeTempDir({ prefix: "publisher_" });
  try {
    const { store, keys, runs, publisher } = await setup(root);
    assert.equal(await publisher.lagMs(), 70_000, "the oldest entry's age");
    assert.equal(await publisher.tick(), 2);
    assert.deepEqual(await store.pendingPublications(10), []);
    assert.equal(await publisher.lagMs(), 0);
    for (const f of runs) {
      // The pointer is signed by the publisher; the object is the envelope's JCS exactly.
      const pointer = JSON.parse(
        await Deno.readTextFile(join(root, pointerPath("acme", f.epochId))),
      );
      const checked = verifyPointer(pointer, keys, { tenant: "acme", epochId: f.epochId });
      assert.ok(checked.ok, checked.ok ? "" : checked.error.path);
      assert.equal(checked.value.manifest_hash, f.envelope.manifest_hash);
      assert.deepEqual(
        new Uint8Array(await readFile(join(root, objectPath("acme", f.envelope.manifest_hash)))),
        canonicalBytes(f.envelope),
      );
    }
    const keysDoc = JSON.parse(await Deno.readTextFile(join(root, "keys.json")));
    assert.deepEqual(keysDoc.keys.map((k: { kid: string }) => k.kid), keys.map((k) => k.kid));
    assert.equal(await publisher.tick(), 0, "nothing left");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("publisher: a directory that cannot be written leaves every entry queued", async () => {
  const dir = await Deno.makeTempDir({ prefix: "publisher_" });
  try {
    const blocker = join(dir, "file");
    await writeFile(blocker, "x");
    const { store, failures, publisher } = await setup(join(blocker, "root"));
    await assert.rejects(publisher.tick());
    assert.equal(failures.length, 1, "keys.json failed: no entry is tried");
    assert.equal((await store.pendingPublications(10)).length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("publication writer: identical files skipped; refuse mode never overwrites", async () => {
  const root = await Deno.makeTempDir({ prefix: "publisher_" });
  try {
    const { signing, keys, runs } = await setup(root);
    const env = runs[0]!.envelope;
    const opts = { root, signingKeys: signing, keys, onDiffer: "refuse" as const };
    assert.equal(await publishEnvelope("acme", env, opts), 2);
    assert.equal(await publishEnvelope("acme", env, opts), 0, "idempotent");
    const pointer = join(root, pointerPath("acme", runs[0]!.epochId));
    await writeFile(pointer, "{}");
    await assert.rejects(publishEnvelope("acme", env, opts), PublicationConflict);
    assert.equal(await Deno.readTextFile(pointer), "{}");
    assert.equal(await publishEnvelope("acme", env, { ...opts, onDiffer: "replace" }), 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
