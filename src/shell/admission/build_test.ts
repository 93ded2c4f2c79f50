import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { loadConfig } from "../config/config.ts";
import { buildAdmission } from "./build.ts";

Deno.test("admission from the configuration: ANON_PEER_RPS_MAX, ANON_PEERS_MAX and PREAUTH_BUDGET_BYTES reach the limiter and the budget", () => {
  const config = loadConfig({
    ANON_PEER_RPS_MAX: "2",
    ANON_PEERS_MAX: "3",
    PREAUTH_BUDGET_BYTES: String(128 * 1024),
  });
  const { limiter, preAuthBudget } = buildAdmission(config, new Registry());
  assert.equal(limiter.stats().anonPeerRatePerSecondMax, 2);
  assert.equal(limiter.takeAnonymous("10.0.0.1").ok, true);
  assert.equal(limiter.takeAnonymous("10.0.0.1").ok, true);
  assert.equal(limiter.takeAnonymous("10.0.0.1").ok, false, "a burst of 2");
  for (const peer of ["10.0.0.2", "10.0.0.3", "10.0.0.4"]) limiter.takeAnonymous(peer);
  assert.equal(limiter.stats().anonPeers, 3, "at most 3 peers kept");
  assert.equal(preAuthBudget.stats().budgetBytes, 128 * 1024);
  // Two chunks fit, a third does not.
  const a = preAuthBudget.reserve(64 * 1024);
  const b = preAuthBudget.reserve(64 * 1024);
  assert.ok(a !== undefined && b !== undefined);
  assert.equal(preAuthBudget.reserve(64 * 1024), undefined);
});

Deno.test("admission from the configuration: a pre-auth budget below one chunk is refused at start", () => {
  assert.throws(() => loadConfig({ PREAUTH_BUDGET_BYTES: "1000" }), /PREAUTH_BUDGET_BYTES/);
});
