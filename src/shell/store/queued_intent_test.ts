import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson } from "../../core/canonical_json.ts";
import type { LedgerIntent } from "../../core/types.ts";
import { fakeRun } from "../../../tests/support/ledger_fixtures.ts";
import {
  intentJcs,
  queuedIntentFromStored,
  queuedIntentOf,
  upgradeStoredRecord,
} from "./run_store.ts";

Deno.test("queuedIntentOf: v2 is keyed by intent_key, v1 by run_key; body = JCS", () => {
  const v2 = fakeRun();
  const q2 = queuedIntentOf(v2.intent);
  assert.equal(q2.idempotencyKey, v2.intentKey);
  assert.notEqual(q2.idempotencyKey, v2.runKey, "two tenants must not share a key (§5)");
  assert.equal(q2.intentKey, v2.intentKey);
  assert.equal(q2.body, canonicalJson(v2.intent));
  assert.equal(q2.runKey, v2.runKey);
  assert.equal(q2.manifestHash, v2.envelope.manifest_hash);
  const v1 = fakeRun({ v1: true });
  const q1 = queuedIntentOf(v1.intent);
  assert.equal(q1.idempotencyKey, v1.runKey);
  assert.equal(q1.intentKey, null);
  assert.equal(q1.body, canonicalJson(v1.intent));
});

Deno.test("queuedIntentFromStored: a stored v1 intent object is queued as the v1 dispatcher sent it", () => {
  const v1 = fakeRun({ v1: true });
  const stored = JSON.parse(JSON.stringify(v1.intent)) as unknown;
  assert.deepEqual(queuedIntentFromStored(stored), {
    idempotencyKey: v1.runKey,
    body: canonicalJson(v1.intent),
    runKey: v1.runKey,
    intentKey: null,
    manifestHash: v1.envelope.manifest_hash,
  });
  const q = fakeRun().queued;
  assert.deepEqual(queuedIntentFromStored(JSON.parse(JSON.stringify(q))), q);
  assert.throws(() => queuedIntentFromStored({ schema: "svc-rewarder.intent.v2" }));
  assert.throws(() => queuedIntentFromStored(null));
});

Deno.test("upgradeStoredRecord: a v1 record reads with intent_key null", () => {
  const { intent_key: _k, ...v1 } = {
    run_key: "b3:x",
    intent_key: null,
    epoch_id: "e",
    manifest_hash: "b3:y",
    status: "sealed" as const,
    dry_run: false,
    totals: {
      pool_minor: "0",
      fee_minor: "0",
      payout_minor: "0",
      residual_minor: "0",
      recipients: 0,
    },
  };
  assert.equal(upgradeStoredRecord(v1).intent_key, null);
});

Deno.test("intentJcs equals canonicalJson of any intent-like object (fast path and fallbacks)", () => {
  const text = fc.oneof(
    fc.string({ unit: "binary" }),
    fc.string({ unit: "grapheme-composite" }),
    fc.constantFrom("", "\u2028", '"\\', "\u0000\u001f", "\ud83d\ude00", "0", "10"),
  );
  const transfer = fc.oneof(
    { weight: 8, arbitrary: fc.record({ to: text, amount_minor: text }) },
    // other shapes: the whole intent goes through canonicalJson
    fc.record({ amount_minor: text, to: text, extra: text }),
    fc.record({ to: fc.nat(), amount_minor: text }),
    fc.constant(null),
  );
  const key = fc.oneof(
    fc.constantFrom("schema", "tenant", "total_minor", "zz", "transfersz", "u", "0", "7"),
    fc.string({ maxLength: 6 }),
  );
  fc.assert(
    fc.property(
      fc.dictionary(key, fc.oneof(text, fc.nat(), fc.constant(null)), { maxKeys: 6 }),
      fc.array(transfer, { maxLength: 20 }),
      (rest, transfers) => {
        const intent = { ...rest, transfers } as unknown as LedgerIntent;
        let expected: string | undefined;
        try {
          expected = canonicalJson(intent);
        } catch {
          expected = undefined;
        }
        if (expected === undefined) assert.throws(() => intentJcs(intent));
        else assert.equal(intentJcs(intent), expected);
      },
    ),
    { numRuns: 2_000 },
  );
});

Deno.test("intentJcs of a 10k-transfer intent equals canonicalJson (the fast path's workload)", () => {
  const v2 = fakeRun();
  const transfers = Array.from({ length: 10_000 }, (_, i) => ({
    to: `acct-${i}-\u00e9"\\`,
    amount_minor: String(1_000_000 + i * 7),
  }));
  const intent = { ...v2.intent, transfers } as LedgerIntent;
  assert.equal(intentJcs(intent), canonicalJson(intent));
  assert.equal(queuedIntentOf(intent).body, canonicalJson(intent));
});
