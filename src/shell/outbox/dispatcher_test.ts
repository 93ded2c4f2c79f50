import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fakeRun, storedRunOf } from "../../../tests/support/ledger_fixtures.ts";
import {
  type LedgerAnswer,
  LedgerRetryableError,
  type LedgerTarget,
} from "../ledger/ledger_target.ts";
import { openJournalLedgerTarget } from "../ledger/journal_ledger_target.ts";
import { createMemoryRunStore } from "../store/memory_run_store.ts";
import { openFileRunStore } from "../store/file_run_store.ts";
import { createAtRestCipher } from "../store/at_rest_cipher.ts";
import type { QueuedIntent, RunStore } from "../store/run_store.ts";
import { createOutboxDispatcher } from "./dispatcher.ts";

/** Commits `n` runs (each with its queued intent) straight into the store. */
async function seed(store: RunStore, n: number, nowMs = 0, options: { v1?: boolean } = {}) {
  const runs = Array.from(
    { length: n },
    (_, i) => fakeRun({ epochId: `e${i}`, variant: `v${i}`, ...options }),
  );
  for (const [i, f] of runs.entries()) {
    const run = storedRunOf(f, { dryRun: false, seq: i + 1, atMs: nowMs });
    assert.deepEqual(await store.commitRun(run, f.queued, nowMs), { committed: true });
  }
  return { runs };
}

/** A scripted target: answers from a list, then "accepted"; records key + body per send. */
function scripted(script: ("fail" | LedgerAnswer)[]) {
  const bodies: string[] = [];
  const target: LedgerTarget = {
    send(intent) {
      bodies.push(`${intent.idempotencyKey} ${intent.body}`);
      const next = script.shift() ?? "accepted";
      if (next === "fail") return Promise.reject(new LedgerRetryableError("status_503"));
      return Promise.resolve(next);
    },
  };
  return { target, bodies };
}

Deno.test("dispatcher: retries with full-jitter backoff, identical bodies, then stays pending", async () => {
  const store = createMemoryRunStore();
  await seed(store, 1);
  const { target, bodies } = scripted(["fail", "fail", "fail", "fail", "accepted"]);
  const sleeps: number[] = [];
  let now = 0;
  const d = createOutboxDispatcher({
    store,
    target,
    nowMs: () => now,
    random: () => 0.5,
    sleep: (ms) => (sleeps.push(ms), Promise.resolve()),
    backoffBaseMs: 100,
    redeliverBaseMs: 1_000,
  });
  assert.equal(await d.tick(), 0);
  assert.deepEqual(sleeps, [50, 100], "random·min(cap, base·2^n)");
  assert.equal(bodies.length, 3, "1 + MAX_RETRIES_LEDGER attempts");
  assert.equal(new Set(bodies).size, 1, "identical body on every attempt");
  assert.equal(await d.tick(), 0, "not due yet");
  now = 2_000;
  assert.equal(await d.tick(), 1);
  assert.equal(bodies.length, 5);
  assert.equal(
    (await store.getOutbox("acme", fakeRun({ epochId: "e0", variant: "v0" }).runKey))?.attempts,
    5,
  );
  assert.equal(await d.depth(), 0);
});

Deno.test("dispatcher: breaker opens after consecutive failures and half-opens after cool-down", async () => {
  const store = createMemoryRunStore();
  await seed(store, 3);
  const { target, bodies } = scripted(Array(6).fill("fail"));
  let now = 0;
  const d = createOutboxDispatcher({
    store,
    target,
    nowMs: () => now,
    sleep: () => Promise.resolve(),
    batchMax: 1,
    breakerFailuresToOpen: 3,
    breakerCoolDownMs: 10_000,
    redeliverBaseMs: 1,
  });
  await d.tick();
  assert.equal(d.breakerOpen(), true);
  now = 5;
  await d.tick();
  assert.equal(bodies.length, 3, "no delivery while open");
  now = 10_005; // half-open: one probe, it fails (script), open again
  await d.tick();
  assert.equal(bodies.length, 4);
  assert.equal(d.breakerOpen(), true);
  now = 30_000;
  for (let i = 0; i < 10 && (await d.depth()) > 0; i++) {
    now += 20_000;
    await d.tick();
  }
  assert.equal(await d.depth(), 0);
  assert.equal(d.breakerOpen(), false);
  assert.equal(await d.oldestPendingAgeMs(), 0);
});

Deno.test("dispatcher: one in-flight delivery per run key; paused sends nothing", async () => {
  const store = createMemoryRunStore();
  await seed(store, 1);
  let calls = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const target: LedgerTarget = {
    async send() {
      calls += 1;
      await gate;
      return "accepted";
    },
  };
  let paused = true;
  const d = createOutboxDispatcher({ store, target, nowMs: () => 0, paused: () => paused });
  assert.equal(await d.tick(), 0);
  assert.equal(calls, 0);
  paused = false;
  const a = d.tick();
  const b = d.tick();
  await new Promise((r) => setTimeout(r, 10));
  release();
  assert.equal((await a) + (await b), 1);
  assert.equal(calls, 1);
});

Deno.test("dispatcher: pending intents survive a restart (file store) and the journal dedups", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rw-disp-"));
  try {
    const cipher = createAtRestCipher(new Uint8Array(32).fill(5));
    const open = () => openFileRunStore({ dataDir: dir, cipher, nowMs: () => 0 });
    const journalPath = join(dir, "journal.jsonl");
    let store = await open();
    const { runs } = await seed(store, 3);
    const journal = await openJournalLedgerTarget({ path: journalPath, cipher });
    // First process: delivers one, then "crashes" after the send of the second (ack never stored).
    let sends = 0;
    const crashing: LedgerTarget = {
      async send(intent, ctx) {
        sends += 1;
        const answer = await journal.send(intent, ctx);
        if (sends === 2) throw new LedgerRetryableError("crash");
        return answer;
      },
    };
    const d1 = createOutboxDispatcher({
      store,
      target: crashing,
      nowMs: () => 0,
      batchMax: 1,
      retriesMax: 0,
    });
    await d1.tick();
    await d1.tick();
    store = await open();
    const journal2 = await openJournalLedgerTarget({ path: journalPath, cipher });
    const results: string[] = [];
    const d2 = createOutboxDispatcher({
      store,
      target: journal2,
      nowMs: () => 1e9,
      onResult: (r) => results.push(r.result),
    });
    await d2.tick();
    assert.deepEqual(results.sort(), ["accepted", "duplicate"]);
    assert.equal(await d2.depth(), 0);
    const applied = await journal2.applied();
    assert.deepEqual(applied.map((i) => i.run_key).sort(), runs.map((r) => r.runKey).sort());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A target that records what it was sent: tenant, Idempotency-Key and body text. */
function recording(script: ("fail" | LedgerAnswer)[] = []) {
  const sent: { tenant: string; key: string; body: string }[] = [];
  const target: LedgerTarget = {
    send(intent: QueuedIntent, { tenant }) {
      sent.push({ tenant, key: intent.idempotencyKey, body: intent.body });
      const next = script.shift() ?? "accepted";
      if (next === "fail") return Promise.reject(new LedgerRetryableError("status_503"));
      return Promise.resolve(next);
    },
  };
  return { target, sent };
}

Deno.test("dispatcher: sends the queued key and body as stored, never a rebuilt intent (§7)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rw-disp-"));
  try {
    const cipher = createAtRestCipher(new Uint8Array(32).fill(5));
    const open = () => openFileRunStore({ dataDir: dir, cipher, nowMs: () => 0 });
    let store = await open();
    const f = fakeRun();
    // Bytes no rebuild could produce (not JCS): whatever was queued is what goes out.
    const queued = { ...f.queued, body: `${f.queued.body} ` };
    await store.commitRun(storedRunOf(f, { dryRun: false, seq: 1, atMs: 0 }), queued, 0);
    const first = recording(["fail", "fail", "fail"]);
    let now = 0;
    const d1 = createOutboxDispatcher({
      store,
      target: first.target,
      nowMs: () => now,
      sleep: () => Promise.resolve(),
    });
    assert.equal(await d1.tick(), 0);
    store = await open(); // a restart between cycles
    now = 1e9;
    const second = recording();
    const d2 = createOutboxDispatcher({ store, target: second.target, nowMs: () => now });
    assert.equal(await d2.tick(), 1);
    const all = [...first.sent, ...second.sent];
    assert.equal(all.length, 4);
    for (const s of all) {
      assert.deepEqual(s, { tenant: "acme", key: f.intentKey, body: queued.body });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("dispatcher: two tenants, one run key: two intent keys, both accepted by the journal", async () => {
  const store = createMemoryRunStore();
  const a = fakeRun({ tenant: "acme" });
  const b = fakeRun({ tenant: "beta" });
  assert.equal(a.runKey, b.runKey, "the same economic result");
  for (const f of [a, b]) {
    await store.commitRun(storedRunOf(f, { dryRun: false, seq: 1, atMs: 0 }), f.queued, 0);
  }
  const journal = await openJournalLedgerTarget({});
  const results: string[] = [];
  const d = createOutboxDispatcher({
    store,
    target: journal,
    nowMs: () => 0,
    onResult: (r) => results.push(`${r.tenant}:${r.result}`),
  });
  assert.equal(await d.tick(), 2);
  assert.deepEqual(results.sort(), ["acme:accepted", "beta:accepted"]);
  const keys = (await journal.entries()).map((e) => e.key).sort();
  assert.deepEqual(keys, [a.intentKey, b.intentKey].sort());
});

Deno.test("dispatcher: a v1 intent queued before the upgrade goes out as v1, keyed by its run key", async () => {
  const store = createMemoryRunStore();
  const { runs } = await seed(store, 1, 0, { v1: true });
  const f = runs[0]!;
  const { target, sent } = recording();
  await createOutboxDispatcher({ store, target, nowMs: () => 0 }).tick();
  assert.deepEqual(sent, [{ tenant: "acme", key: f.runKey, body: f.queued.body }]);
  assert.equal(JSON.parse(sent[0]!.body).schema, "svc-rewarder.intent.v1");
});

Deno.test("dispatcher loop: a failing tick is reported, not swallowed, and the loop goes on", async () => {
  const store = createMemoryRunStore();
  await seed(store, 1);
  const errors: unknown[] = [];
  let oks = 0;
  let failNext = 2;
  let recovered!: () => void;
  const done = new Promise<void>((resolve) => (recovered = resolve));
  const flaky: RunStore = {
    ...store,
    duePending(nowMs, limit) {
      if (failNext > 0) {
        failNext -= 1;
        return Promise.reject(new Error("store unreachable"));
      }
      return store.duePending(nowMs, limit);
    },
  };
  const { target } = scripted([]);
  const d = createOutboxDispatcher({
    store: flaky,
    target,
    nowMs: () => 0,
    onLoopError: (err) => errors.push(err),
    onLoopOk: () => {
      oks += 1;
      recovered();
    },
  });
  d.start(1);
  await done;
  await d.stop();
  assert.equal(errors.length, 2, "each failed tick reaches onLoopError");
  assert.match(String((errors[0] as Error).message), /store unreachable/);
  assert.ok(oks >= 1, "the loop kept ticking after the failures");
  assert.equal((await store.duePending(0, 10)).length, 0, "the entry was delivered afterwards");
});
