// Every fault of the dev ledger (a real process) ends with every intent delivered exactly once.
import assert from "node:assert/strict";
import { fakeRun } from "./support/ledger_fixtures.ts";
import { startDevLedger, testEgressTokenFor } from "./support/dev_ledger_process.ts";
import { createHttpLedgerTarget } from "../src/shell/ledger/http_ledger_target.ts";
import { createMemoryRunStore } from "../src/shell/store/memory_run_store.ts";
import { createRunRegistry } from "../src/shell/registry/run_registry.ts";
import { createOutboxDispatcher, type DeliveryResult } from "../src/shell/outbox/dispatcher.ts";

const RUNS = 4;
const TICKS_MAX = 60;

async function scenario(faults: string[]): Promise<void> {
  const ledger = await startDevLedger();
  try {
    await ledger.faults(faults);
    const store = createMemoryRunStore();
    const registry = await createRunRegistry({ store, nowMs: Date.now });
    const runs = Array.from(
      { length: RUNS },
      (_, i) => fakeRun({ epochId: `ep-${i}`, variant: `v${i}` }),
    );
    for (const f of runs) {
      await registry.submit({
        tenant: f.tenant,
        runKey: f.runKey,
        epochId: f.epochId,
        dryRun: false,
        envelope: f.envelope,
        policyHash: f.policyHash,
        inputsCid: f.inputsCid,
      });
    }
    const tokens: (string | undefined)[] = [];
    const results: DeliveryResult[] = [];
    const dispatcher = createOutboxDispatcher({
      store,
      target: createHttpLedgerTarget({
        ledgerUrl: ledger.url,
        tokenFor: (i, tenant) => {
          tokens.push(i.runKey);
          return testEgressTokenFor(ledger.url)(i, tenant);
        },
      }),
      nowMs: Date.now,
      attemptTimeoutMs: 500,
      backoffBaseMs: 20,
      redeliverBaseMs: 100,
      redeliverCapMs: 400,
      breakerCoolDownMs: 200,
      batchMax: 2,
      onResult: (r) => results.push(r),
    });
    for (let i = 0; i < TICKS_MAX && (await dispatcher.depth()) > 0; i++) {
      await dispatcher.tick();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await dispatcher.depth(), 0, "every intent acknowledged");
    const stats = await ledger.stats();
    // Applied under the intent keys (contract §7), one per committed run.
    assert.deepEqual(Object.keys(stats.applied).sort(), runs.map((r) => r.intentKey).sort());
    assert.ok(Object.values(stats.applied).every((n) => n === 1), "applied exactly once");
    for (const f of runs) {
      const e = await store.getOutbox("acme", f.runKey);
      assert.ok(e?.state === "accepted" || e?.state === "duplicate");
      const record = await registry.get("acme", f.runKey);
      assert.equal(record?.run.emission, e.state);
    }
    assert.ok(stats.deliveries >= RUNS + faults.length - 1, "the faults were really exercised");
  } finally {
    await ledger.stop();
  }
}

Deno.test("ledger faults: no fault", () => scenario([]));
Deno.test("ledger faults: 5xx (beyond one retry cycle)", () =>
  scenario(["5xx", "5xx", "5xx", "5xx"]));
Deno.test("ledger faults: delay past the attempt deadline", () =>
  scenario(["delay:900", "delay:900"]));
Deno.test("ledger faults: refused connections", () => scenario(["refuse", "refuse"]));
Deno.test("ledger faults: dropped connection after commit", () =>
  scenario(["drop_after_commit", "drop_after_commit"]));
Deno.test("ledger faults: malformed acknowledgement", () =>
  scenario(["malformed_ack", "malformed_ack"]));
Deno.test("ledger faults: a mix", () =>
  scenario(["5xx", "drop_after_commit", "refuse", "malformed_ack", "delay:900"]));

Deno.test("ledger faults: 409 quarantines the run and it is never retried", async () => {
  const ledger = await startDevLedger();
  try {
    const f = fakeRun();
    // Someone already used this idempotency key with another (valid) body: the same intent
    // in other bytes (indented), which a ledger comparing bodies sees as another body.
    const pre = await fetch(`${ledger.url}/intents`, {
      method: "POST",
      headers: { "idempotency-key": f.queued.idempotencyKey },
      body: JSON.stringify(f.intent, null, 1),
    });
    assert.equal(pre.status, 200);
    await pre.body?.cancel();
    const store = createMemoryRunStore();
    const registry = await createRunRegistry({ store, nowMs: Date.now });
    await registry.submit({
      tenant: f.tenant,
      runKey: f.runKey,
      epochId: f.epochId,
      dryRun: false,
      envelope: f.envelope,
      policyHash: f.policyHash,
      inputsCid: f.inputsCid,
    });
    const d = createOutboxDispatcher({
      store,
      target: createHttpLedgerTarget({
        ledgerUrl: ledger.url,
        tokenFor: () => Promise.resolve(undefined),
      }),
      nowMs: Date.now,
    });
    assert.equal(await d.tick(), 1);
    for (let i = 0; i < 3; i++) await d.tick();
    const e = await store.getOutbox("acme", f.runKey);
    assert.deepEqual([e?.state, e?.conflict], ["failed", true]);
    assert.equal((await registry.get("acme", f.runKey))?.run.emission, "failed");
    assert.equal((await ledger.stats()).deliveries, 2, "one pre-seed + one delivery, no retry");
  } finally {
    await ledger.stop();
  }
});

Deno.test("dev ledger refuses bad signatures, broken commitments and broken sums", async () => {
  const ledger = await startDevLedger();
  try {
    const f = fakeRun();
    const post = async (body: unknown) => {
      const r = await fetch(`${ledger.url}/intents`, {
        method: "POST",
        headers: { "idempotency-key": f.queued.idempotencyKey },
        body: JSON.stringify(body),
      });
      return [r.status, (await r.json()).error];
    };
    const other = fakeRun({ variant: "other" }).intent.signatures; // signs another hash
    assert.deepEqual(await post({ ...f.intent, signatures: other }), [400, "signatures"]);
    const badHash = { ...f.intent, manifest_hash: `b3:${"0".repeat(64)}` };
    assert.deepEqual(await post(badHash), [400, "manifest_hash"]);
    assert.deepEqual(await post({ ...f.intent, total_minor: "1000" }), [400, "conservation"]);
    assert.deepEqual(await post({ ...f.intent, extra: 1 }), [400, "schema"]);
    assert.equal(Object.keys((await ledger.stats()).applied).length, 0);
  } finally {
    await ledger.stop();
  }
});
