import assert from "node:assert/strict";
import { attenuateForAccounting, attenuateForLedger } from "./egress.ts";
import { inspectToken } from "./mint.ts";
import { deriveRootKey } from "./identifier.ts";
import { decodeToken, encodeToken } from "./token_codec.ts";
import { newMacaroonV2, verifyChainV2, withFirstPartyCaveat } from "./macaroon_v2.ts";
import { fakeRun } from "../../../tests/support/ledger_fixtures.ts";

const SECRET = new Uint8Array(32).fill(3);
/**
 * The operator-supplied ledger token: minted by the ledger's own issuer (its identifier is not a
 * rewarder identifier), with one caveat of its own.
 */
const LEDGER_ROOT = deriveRootKey(SECRET, "ops", 4);
const LEDGER = encodeToken(
  withFirstPartyCaveat(
    newMacaroonV2(LEDGER_ROOT, new TextEncoder().encode("ledger-issuer:ops:4")),
    new TextEncoder().encode("scope = ledger.intent.write"),
  ),
);
const RUN_KEY = "b3:" + "f".repeat(64);
const INTENT_KEY = "b3:" + "e".repeat(64);
const MANIFEST_HASH = "b3:" + "d".repeat(64);
const NOW = Date.UTC(2026, 10, 27, 0, 0, 0, 500);
const V2 = {
  tenant: "acme",
  intentsPath: "/ledger/v1/intents",
  runKey: RUN_KEY,
  intentKey: INTENT_KEY,
  manifestHash: MANIFEST_HASH,
  nowMs: NOW,
  ttlMs: 3_600_000,
};

Deno.test("ledger egress adds the §9 caveats in order and keeps the chain valid", () => {
  const t = attenuateForLedger(LEDGER + "\n", V2);
  assert.deepEqual(inspectToken(t).caveats, [
    "scope = ledger.intent.write",
    "tenant = acme",
    "scope = ledger.intent.write",
    "path ^= /ledger/v1/intents",
    "method = POST",
    "aud = ron-ledger",
    `run_key = ${RUN_KEY}`,
    `intent_key = ${INTENT_KEY}`,
    `manifest_hash = ${MANIFEST_HASH}`,
    "time < 2026-11-27T01:00:00Z",
  ]);
  assert.ok(verifyChainV2(decodeToken(t), deriveRootKey(SECRET, "ops", 4)));
  assert.ok(!verifyChainV2(decodeToken(t), deriveRootKey(SECRET, "ops", 5)));
});

Deno.test("ledger egress for a v1 intent (queued before the upgrade) has no intent_key caveat", () => {
  const t = attenuateForLedger(LEDGER, { ...V2, intentKey: null, intentsPath: "/intents" });
  const caveats = inspectToken(t).caveats;
  assert.ok(!caveats.some((c) => c.startsWith("intent_key")));
  assert.ok(caveats.includes(`manifest_hash = ${MANIFEST_HASH}`));
  assert.ok(caveats.includes("path ^= /intents"));
});

Deno.test("ledger egress: the caveats equal the queued intent's members", () => {
  const f = fakeRun();
  const q = f.queued;
  const body = JSON.parse(q.body);
  const t = attenuateForLedger(LEDGER, {
    ...V2,
    tenant: f.tenant,
    runKey: q.runKey,
    intentKey: q.intentKey,
    manifestHash: q.manifestHash,
  });
  const caveats = inspectToken(t).caveats;
  for (const member of ["tenant", "run_key", "intent_key", "manifest_hash"]) {
    assert.ok(caveats.includes(`${member} = ${body[member]}`), member);
  }
});

Deno.test("ledger egress refuses ttl over 30 days, bad keys, bad tenant, bad path", () => {
  const base = { ...V2, ttlMs: 30 * 24 * 3600 * 1000 };
  attenuateForLedger(LEDGER, base);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, ttlMs: base.ttlMs + 1 }), RangeError);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, ttlMs: 0 }), RangeError);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, runKey: "b3:ABC" }), TypeError);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, intentKey: "b3:x" }), TypeError);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, manifestHash: "x" }), TypeError);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, tenant: "Acme" }), TypeError);
  for (const intentsPath of ["intents", "/x", "/a b/intents", "/intents\ntime > x"]) {
    assert.throws(() => attenuateForLedger(LEDGER, { ...base, intentsPath }), TypeError);
  }
});

Deno.test("accounting egress: scope, tenant, cid", () => {
  const cid = "b3:" + "0".repeat(64);
  const t = attenuateForAccounting(LEDGER, { tenant: "acme", cid, nowMs: NOW });
  const caveats = inspectToken(t).caveats.slice(1);
  assert.deepEqual(caveats, [
    "tenant = acme",
    "scope = accounting.snapshot.read",
    `cid = ${cid}`,
    "method = GET",
    "time < 2026-11-27T00:05:00Z",
  ]);
  assert.throws(
    () => attenuateForAccounting(LEDGER, { tenant: "acme", cid: "b3:x", nowMs: NOW }),
    TypeError,
  );
});
