import { test } from "node:test";
import assert from "node:assert/strict";
import { createMetrics, REJECT_REASONS } from "./metrics.ts";

/** The value of one sample line `name{labels} value` in the exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

test("seed metric names exist, pre-initialised to 0", async () => {
  const m = createMetrics({ defaultMetrics: false });
  const text = await m.render();
  for (const s of ["ok", "quarantined", "fail"]) {
    assert.equal(sample(text, `reward_runs_total{status="${s}"}`), 0);
  }
  for (const r of REJECT_REASONS) assert.equal(sample(text, `rejected_total{reason="${r}"}`), 0);
  for (const r of ["accepted", "dup", "error", "conflict"]) {
    assert.equal(sample(text, `ledger_intents_total{result="${r}"}`), 0);
  }
  assert.equal(sample(text, `readyz_degraded{cause="backpressure"}`), 0);
  assert.equal(sample(text, "tls_handshake_failures_total"), 0);
  assert.equal(sample(text, `auth_failures_total{scope="rewarder.run"}`), 0);
  assert.match(text, /# TYPE reward_compute_latency_seconds histogram/);
  assert.match(text, /reward_compute_latency_seconds_bucket\{le="0.001"\} 0/);
  assert.match(text, /reward_compute_latency_seconds_bucket\{le="30"\} 0/);
  assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
});

test("unknown label values are bounded to 'other'; secrets never become labels", async () => {
  const m = createMetrics({ defaultMetrics: false });
  const secret = "AgEJbG9jYXRpb24CAmlkAAIgc2VjcmV0LXRva2VuLWxpa2Utc3RyaW5n";
  m.recordRejected(secret);
  m.recordRejected("oversize");
  m.recordAuthFailure(secret);
  m.recordAuthFailure("rewarder.quarantine");
  m.setReadyDegraded("acct:alice", true);
  m.recordHttpResponse(418);
  m.recordHttpResponse(429);
  const text = await m.render();
  assert.ok(!text.includes(secret));
  assert.ok(!text.includes("alice"));
  assert.equal(sample(text, `rejected_total{reason="other"}`), 1);
  assert.equal(sample(text, `rejected_total{reason="oversize"}`), 1);
  assert.equal(sample(text, `auth_failures_total{scope="other"}`), 1);
  assert.equal(sample(text, `auth_failures_total{scope="rewarder.quarantine"}`), 1);
  assert.equal(sample(text, `readyz_degraded{cause="other"}`), 1);
  assert.equal(sample(text, `http_requests_total{code="other"}`), 1);
  assert.equal(sample(text, `http_requests_total{code="429"}`), 1);
});

test("registries are independent per createMetrics()", async () => {
  const a = createMetrics({ defaultMetrics: false });
  const b = createMetrics({ defaultMetrics: false });
  a.recordRun("ok");
  assert.equal(sample(await a.render(), `reward_runs_total{status="ok"}`), 1);
  assert.equal(sample(await b.render(), `reward_runs_total{status="ok"}`), 0);
});

test("economics: exact below 2^53, flagged inexact above, delta computed in bigint", async () => {
  const m = createMetrics({ defaultMetrics: false });
  m.setLastEpochEconomics({
    poolMinor: 1000n,
    feeMinor: 0n,
    payoutMinor: 999n,
    residualMinor: 1n,
    recipients: 2,
  });
  let text = await m.render();
  assert.equal(sample(text, "reward_last_pool_minor"), 1000);
  assert.equal(sample(text, "reward_last_payout_minor"), 999);
  assert.equal(sample(text, "reward_last_residual_minor"), 1);
  assert.equal(sample(text, "reward_last_recipients"), 2);
  assert.equal(sample(text, "reward_conservation_delta_minor"), 0);
  assert.equal(sample(text, "reward_last_economics_inexact"), 0);

  // 2^60 + 1 paid against a 2^60 + 2 pool: as floats both round to 2^60, but the delta of 1
  // is computed in bigint and must survive.
  const big = (1n << 60n) + 2n;
  m.setLastEpochEconomics({
    poolMinor: big,
    feeMinor: 0n,
    payoutMinor: big - 1n,
    residualMinor: 0n,
    recipients: 1,
  });
  text = await m.render();
  assert.equal(sample(text, "reward_conservation_delta_minor"), 1);
  assert.equal(sample(text, "reward_last_economics_inexact"), 1);
});

test("default process metrics are on the instance registry", async () => {
  const m = createMetrics();
  m.observeComputeSeconds(0.02);
  m.setOutbox(3, 42);
  m.setInflight(5);
  m.setInflightMax(512);
  m.setRateLimiterTokens(150, 200);
  const text = await m.render();
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.equal(sample(text, "reward_compute_latency_seconds_count"), 1);
  assert.equal(sample(text, `reward_compute_latency_seconds_bucket{le="0.025"}`), 1);
  assert.equal(sample(text, `reward_compute_latency_seconds_bucket{le="0.01"}`), 0);
  assert.equal(sample(text, "outbox_depth"), 3);
  assert.equal(sample(text, "outbox_oldest_pending_age_seconds"), 42);
  assert.equal(sample(text, "http_inflight_requests"), 5);
  assert.equal(sample(text, "http_inflight_requests_max"), 512);
  assert.equal(sample(text, "rate_limiter_tokens"), 150);
});
