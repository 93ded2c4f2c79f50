/**
 * The hot path's caches (src/shell/registry/hot_cache.ts; docs/ARCHITECTURE.md, "Caches"):
 * committed envelopes and proofs answered as cached bytes, bounded by bytes; committed runs
 * replayed from the run index with their emission read fresh until it is final.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { RewarderError } from "../src/core/errors.ts";
import type { CidString } from "../src/core/types.ts";
import type { AppEnv } from "../middleware/context.ts";
import { errorResponse } from "../middleware/error_mapper.ts";
import { padJsonBytes } from "../middleware/pad_response.ts";
import { epochHandlers } from "../routes/inspect.ts";
import { proofHandlers } from "../routes/proofs.ts";
import { createHotCaches, createLru } from "../src/shell/registry/hot_cache.ts";
import { createRunRegistry, type RunRegistry } from "../src/shell/registry/run_registry.ts";
import { createMemoryRunStore } from "../src/shell/store/memory_run_store.ts";
import type { RunStore } from "../src/shell/store/run_store.ts";
import { type FakeRun, fakeRun } from "./support/ledger_fixtures.ts";

/** A store that counts the reads the hot path must no longer make. */
function countingStore(inner: RunStore) {
  const reads = { getRun: 0, getCommitment: 0, getOutbox: 0 };
  const store: RunStore = Object.create(inner);
  store.getRun = (t, k) => (reads.getRun++, inner.getRun(t, k));
  store.getCommitment = (t, e) => (reads.getCommitment++, inner.getCommitment(t, e));
  store.getOutbox = (t, k) => (reads.getOutbox++, inner.getOutbox(t, k));
  return { store, reads };
}

function appOf(registry: RunRegistry, tenant = "acme") {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("auth", {
      tenant,
      scopes: ["rewarder.inspect"],
      identifier: "-",
      keyEpoch: 1,
      maxRuns: [],
    });
    await next();
  });
  app.onError((err) => {
    if (err instanceof RewarderError) return errorResponse(err, "c");
    throw err;
  });
  app.get("/rewarder/epochs/:epoch_id", ...epochHandlers({ registry }));
  app.get("/rewarder/epochs/:epoch_id/proofs/:account", ...proofHandlers({ registry }));
  return app;
}

async function commit(registry: RunRegistry, f: FakeRun): Promise<void> {
  await registry.submit({
    tenant: f.tenant,
    runKey: f.runKey as CidString,
    epochId: f.epochId,
    dryRun: false,
    envelope: f.envelope,
    policyHash: f.policyHash as CidString,
    inputsCid: f.inputsCid as CidString,
  });
}

Deno.test("lru: the same answers and evictions as a list-ordered model over random operations (repeated hits on the newest key included)", () => {
  const lru = createLru<number>({ entriesMax: 4, bytesMax: 40 });
  let order: { key: string; bytes: number }[] = []; // least recent first
  let seed = 11; // xorshift32: a fixed sequence
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  for (let i = 0; i < 20_000; i++) {
    const key = `k${next() % 7}`;
    const op = next() % 10;
    const at = order.findIndex((e) => e.key === key);
    if (op < 6) { // a run of gets: often the newest key again
      const got = lru.get(key);
      assert.equal(got !== undefined, at >= 0, `get ${key} at step ${i}`);
      if (at >= 0) order.push(...order.splice(at, 1));
    } else if (op < 9) {
      const bytes = next() % 15;
      lru.set(key, i, bytes);
      if (at >= 0) order.splice(at, 1);
      order.push({ key, bytes });
      while (order.length > 4 || order.reduce((n, e) => n + e.bytes, 0) > 40) order.shift();
    } else {
      lru.delete(key);
      if (at >= 0) order.splice(at, 1);
    }
    assert.equal(lru.stats().entries, order.length, `entries at step ${i}`);
  }
  for (const e of order) assert.notEqual(lru.get(e.key), undefined);
  order = [];
});

Deno.test("lru: bounded by bytes and by entries, least recent evicted, too large not kept", () => {
  const lru = createLru<string>({ entriesMax: 3, bytesMax: 100 });
  lru.set("a", "A", 40);
  lru.set("b", "B", 40);
  assert.equal(lru.get("a"), "A"); // a is now the most recent
  lru.set("c", "C", 40); // 120 B > 100: b (least recent) goes
  assert.equal(lru.get("b"), undefined);
  assert.deepEqual([lru.get("a"), lru.get("c")], ["A", "C"]);
  assert.equal(lru.set("huge", "H", 101), false);
  assert.equal(lru.get("huge"), undefined);
  lru.set("d", "D", 1);
  lru.set("e", "E", 1); // 4 entries > 3: a goes
  const s = lru.stats();
  assert.equal(s.entries, 3);
  assert.ok(s.bytes <= 100);
  assert.equal(s.evictions, 2);
  assert.deepEqual([s.hits, s.misses], [3, 2]);
});

Deno.test("GET a committed epoch: past the byte limit the cache stays bounded and every answer stays right", async () => {
  const runs = Array.from(
    { length: 12 },
    (_, i) => fakeRun({ epochId: `epoch-${i}`, variant: `v${i}` }),
  );
  const expected = runs.map((f) => padJsonBytes(canonicalJson(f.envelope)));
  // Room for about three envelopes: twelve epochs read in turn must evict.
  const bytesMax = Math.floor(expected[0]!.byteLength * 3.5);
  const caches = createHotCaches({ artifactBytesMax: bytesMax });
  const { store, reads } = countingStore(createMemoryRunStore());
  const registry = await createRunRegistry({ store, nowMs: () => 1, caches });
  for (const f of runs) await commit(registry, f);
  const app = appOf(registry);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < runs.length; i++) {
      const res = await app.request(`/rewarder/epochs/epoch-${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("etag"), `"${runs[i]!.envelope.manifest_hash}"`);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), expected[i]);
      assert.ok(caches.artifacts.stats().bytes <= bytesMax, "the artifact cache stays bounded");
    }
  }
  const s = caches.artifacts.stats();
  assert.ok(s.evictions > 0 && s.entries <= 3, JSON.stringify(s));
  // The same epoch twice in a row: the second answer reads nothing from the store.
  await (await app.request("/rewarder/epochs/epoch-0")).arrayBuffer();
  const before = { ...reads };
  const again = await app.request("/rewarder/epochs/epoch-0");
  assert.deepEqual(new Uint8Array(await again.arrayBuffer()), expected[0]);
  assert.deepEqual(reads, before);
  // 304 before any read of the envelope.
  const tag = `"${runs[5]!.envelope.manifest_hash}"`;
  const notModified = await app.request("/rewarder/epochs/epoch-5", {
    headers: { "if-none-match": tag },
  });
  assert.equal(notModified.status, 304);
  assert.equal(notModified.headers.get("etag"), tag);
  // An epoch not committed is still 404, and its absence is not cached.
  assert.equal((await app.request("/rewarder/epochs/epoch-99")).status, 404);
  const late = fakeRun({ epochId: "epoch-99", variant: "late" });
  await commit(registry, late);
  assert.equal((await app.request("/rewarder/epochs/epoch-99")).status, 200);
});

Deno.test("GET an epoch: another tenant's commitment of the same epoch is never answered from the cache", async () => {
  const registry = await createRunRegistry({ store: createMemoryRunStore(), nowMs: () => 1 });
  await commit(registry, fakeRun({ tenant: "acme" }));
  assert.equal((await appOf(registry, "acme").request("/rewarder/epochs/epoch-1")).status, 200);
  assert.equal((await appOf(registry, "other").request("/rewarder/epochs/epoch-1")).status, 404);
});

Deno.test("proofs: bytes cached under the same byte budget; no_payout is 404 even with a matching If-None-Match", async () => {
  const f = fakeRun();
  const caches = createHotCaches();
  const { store, reads } = countingStore(createMemoryRunStore());
  const registry = await createRunRegistry({ store, nowMs: () => 1, caches });
  await commit(registry, f);
  const app = appOf(registry);
  const first = await app.request("/rewarder/epochs/epoch-1/proofs/acct_a");
  assert.equal(first.status, 200);
  const body = new Uint8Array(await first.arrayBuffer());
  const before = { ...reads };
  const second = await app.request("/rewarder/epochs/epoch-1/proofs/acct_a");
  assert.deepEqual(new Uint8Array(await second.arrayBuffer()), body);
  assert.deepEqual(reads, before);
  const tag = `"${f.envelope.manifest_hash}"`;
  const none = await app.request("/rewarder/epochs/epoch-1/proofs/acct_zz", {
    headers: { "if-none-match": tag },
  });
  assert.equal(none.status, 404);
  // leaves + one proof, all in the one artifact budget
  assert.equal(caches.artifacts.stats().entries, 2);
});

Deno.test("replay from the run index: no envelope read; emission read fresh until final, then kept", async () => {
  const f = fakeRun();
  const { store, reads } = countingStore(createMemoryRunStore());
  const registry = await createRunRegistry({ store, nowMs: () => 1 });
  await commit(registry, f);
  const runKey = f.runKey as CidString;
  const getRunsAfterCommit = reads.getRun;
  const found = await registry.lookup("acme", runKey);
  assert.equal(found?.committed?.emission, "pending");
  assert.equal(found?.committed?.manifest_hash, f.envelope.manifest_hash);
  assert.equal(reads.getRun, getRunsAfterCommit, "indexed at commit: no run read");
  // The dispatcher delivers: the next replay sees it (the outbox is read while pending).
  const entry = await store.getOutbox("acme", runKey);
  await store.updateOutbox({ ...entry!, state: "accepted", attempts: 1 });
  assert.equal((await registry.lookup("acme", runKey))?.committed?.emission, "accepted");
  const outboxReads = reads.getOutbox;
  assert.equal((await registry.lookup("acme", runKey))?.committed?.emission, "accepted");
  assert.equal(reads.getOutbox, outboxReads, "a final emission is kept");
  // Quarantine-only turns a pending emission into suppressed: read fresh, never cached.
  const g = fakeRun({ epochId: "epoch-2", variant: "g" });
  await commit(registry, g);
  await registry.setQuarantineOnly(true);
  const held = await registry.lookup("acme", g.runKey as CidString);
  assert.equal(held?.committed?.emission, "suppressed");
  await registry.setQuarantineOnly(false);
  assert.equal(
    (await registry.lookup("acme", g.runKey as CidString))?.committed?.emission,
    "pending",
  );
  // A dry run is not indexed (it may be promoted): it is answered from the store, envelope and all.
  const d = fakeRun({ epochId: "epoch-3", variant: "d" });
  await registry.submit({
    tenant: d.tenant,
    runKey: d.runKey as CidString,
    epochId: d.epochId,
    dryRun: true,
    envelope: d.envelope,
    policyHash: d.policyHash as CidString,
    inputsCid: d.inputsCid as CidString,
  });
  const dry = await registry.lookup("acme", d.runKey as CidString);
  assert.equal(dry?.committed, undefined);
  assert.equal(dry?.stored?.run.emission, "dry_run");
  // A fresh registry (a restart, or another instance) indexes on first read.
  const other = await createRunRegistry({ store, nowMs: () => 1 });
  const n = reads.getRun;
  await other.lookup("acme", runKey);
  await other.lookup("acme", runKey);
  assert.equal(reads.getRun, n + 1);
});
