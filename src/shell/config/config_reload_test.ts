import assert from "node:assert/strict";
import { createRateLimiter } from "../admission/rate_limiter.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { applyRateReload, ratesOf } from "./config_reload.ts";

function setup() {
  const config = loadConfig({});
  const limiter = createRateLimiter({ ...ratesOf(config), nowMs: () => 0 });
  return { config, limiter };
}

Deno.test("a reload lowers the rate caps live and reports restart-only changes", () => {
  const { config, limiter } = setup();
  const r = applyRateReload(config, {
    MAX_RPS: "50",
    RATE_BURST: "10",
    TENANT_RPS_MAX: "5",
    MAX_INFLIGHT: "64",
  }, limiter);
  assert.deepEqual(r.applied.sort(), ["burstMax", "ratePerSecondMax", "tenantRatePerSecondMax"]);
  assert.deepEqual(limiter.rates(), {
    ratePerSecondMax: 50,
    burstMax: 10,
    tenantRatePerSecondMax: 5,
  });
  assert.deepEqual(r.restartNeeded, ["inflightMax"]);
  assert.equal(r.config.ratePerSecondMax, 50);
  assert.equal(r.config.inflightMax, 512, "non-rate fields keep their running values");
  let taken = 0;
  while (taken < 100 && limiter.take().ok) taken += 1;
  assert.equal(taken, 10);
});

Deno.test("an unchanged reload applies nothing; a bad reload changes nothing", () => {
  const { config, limiter } = setup();
  const same = applyRateReload(config, {}, limiter);
  assert.deepEqual(same.applied, []);
  assert.deepEqual(same.restartNeeded, []);
  assert.throws(() => applyRateReload(config, { MAX_RPS: "fast" }, limiter), ConfigError);
  assert.deepEqual(limiter.rates(), ratesOf(config));
});
