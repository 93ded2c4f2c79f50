/**
 * The dev ledger as its own process, reached through the service's HTTP ledger client with
 * attenuated egress tokens (contract §7, §9): keys scoped by caller and tenant, v2 checks.
 */
import assert from "node:assert/strict";
import { attenuateForLedger } from "../src/shell/caps/egress.ts";
import type { QueuedIntent } from "../src/shell/store/run_store.ts";
import {
  startDevLedger,
  TEST_LEDGER_TOKEN,
  testEgressTokenFor,
} from "./support/dev_ledger_process.ts";
import { createHttpLedgerTarget } from "../src/shell/ledger/http_ledger_target.ts";
import { fakeRun } from "./support/ledger_fixtures.ts";

Deno.test("dev ledger: two tenants, one run key: both applied under their intent keys; replays are duplicates; another body is 409", async () => {
  const ledger = await startDevLedger();
  try {
    const target = createHttpLedgerTarget({
      ledgerUrl: ledger.url,
      tokenFor: testEgressTokenFor(ledger.url),
    });
    const send = (q: QueuedIntent, tenant: string) =>
      target.send(q, { tenant, corrId: "t", signal: AbortSignal.timeout(10_000) });
    const a = fakeRun({ tenant: "acme", feeMinor: "25" });
    const b = fakeRun({ tenant: "beta", feeMinor: "25" });
    assert.equal(a.runKey, b.runKey, "the same epoch, policy and inputs");
    assert.notEqual(a.intentKey, b.intentKey);
    assert.equal(await send(a.queued, "acme"), "accepted");
    assert.equal(await send(b.queued, "beta"), "accepted", "v1 answered 409 here");
    assert.equal(await send(a.queued, "acme"), "duplicate");
    assert.equal(await send(b.queued, "beta"), "duplicate");
    // The same key with other bytes (valid, signed, but another body): 409.
    const other = {
      ...a.queued,
      body: a.queued.body.replace('"epoch_id":"epoch-1"', '"epoch_id":"epoch-2"'),
    };
    assert.notEqual(other.body, a.queued.body);
    // (the header still names epoch-1, so this one is refused before the key is looked at)
    await assert.rejects(send(other, "acme"), /status_400/);
    const sameKeyOtherBody = { ...a.queued, body: `${a.queued.body} ` };
    assert.equal(await send(sameKeyOtherBody, "acme"), "conflict");
    // A pending v1 intent, keyed by its run key, still goes through.
    const v1 = fakeRun({ tenant: "gamma", v1: true, variant: "v1" });
    assert.equal(await send(v1.queued, "gamma"), "accepted");
    const stats = await ledger.stats();
    assert.deepEqual(
      stats.entries.map((e) => [e.tenant, e.key, e.schema]).sort(),
      [
        ["acme", a.intentKey, "svc-rewarder.intent.v2"],
        ["beta", b.intentKey, "svc-rewarder.intent.v2"],
        ["gamma", v1.runKey, "svc-rewarder.intent.v1"],
      ].sort(),
    );
    assert.ok(stats.entries.every((e) => e.caller === "ledger-caller:svc-rewarder-test"));
  } finally {
    await ledger.stop();
  }
});

Deno.test("dev ledger: a token held to another intent is refused (403), a tampered intent 400", async () => {
  const ledger = await startDevLedger();
  try {
    const a = fakeRun({ tenant: "acme" });
    const b = fakeRun({ tenant: "beta", variant: "b", epochId: "e-b" });
    const post = async (q: QueuedIntent, tokenOf: QueuedIntent, tenant: string) => {
      const token = attenuateForLedger(TEST_LEDGER_TOKEN, {
        tenant,
        intentsPath: "/intents",
        runKey: tokenOf.runKey,
        intentKey: tokenOf.intentKey,
        manifestHash: tokenOf.manifestHash,
        nowMs: Date.now(),
        ttlMs: 60_000,
      });
      const res = await fetch(`${ledger.url}/intents`, {
        method: "POST",
        headers: { "idempotency-key": q.idempotencyKey, authorization: `Macaroon ${token}` },
        body: q.body,
      });
      await res.body?.cancel();
      return res.status;
    };
    assert.equal(await post(a.queued, b.queued, "acme"), 403, "another intent's token");
    assert.equal(await post(a.queued, a.queued, "beta"), 403, "another tenant's token");
    const body = JSON.parse(a.queued.body);
    body.transfers[0].amount_minor = "355";
    body.transfers[1].amount_minor = "644";
    const tampered = { ...a.queued, body: JSON.stringify(body) };
    assert.equal(await post(tampered, a.queued, "acme"), 400, "transfers off the payouts_root");
    assert.equal(await post(a.queued, a.queued, "acme"), 200);
  } finally {
    await ledger.stop();
  }
});
