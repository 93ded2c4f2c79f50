import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fakeRun } from "../ledger/test_fixtures.ts";
import {
  type LedgerAnswer,
  LedgerRetryableError,
  type LedgerTarget,
} from "../ledger/ledger_target.ts";
import { openJournalLedgerTarget } from "../ledger/journal_ledger_target.ts";
import { createMemoryRunStore } from "../store/memory_run_store.ts";
import { openFileRunStore } from "../store/file_run_store.ts";
import { createAtRestCipher } from "../store/at_rest_cipher.ts";
import type { RunStore } from "../store/run_store.ts";
import { createRunRegistry } from "../registry/run_registry.ts";
import { createOutboxDispatcher } from "./dispatcher.ts";

async function seed(store: RunStore, n: number, nowMs = 0) {
  const reg = await createRunRegistry({ store, nowMs: () => nowMs });
  const runs = Array.from({ length: n }, (_, i) => fakeRun({ epochId: `e${i}`, variant: `v${i}` }));
  for (const f of runs) {
    await reg.submit({
      tenant: f.tenant,
      runKey: f.runKey,
      epochId: f.epochId,
      dryRun: false,
      envelope: f.envelope,
      intent: f.intent,
      policyHash: f.policyHash,
      inputsCid: f.inputsCid,
    });
  }
  return { reg, runs };
}

/** A scripted target: answers from a list, then "accepted"; records bodies. */
function scripted(script: ("fail" | LedgerAnswer)[]) {
  const bodies: string[] = [];
  const target: LedgerTarget = {
    send(intent) {
      bodies.push(JSON.stringify(intent));
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
