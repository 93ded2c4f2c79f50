/**
 * Checks the operating artefacts with promtool (Debian `prometheus`, see
 * .ci/setup.d/30-promtool.sh): the alert rules parse, their unit tests pass, and the /metrics
 * exposition of `createMetrics()` passes `promtool check metrics`. Without promtool the tests
 * skip with a visible message, except under CI=true where a missing promtool fails.
 */
import { createPublicationMetrics } from "../src/shell/publish/publish_services.ts";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createMetrics } from "../src/shell/observe/metrics.ts";
import { createCacheMetrics } from "../src/shell/observe/cache_metrics.ts";
import { createHotCaches } from "../src/shell/registry/hot_cache.ts";
import {
  createAdmissionMetrics,
  createProbeMetrics,
} from "../src/shell/observe/isolation_metrics.ts";
import { createPreAuthBudget } from "../src/shell/admission/preauth_budget.ts";
import { createRateLimiter } from "../src/shell/admission/rate_limiter.ts";
import { createEngineMetrics } from "../src/shell/engine/engine_metrics.ts";

/**
 * The service's metrics with those registered beside them (admission, dependency probes, the
 * engine pool, publication).
 */
function serviceMetrics() {
  const m = createMetrics();
  const admission = createAdmissionMetrics(m.registry);
  const limiter = createRateLimiter({
    ratePerSecondMax: 500,
    burstMax: 200,
    tenantRatePerSecondMax: 100,
  });
  const budget = createPreAuthBudget();
  admission.watch(budget, limiter);
  const probes = createProbeMetrics(m.registry);
  const engine = createEngineMetrics(m.registry);
  createPublicationMetrics(m.registry, {
    lagMs: () => Promise.resolve(0),
    depth: () => Promise.resolve(0),
  });
  createCacheMetrics(m.registry, createHotCaches());
  return { m, admission, budget, probes, engine };
}

/** Upper bound for one promtool run. */
const PROMTOOL_TIMEOUT_MS = 30_000;
const ALERTS = fileURLToPath(new URL("../ops/alerts.yml", import.meta.url));
const ALERTS_TEST = fileURLToPath(new URL("../ops/alerts_test.yml", import.meta.url));

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const r = spawnSync("promtool", args, {
    input,
    encoding: "utf8",
    timeout: PROMTOOL_TIMEOUT_MS,
  });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function havePromtool(): boolean {
  const r = spawnSync("promtool", ["--version"], {
    encoding: "utf8",
    timeout: PROMTOOL_TIMEOUT_MS,
  });
  return r.error === undefined && r.status === 0;
}

const present = havePromtool();
const inCi = process.env.CI === "true";
const skip = !present && !inCi
  ? "promtool not installed (run .ci/setup.d/30-promtool.sh); skipping outside CI"
  : false;
if (skip) console.warn(`SKIP tests/ops_promtool_test.ts: ${skip}`);

test("promtool is available in CI", { skip }, () => {
  assert.ok(present, "CI=true but promtool is missing: .ci/setup.d/30-promtool.sh did not run");
});

test("promtool check rules ops/alerts.yml", { skip }, () => {
  const r = promtool(["check", "rules", ALERTS]);
  assert.equal(r.status, 0, r.output);
  const alerts = readFileSync(ALERTS, "utf8").match(/^\s+- alert: /gm)?.length ?? 0;
  assert.ok(alerts >= 8, `alert rules in ops/alerts.yml: ${alerts}`);
  assert.match(r.output, new RegExp(`SUCCESS: ${alerts} rules found`));
});

test("promtool test rules ops/alerts_test.yml", { skip }, () => {
  const r = promtool(["test", "rules", ALERTS_TEST]);
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /SUCCESS/);
});

test("promtool check metrics on the /metrics exposition", { skip }, async () => {
  const { m, admission, budget, probes, engine } = serviceMetrics();
  engine.queue(3, 2, 2);
  engine.started(0.012);
  engine.cancelled("running", "client_gone");
  engine.replaced("cancelled");
  engine.workers(1, 1);
  budget.reserve(65_536);
  admission.preAuthRefused();
  admission.anonymousRefused();
  probes.probed({ dependency: "ledger", up: false, consecutiveFailures: 3, probes: 3 }, false);
  m.recordRun("ok");
  m.recordRun("quarantined");
  m.observeComputeSeconds(0.042);
  m.recordRejected("oversize");
  m.recordRejected("not-a-reason");
  m.recordLedgerIntent("accepted");
  m.setReadyDegraded("backpressure", true);
  m.recordTlsHandshakeFailure();
  m.recordAuthFailure("rewarder.run");
  m.recordHttpResponse(200);
  m.setLastEpochEconomics({
    poolMinor: 1000n,
    feeMinor: 25n,
    payoutMinor: 974n,
    residualMinor: 1n,
    recipients: 2,
  });
  m.setOutbox(2, 30);
  m.setInflight(3);
  m.setInflightMax(512);
  m.setRateLimiterTokens(199, 200);
  m.recordAuditLine("decision");
  m.recordAuditLine("summary");
  m.recordAuditWriteFailure();
  m.setReadyDegraded("audit", true);
  const text = await m.render();
  assert.match(text, /^audit_lines_total\{kind="decision"\} 1$/m);
  assert.match(text, /^audit_write_failures_total 1$/m);
  assert.match(text, /^readyz_degraded\{cause="audit"\} 1$/m);
  assert.match(text, /^preauth_held_bytes 65536$/m);
  assert.match(text, /^dependency_up\{dependency="ledger"\} 0$/m);
  assert.match(text, /^engine_queue_jobs 3$/m);
  assert.match(
    text,
    /^engine_jobs_cancelled_total\{state="running",reason="client_gone"\} 1$/m,
  );
  const r = promtool(["check", "metrics"], text);
  assert.equal(r.status, 0, r.output);
  // The linter really runs: a broken exposition is refused.
  const bad = promtool(["check", "metrics"], "# TYPE x_total gauge\nx_total 1\n");
  assert.notEqual(bad.status, 0);
});

/** Metric names a PromQL expression reads (strings, `by (...)`, functions and vars removed). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '""')
    .replace(/\$\w+/g, "")
    .replace(/\b(by|without)\s*\([^)]*\)/g, "");
  return [...bare.matchAll(/\b([a-z_:][a-z0-9_:]*_[a-z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!);
}

test("dashboard and alerts only read metrics that /metrics exports", async () => {
  const text = await serviceMetrics().m.render();
  const exported = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    exported.add(m[1]!);
    if (m[2] === "histogram") {
      for (const s of ["_bucket", "_sum", "_count"]) exported.add(m[1]! + s);
    }
  }
  const dashboard = JSON.parse(
    readFileSync(new URL("../ops/dashboard.json", import.meta.url), "utf8"),
  ) as { panels: { targets?: { expr: string }[] }[] };
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const alerts = readFileSync(ALERTS, "utf8");
  exprs.push(...[...alerts.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!));
  assert.ok(exprs.length >= 30, `expected dashboard + alert expressions, got ${exprs.length}`);
  const used = new Set(exprs.flatMap(metricNames));
  assert.ok(used.has("reward_compute_latency_seconds_bucket") && used.has("outbox_depth"));
  assert.deepEqual([...used].filter((n) => !exported.has(n)), []);
});
