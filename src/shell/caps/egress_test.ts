import assert from "node:assert/strict";
import { attenuateForAccounting, attenuateForLedger } from "./egress.ts";
import { inspectToken, mintToken } from "./mint.ts";
import { deriveRootKey } from "./identifier.ts";
import { decodeToken } from "./token_codec.ts";
import { verifyChainV2 } from "./macaroon_v2.ts";

const SECRET = new Uint8Array(32).fill(3);
const LEDGER = mintToken({
  masterSecret: SECRET,
  tenant: "ops",
  keyEpoch: 4,
  nonceHex: "ab".repeat(16),
  caveats: ["scope = ledger.intent.write"],
});
const RUN_KEY = "b3:" + "f".repeat(64);
const NOW = Date.UTC(2026, 10, 27, 0, 0, 0, 500);

Deno.test("ledger egress adds the §9 caveats in order and keeps the chain valid", () => {
  const t = attenuateForLedger(LEDGER + "\n", {
    tenant: "acme",
    runKey: RUN_KEY,
    nowMs: NOW,
    ttlMs: 3_600_000,
  });
  assert.deepEqual(inspectToken(t).caveats, [
    "scope = ledger.intent.write",
    "tenant = acme",
    "scope = ledger.intent.write",
    "path ^= /intents",
    "method = POST",
    "aud = ron-ledger",
    `run_key = ${RUN_KEY}`,
    "time < 2026-11-27T01:00:00Z",
  ]);
  assert.ok(verifyChainV2(decodeToken(t), deriveRootKey(SECRET, "ops", 4)));
  assert.ok(!verifyChainV2(decodeToken(t), deriveRootKey(SECRET, "ops", 5)));
});

Deno.test("ledger egress refuses ttl over 30 days, bad run key, bad tenant", () => {
  const base = { tenant: "acme", runKey: RUN_KEY, nowMs: NOW, ttlMs: 30 * 24 * 3600 * 1000 };
  attenuateForLedger(LEDGER, base);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, ttlMs: base.ttlMs + 1 }), RangeError);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, ttlMs: 0 }), RangeError);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, runKey: "b3:ABC" }), TypeError);
  assert.throws(() => attenuateForLedger(LEDGER, { ...base, tenant: "Acme" }), TypeError);
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
