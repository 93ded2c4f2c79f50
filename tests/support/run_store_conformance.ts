/**
 * One conformance suite every {@link RunStore} backend must pass (memory, file, later
 * postgres). Test-only module: backends call {@link runStoreConformance} from their tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fakeRun, storedRunOf } from "./ledger_fixtures.ts";
import type { RunStore } from "../../src/shell/store/run_store.ts";

/** A backend factory: `open()` gives a fresh store; `reopen(prev)` the same data, new process. */
export interface ConformanceTarget {
  open(): Promise<RunStore>;
  /** Present for durable backends: closes `prev` and reopens its data. */
  reopen?: (prev: RunStore) => Promise<RunStore>;
}

/** Registers the conformance tests for one backend. */
export function runStoreConformance(name: string, target: ConformanceTarget): void {
  const t = (title: string, fn: (s: RunStore) => Promise<void>) =>
    Deno.test(`${name} conformance: ${title}`, async () => {
      const s = await target.open();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  t("put and get a dry run; unknown is undefined", async (s) => {
    const f = fakeRun();
    assert.equal(await s.getRun("acme", f.runKey), undefined);
    const run = storedRunOf(f, { dryRun: true, seq: await s.nextSeq(), atMs: 1 });
    await s.putRun(run);
    assert.deepEqual(await s.getRun("acme", f.runKey), run);
    assert.equal(await s.getRun("other", f.runKey), undefined, "tenants are isolated");
    assert.equal(await s.getCommitment("acme", f.epochId), undefined);
  });

  t("commitRun is exclusive per tenant+epoch and enqueues the intent", async (s) => {
    const a = fakeRun({ variant: "a" });
    const b = fakeRun({ variant: "b" });
    const ra = storedRunOf(a, { dryRun: false, seq: await s.nextSeq(), atMs: 5 });
    const rb = storedRunOf(b, { dryRun: false, seq: await s.nextSeq(), atMs: 5 });
    const [x, y] = await Promise.all([s.commitRun(ra, a.queued, 5), s.commitRun(rb, b.queued, 5)]);
    assert.equal([x, y].filter((r) => r.committed).length, 1);
    const winner = x.committed ? a : b;
    const loser = x.committed ? b : a;
    assert.deepEqual(x.committed ? y : x, {
      committed: false,
      conflict: "epoch",
      holder: winner.runKey,
    });
    assert.equal(await s.getCommitment("acme", a.epochId), winner.runKey);
    assert.equal(await s.getRun("acme", loser.runKey), undefined, "loser writes nothing");
    assert.equal(await s.getOutbox("acme", loser.runKey), undefined);
    const e = await s.getOutbox("acme", winner.runKey);
    assert.equal(e?.state, "pending");
    assert.deepEqual(e?.intent, winner.queued, "the queued key and body, as given");
    assert.deepEqual(await s.outboxStats(), { depth: 1, oldestEnqueuedAtMs: 5 });
    // Another tenant may commit the same epoch id.
    const c = fakeRun({ tenant: "beta", variant: "a" });
    const rc = storedRunOf(c, { dryRun: false, seq: await s.nextSeq(), atMs: 5 });
    assert.deepEqual(await s.commitRun(rc, c.queued, 5), { committed: true });
  });

  t(
    "inputs commitment: one epoch per inputs CID per tenant; the loser writes nothing",
    async (s) => {
      const shared = fakeRun({ variant: "in" }).inputsCid;
      const a = fakeRun({ variant: "a", epochId: "e-a", inputsCid: shared });
      const b = fakeRun({ variant: "b", epochId: "e-b", inputsCid: shared });
      const ra = storedRunOf(a, { dryRun: false, seq: await s.nextSeq(), atMs: 5 });
      const rb = storedRunOf(b, { dryRun: false, seq: await s.nextSeq(), atMs: 6 });
      assert.deepEqual(await s.commitRun(ra, a.queued, 5), { committed: true });
      assert.deepEqual(await s.commitRun(rb, b.queued, 6), {
        committed: false,
        conflict: "inputs",
        inputsEpoch: "e-a",
      });
      assert.equal(await s.getInputsCommitment("acme", shared), "e-a");
      assert.equal(await s.getCommitment("acme", "e-b"), undefined, "no epoch commitment either");
      assert.equal(await s.getRun("acme", b.runKey), undefined);
      assert.equal(await s.getOutbox("acme", b.runKey), undefined);
      assert.deepEqual(await s.outboxStats(), { depth: 1, oldestEnqueuedAtMs: 5 });
      // Another tenant may commit the same inputs (under any epoch).
      const c = fakeRun({ tenant: "beta", variant: "c", epochId: "e-b", inputsCid: shared });
      const rc = storedRunOf(c, { dryRun: false, seq: await s.nextSeq(), atMs: 7 });
      assert.deepEqual(await s.commitRun(rc, c.queued, 7), { committed: true });
      assert.equal(await s.getInputsCommitment("beta", shared), "e-b");
      assert.equal(await s.getInputsCommitment("acme", shared), "e-a", "tenants are isolated");
    },
  );

  t("an epoch conflict is reported before an inputs conflict (contract §5 step 3)", async (s) => {
    const x = fakeRun({ variant: "x", epochId: "e-1" });
    const y = fakeRun({ variant: "y", epochId: "e-2" });
    await s.commitRun(storedRunOf(x, { dryRun: false, seq: 1, atMs: 1 }), x.queued, 1);
    await s.commitRun(storedRunOf(y, { dryRun: false, seq: 2, atMs: 1 }), y.queued, 1);
    // Epoch e-1 (held by x) with y's inputs (held by e-2): both conflict, the epoch wins.
    const z = fakeRun({ variant: "z", epochId: "e-1", inputsCid: y.inputsCid });
    const rz = storedRunOf(z, { dryRun: false, seq: 3, atMs: 1 });
    assert.deepEqual(await s.commitRun(rz, z.queued, 1), {
      committed: false,
      conflict: "epoch",
      holder: x.runKey,
    });
  });

  t("dry runs commit nothing: neither the epoch nor the inputs", async (s) => {
    const shared = fakeRun({ variant: "in" }).inputsCid;
    const d = fakeRun({ variant: "d", epochId: "e-dry", inputsCid: shared });
    await s.putRun(storedRunOf(d, { dryRun: true, seq: await s.nextSeq(), atMs: 1 }));
    assert.equal(await s.getInputsCommitment("acme", shared), undefined);
    assert.equal(await s.getCommitment("acme", "e-dry"), undefined);
    const w = fakeRun({ variant: "w", epochId: "e-wet", inputsCid: shared });
    const rw = storedRunOf(w, { dryRun: false, seq: await s.nextSeq(), atMs: 2 });
    assert.deepEqual(await s.commitRun(rw, w.queued, 2), { committed: true });
    // A later dry run with the same inputs under another epoch is still stored (§5: allowed).
    const d2 = fakeRun({ variant: "d2", epochId: "e-dry2", inputsCid: shared });
    const rd2 = storedRunOf(d2, { dryRun: true, seq: await s.nextSeq(), atMs: 3 });
    await s.putRun(rd2);
    assert.deepEqual(await s.getRun("acme", d2.runKey), rd2);
    assert.equal(await s.getInputsCommitment("acme", shared), "e-wet");
  });

  t("commitments are never released (failed, conflicted, purged)", async (s) => {
    const f = fakeRun({ variant: "f", epochId: "e-f" });
    await s.commitRun(storedRunOf(f, { dryRun: false, seq: 1, atMs: 1 }), f.queued, 1);
    const [due] = await s.duePending(1, 10);
    assert.ok(due);
    await s.updateOutbox({ ...due, state: "failed", conflict: true, attempts: 1 });
    await s.purgeOlderThan(1_000_000, { batchMax: 100 });
    assert.equal(await s.getCommitment("acme", "e-f"), f.runKey);
    assert.equal(await s.getInputsCommitment("acme", f.inputsCid), "e-f");
    const g = fakeRun({ variant: "g", epochId: "e-g", inputsCid: f.inputsCid });
    const rg = storedRunOf(g, { dryRun: false, seq: 2, atMs: 2 });
    assert.equal((await s.commitRun(rg, g.queued, 2)).committed, false);
  });

  t("races: N epochs with one inputs CID commit exactly once", async (s) => {
    const shared = fakeRun({ variant: "race" }).inputsCid;
    const runs = ["r0", "r1", "r2", "r3", "r4", "r5"].map((v) =>
      fakeRun({ variant: v, epochId: `e-${v}`, inputsCid: shared })
    );
    const results = await Promise.all(
      runs.map((f, i) =>
        s.commitRun(storedRunOf(f, { dryRun: false, seq: i + 1, atMs: 1 }), f.queued, 1)
      ),
    );
    const won = results.flatMap((r, i) => (r.committed ? [runs[i]!] : []));
    assert.equal(won.length, 1, "exactly one epoch commits the inputs");
    const winner = won[0]!;
    for (const r of results) {
      if (!r.committed) {
        assert.deepEqual(r, { committed: false, conflict: "inputs", inputsEpoch: winner.epochId });
      }
    }
    assert.equal(await s.getInputsCommitment("acme", shared), winner.epochId);
    assert.equal((await s.outboxStats()).depth, 1);
    for (const f of runs) {
      if (f === winner) continue;
      assert.equal(await s.getCommitment("acme", f.epochId), undefined);
      assert.equal(await s.getRun("acme", f.runKey), undefined);
    }
  });

  t("the queued key and body come back byte for byte (never rebuilt)", async (s) => {
    const f = fakeRun({ variant: "bytes" });
    // A body the store could not rebuild from the intent: member order and spacing are not JCS.
    const queued = { ...f.queued, body: ` {"z":"\u00e9\u2028","a" : 1}` };
    const run = storedRunOf(f, { dryRun: false, seq: 1, atMs: 1 });
    assert.deepEqual(await s.commitRun(run, queued, 1), { committed: true });
    assert.deepEqual((await s.getOutbox("acme", f.runKey))?.intent, queued);
    const [due] = await s.duePending(1, 10);
    assert.equal(due?.intent.body, queued.body);
    assert.equal(due?.intent.idempotencyKey, f.intentKey);
    await s.updateOutbox({ ...due!, attempts: 2, nextAttemptAtMs: 5 });
    assert.deepEqual((await s.getOutbox("acme", f.runKey))?.intent, queued);
  });

  t("promotion of a dry run; outbox updates; due ordering", async (s) => {
    const f = fakeRun();
    const seq = await s.nextSeq();
    await s.putRun(storedRunOf(f, { dryRun: true, seq, atMs: 1 }));
    const committed = storedRunOf(f, { dryRun: false, seq, atMs: 1 });
    assert.deepEqual(await s.commitRun(committed, f.queued, 10), { committed: true });
    assert.deepEqual(await s.getRun("acme", f.runKey), committed);
    assert.equal((await s.duePending(9, 10)).length, 0, "not due before nextAttemptAtMs");
    const [due] = await s.duePending(10, 10);
    assert.ok(due);
    await s.updateOutbox({ ...due, attempts: 3, nextAttemptAtMs: 50 });
    assert.equal((await s.duePending(49, 10)).length, 0);
    await s.updateOutbox({ ...due, state: "accepted", attempts: 4 });
    assert.equal((await s.getOutbox("acme", f.runKey))?.state, "accepted");
    assert.deepEqual(await s.outboxStats(), { depth: 0, oldestEnqueuedAtMs: undefined });
  });

  t("listing filters and pages in (seq, runKey) order", async (s) => {
    for (const v of ["a", "b", "c", "d", "e"]) {
      const f = fakeRun({ variant: v, epochId: `ep-${v < "c" ? "x" : "y"}` });
      await s.putRun(storedRunOf(f, { dryRun: true, seq: await s.nextSeq(), atMs: 1 }));
    }
    const all = await s.listRuns("acme", { limit: 10 });
    assert.equal(all.length, 5);
    const p1 = await s.listRuns("acme", { limit: 2 });
    const last = p1[1]!;
    const p2 = await s.listRuns("acme", {
      limit: 10,
      after: { seq: last.meta.createdSeq, runKey: last.record.run_key },
    });
    assert.deepEqual([...p1, ...p2].map((r) => r.record.run_key), all.map((r) => r.record.run_key));
    assert.equal((await s.listRuns("acme", { limit: 10, epochId: "ep-x" })).length, 2);
    assert.equal((await s.listRuns("acme", { limit: 10, status: "quarantined" })).length, 0);
    assert.equal((await s.listRuns("beta", { limit: 10 })).length, 0);
  });

  t("flag, counters, retention, health", async (s) => {
    assert.equal(await s.getQuarantineOnly(), false);
    await s.setQuarantineOnly(true);
    assert.equal(await s.getQuarantineOnly(), true);
    assert.equal(await s.count("tok|0"), 0);
    assert.equal(await s.increment("tok|0"), 1);
    const tries = await Promise.all(Array.from({ length: 5 }, () => s.tryIncrement("tok|0", 3)));
    assert.equal(tries.filter(Boolean).length, 2);
    assert.equal(await s.count("tok|0"), 3);
    const old = fakeRun({ variant: "old", epochId: "e-old" });
    const kept = fakeRun({ variant: "kept", epochId: "e-kept" });
    const fresh = fakeRun({ variant: "new", epochId: "e-new" });
    await s.putRun(storedRunOf(old, { dryRun: true, seq: await s.nextSeq(), atMs: 100 }));
    await s.putRun(storedRunOf(fresh, { dryRun: true, seq: await s.nextSeq(), atMs: 900 }));
    await s.commitRun(
      storedRunOf(kept, { dryRun: false, seq: await s.nextSeq(), atMs: 100 }),
      kept.queued,
      100,
    );
    assert.deepEqual(await s.purgeOlderThan(500, { batchMax: 0 }), { purgedRuns: 0, more: true });
    assert.deepEqual(await s.purgeOlderThan(500, { batchMax: 10 }), { purgedRuns: 1, more: false });
    assert.equal(await s.getRun("acme", old.runKey), undefined);
    assert.ok(await s.getRun("acme", fresh.runKey));
    assert.equal((await s.getRun("acme", kept.runKey))?.envelope.signatures.length, 1);
    assert.equal(await s.health(), "ok");
  });

  t(
    "publication queue (contract §13): an entry per commit, in the commit's step, removed once",
    async (s) => {
      assert.deepEqual(await s.pendingPublications(10), []);
      assert.deepEqual(await s.publicationStats(), { depth: 0, oldestEnqueuedAtMs: undefined });
      const a = fakeRun({ variant: "a", epochId: "e-1" });
      const b = fakeRun({ variant: "b", epochId: "e-2" });
      const lost = fakeRun({ variant: "c", epochId: "e-1" });
      const dry = fakeRun({ variant: "d", epochId: "e-3" });
      const ra = storedRunOf(a, { dryRun: false, seq: await s.nextSeq(), atMs: 7 });
      const rb = storedRunOf(b, { dryRun: false, seq: await s.nextSeq(), atMs: 9 });
      assert.deepEqual(await s.commitRun(ra, a.queued, 7), { committed: true });
      assert.deepEqual(await s.commitRun(rb, b.queued, 9), { committed: true });
      // A refused commit and an uncommitted run queue nothing.
      const rl = storedRunOf(lost, { dryRun: false, seq: await s.nextSeq(), atMs: 10 });
      assert.equal((await s.commitRun(rl, lost.queued, 10)).committed, false);
      await s.putRun(storedRunOf(dry, { dryRun: true, seq: await s.nextSeq(), atMs: 11 }));
      assert.deepEqual(await s.pendingPublications(10), [
        { tenant: "acme", runKey: a.runKey, epochId: "e-1", enqueuedAtMs: 7 },
        { tenant: "acme", runKey: b.runKey, epochId: "e-2", enqueuedAtMs: 9 },
      ]);
      assert.equal((await s.pendingPublications(1)).length, 1, "bounded batch");
      assert.deepEqual(await s.publicationStats(), { depth: 2, oldestEnqueuedAtMs: 7 });
      await s.removePublication("acme", a.runKey);
      await s.removePublication("acme", a.runKey); // twice: nothing more
      assert.deepEqual((await s.pendingPublications(10)).map((e) => e.runKey), [b.runKey]);
      assert.deepEqual(await s.publicationStats(), { depth: 1, oldestEnqueuedAtMs: 9 });
      // Every commitment is listed, paged in (tenant, epoch) order.
      const c = fakeRun({ tenant: "beta", variant: "a", epochId: "e-0" });
      const rc = storedRunOf(c, { dryRun: false, seq: await s.nextSeq(), atMs: 12 });
      assert.deepEqual(await s.commitRun(rc, c.queued, 12), { committed: true });
      const all = await s.listCommitments(undefined, 10);
      assert.deepEqual(all.map((x) => [x.tenant, x.epochId, x.runKey]), [
        ["acme", "e-1", a.runKey],
        ["acme", "e-2", b.runKey],
        ["beta", "e-0", c.runKey],
      ]);
      assert.deepEqual(await s.listCommitments(all[0], 1), [all[1]]);
      assert.deepEqual(await s.listCommitments(all[2], 10), []);
    },
  );

  if (target.reopen !== undefined) {
    const reopen = target.reopen;
    Deno.test(`${name} conformance: the publication queue survives a reopen`, async () => {
      let s = await target.open();
      const a = fakeRun({ variant: "a", epochId: "e-1" });
      const b = fakeRun({ variant: "b", epochId: "e-2" });
      await s.commitRun(
        storedRunOf(a, { dryRun: false, seq: await s.nextSeq(), atMs: 3 }),
        a.queued,
        3,
      );
      await s.commitRun(
        storedRunOf(b, { dryRun: false, seq: await s.nextSeq(), atMs: 4 }),
        b.queued,
        4,
      );
      await s.removePublication("acme", a.runKey);
      s = await reopen(s);
      try {
        assert.deepEqual(await s.pendingPublications(10), [
          { tenant: "acme", runKey: b.runKey, epochId: "e-2", enqueuedAtMs: 4 },
        ]);
      } finally {
        await s.close();
      }
    });
    Deno.test(`${name} conformance: everything survives a reopen byte for byte`, async () => {
      let s = await target.open();
      const f = fakeRun();
      const d = fakeRun({ variant: "dry", epochId: "e2" });
      const run = storedRunOf(f, { dryRun: false, seq: await s.nextSeq(), atMs: 3 });
      const dry = storedRunOf(d, { dryRun: true, seq: await s.nextSeq(), atMs: 3 });
      await s.commitRun(run, f.queued, 3);
      await s.putRun(dry);
      await s.setQuarantineOnly(true);
      await s.increment("k");
      const before = JSON.stringify([
        await s.getRun("acme", f.runKey),
        await s.getRun("acme", d.runKey),
      ]);
      s = await reopen(s);
      try {
        const after = JSON.stringify([
          await s.getRun("acme", f.runKey),
          await s.getRun("acme", d.runKey),
        ]);
        assert.equal(after, before);
        assert.equal(await s.getCommitment("acme", f.epochId), f.runKey);
        assert.equal(await s.getInputsCommitment("acme", f.inputsCid), f.epochId);
        assert.deepEqual((await s.getOutbox("acme", f.runKey))?.intent, f.queued);
        assert.equal((await s.getOutbox("acme", f.runKey))?.state, "pending");
        assert.equal((await s.duePending(3, 10)).length, 1);
        assert.equal(await s.getQuarantineOnly(), true);
        assert.equal(await s.count("k"), 1);
        assert.ok((await s.nextSeq()) > dry.meta.createdSeq, "sequence continues after reopen");
      } finally {
        await s.close();
      }
    });
  }
}
