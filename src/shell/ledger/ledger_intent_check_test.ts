import assert from "node:assert/strict";
import { canonicalJson } from "../../core/canonical_json.ts";
import { parsePublishedKeys } from "../keys/key_files.ts";
import { fakeRun, testKeysDocument } from "../../../tests/support/ledger_fixtures.ts";
import { checkLedgerIntent, egressCaveatsHold } from "./ledger_intent_check.ts";

const KEYS = parsePublishedKeys(testKeysDocument());
const parse = (body: string) => JSON.parse(body) as Record<string, unknown>;

Deno.test("ledger check: a v2 intent with its header is accepted under its intent key", () => {
  for (const f of [fakeRun(), fakeRun({ feeMinor: "25" })]) {
    const r = checkLedgerIntent(parse(f.queued.body), f.queued.idempotencyKey, KEYS);
    assert.deepEqual(r, {
      ok: true,
      value: {
        schema: "svc-rewarder.intent.v2",
        tenant: "acme",
        runKey: f.runKey,
        intentKey: f.intentKey,
        manifestHash: f.envelope.manifest_hash,
      },
    });
  }
});

Deno.test("ledger check: a pending v1 intent is accepted under its run key", () => {
  const f = fakeRun({ v1: true });
  const r = checkLedgerIntent(parse(f.queued.body), f.runKey, KEYS);
  assert.equal(r.ok, true);
  assert.equal(checkLedgerIntent(parse(f.queued.body), "b3:" + "0".repeat(64), KEYS).ok, false);
});

Deno.test("ledger check: every commitment check refuses its tampering", () => {
  const f = fakeRun({ feeMinor: "25" });
  const good = parse(f.queued.body);
  const key = f.queued.idempotencyKey;
  const problem = (body: unknown, k = key) => {
    const r = checkLedgerIntent(body, k, KEYS);
    return r.ok ? "ok" : r.problem;
  };
  const header = good["header"] as Record<string, unknown>;
  const transfers = good["transfers"] as { to: string; amount_minor: string }[];
  assert.equal(problem(good), "ok");
  // The run key as Idempotency-Key (v1's rule) is refused for a v2 intent.
  assert.equal(problem(good, f.runKey), "idempotency_key");
  // Another tenant's intent key.
  const beta = fakeRun({ tenant: "beta", feeMinor: "25" });
  assert.equal(problem({ ...good, intent_key: beta.intentKey }, beta.intentKey!), "intent_key");
  // A header that does not hash to manifest_hash.
  assert.equal(problem({ ...good, header: { ...header, policy_id: "other" } }), "manifest_hash");
  // Transfers moved between payees (same total): payouts_root no longer rebuilds.
  const swapped = [
    { to: "acct_a", amount_minor: "357" },
    { to: "acct_b", amount_minor: "642" },
    transfers[2]!,
  ];
  assert.equal(problem({ ...good, transfers: swapped }), "payouts_root");
  // The fee transfer dropped (total adjusted): the trailing fee is missing.
  assert.equal(
    problem({ ...good, transfers: transfers.slice(0, 2), total_minor: "999" }),
    "transfers",
  );
  assert.equal(problem({ ...good, total_minor: "1" }), "conservation");
  assert.equal(problem({ ...good, signatures: [] }), "signatures");
  assert.equal(problem({ ...good, extra: 1 }), "schema");
  // A signature over the v1 statement does not count for a v2 intent.
  const v1 = fakeRun({ v1: true });
  assert.equal(problem({ ...good, signatures: v1.intent.signatures }), "signatures");
  assert.equal(canonicalJson(good), f.queued.body, "the body is JCS");
});

Deno.test("ledger check: the egress caveats are held to the intent's members", () => {
  const f = fakeRun();
  const r = checkLedgerIntent(parse(f.queued.body), f.queued.idempotencyKey, KEYS);
  assert.ok(r.ok);
  const req = {
    method: "POST",
    path: "/ledger/intents",
    nowMs: Date.UTC(2026, 0, 1),
    intent: r.value,
  };
  const caveats = [
    "scope = ledger.intent.write",
    "tenant = acme",
    "path ^= /ledger/intents",
    "method = POST",
    "aud = ron-ledger",
    `run_key = ${f.runKey}`,
    `intent_key = ${f.intentKey}`,
    `manifest_hash = ${f.envelope.manifest_hash}`,
    "time < 2026-02-01T00:00:00Z",
  ];
  assert.equal(egressCaveatsHold(caveats, req), true);
  const beta = fakeRun({ tenant: "beta" });
  for (
    const bad of [
      "tenant = beta",
      `intent_key = ${beta.intentKey}`,
      `manifest_hash = b3:${"0".repeat(64)}`,
      "path ^= /ledger/intent",
      "method = GET",
      "aud = svc-rewarder",
      "time < 2025-01-01T00:00:00Z",
      "scope = rewarder.run",
      "unknown = x",
    ]
  ) {
    assert.equal(egressCaveatsHold([...caveats, bad], req), false, bad);
  }
  // A v1 intent has no intent key: an intent_key caveat cannot hold for it.
  const v1 = fakeRun({ v1: true });
  const r1 = checkLedgerIntent(parse(v1.queued.body), v1.runKey, KEYS);
  assert.ok(r1.ok);
  assert.equal(
    egressCaveatsHold([`intent_key = ${f.intentKey}`], { ...req, intent: r1.value }),
    false,
  );
});
