/**
 * Prometheus metrics of svc-rewarder (docs/RUNBOOK.md), on a registry of their own.
 *
 * Each {@link createMetrics} call builds a fresh `Registry` (never prom-client's global one) so
 * tests and several app instances in one process do not collide. Every labelled metric has a
 * closed label set declared here; values outside it are recorded as `other`, so a hostile
 * client cannot create series (labels never carry accounts, tokens, tenants or user input).
 * All known label combinations are pre-initialised to 0, so `rate()`/`increase()` alerts see
 * the first event.
 *
 * Money gauges: Prometheus samples are float64, exact only up to 2^53 (Number.MAX_SAFE_INTEGER).
 * Amounts are bigint minor units up to I128_MAX; they are converted with `Number()` (nearest
 * float64, never clamped: a clamped value would look exact while being wrong) and, when any
 * value of the last epoch exceeds 2^53-1, `reward_last_economics_inexact` is set to 1 so
 * dashboards know the figures are approximate. The conservation delta is computed in bigint
 * first, so a non-zero delta can never round to 0.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * metrics.recordRejected("oversize");
 * const text = await metrics.render(); // serve with metrics.contentType
 * ```
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
// prom-client's default collectors one by one (its `collectDefaultMetrics` less the
// event-loop lag, which event_loop_lag.ts provides at O(1) a scrape).
import processCpuTotal from "prom-client/lib/metrics/processCpuTotal.js";
import processStartTime from "prom-client/lib/metrics/processStartTime.js";
import osMemoryHeap from "prom-client/lib/metrics/osMemoryHeap.js";
import processOpenFileDescriptors from "prom-client/lib/metrics/processOpenFileDescriptors.js";
import processMaxFileDescriptors from "prom-client/lib/metrics/processMaxFileDescriptors.js";
import processResources from "prom-client/lib/metrics/processResources.js";
import processHandles from "prom-client/lib/metrics/processHandles.js";
import processRequests from "prom-client/lib/metrics/processRequests.js";
import heapSizeAndUsed from "prom-client/lib/metrics/heapSizeAndUsed.js";
import heapSpacesSizeAndUsed from "prom-client/lib/metrics/heapSpacesSizeAndUsed.js";
import version from "prom-client/lib/metrics/version.js";
import gc from "prom-client/lib/metrics/gc.js";
import process from "node:process";
import { registerEventLoopLag } from "./event_loop_lag.ts";
import { REJECT_LABELS, type RejectLabel } from "../../core/reasons.ts";
import { installProcessMetricsFallback } from "./process_metrics.ts";

/**
 * Rejection labels (`rejected_total{reason}`), from the one reasons table (`core/reasons.ts`:
 * every reason maps to one of them); anything else is recorded as `other`.
 */
export const REJECT_REASONS: readonly RejectLabel[] = REJECT_LABELS;
/** Route scopes (`auth_failures_total{scope}`); `none` = route known but no scope yet. */
export const AUTH_SCOPES = ["rewarder.run", "rewarder.inspect", "rewarder.quarantine"] as const;
/** `/readyz` degradation causes (`readyz_degraded{cause}`), contract §10 plus store/outbox. */
export const READY_CAUSES = [
  "backpressure",
  "dep_outage",
  "quota",
  "store",
  "outbox",
  "audit",
] as const;
/** Kinds of audit lines (`audit_lines_total{kind}`): one per decision, one per summary. */
export const AUDIT_LINE_KINDS = ["decision", "summary"] as const;
/** Run outcomes (`reward_runs_total{status}`). */
export const RUN_STATUSES = ["ok", "quarantined", "fail"] as const;
/** Ledger intent results (`ledger_intents_total{result}`). */
export const LEDGER_RESULTS = ["accepted", "dup", "error", "conflict"] as const;
/** HTTP status codes the contract answers (§8, §10) (`http_requests_total{code}`). */
export const HTTP_CODES = [
  "200",
  "304",
  "400",
  "401",
  "403",
  "404",
  "405",
  "409",
  "413",
  "415",
  "429",
  "500",
  "503",
] as const;

/** The bucket every out-of-set label value lands in. */
export const OTHER_LABEL = "other";

/** Compute latency buckets in seconds: 1 ms .. 30 s (MAX_EPOCH_COST_MS defaults to 5 s). */
export const COMPUTE_LATENCY_BUCKETS_S: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Default metrics that break Prometheus naming rules (gauges ending in `_total`). */
const LINT_FAILING_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
] as const;

/**
 * prom-client's default process and runtime metrics, in its order, with the event-loop lag
 * gauges of event_loop_lag.ts in place of its own (same names).
 */
function registerDefaultMetrics(registry: Registry): void {
  const config = { register: registry };
  processCpuTotal(registry, config);
  processStartTime(registry, config);
  osMemoryHeap(registry, config);
  processOpenFileDescriptors(registry, config);
  processMaxFileDescriptors(registry, config);
  registerEventLoopLag(registry);
  if (
    typeof (process as { getActiveResourcesInfo?: unknown }).getActiveResourcesInfo === "function"
  ) {
    processResources(registry, config);
  }
  processHandles(registry, config);
  processRequests(registry, config);
  heapSizeAndUsed(registry, config);
  heapSpacesSizeAndUsed(registry, config);
  version(registry, config);
  gc(registry, config);
}

/** Largest integer a float64 gauge holds exactly (2^53 - 1). */
export const GAUGE_EXACT_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** Totals of the last computed epoch, as in the manifest (contract §6), money in bigint. */
export interface EpochEconomics {
  poolMinor: bigint;
  feeMinor: bigint;
  payoutMinor: bigint;
  residualMinor: bigint;
  recipients: number;
}

/** The service's metrics; every method is cheap and never throws on odd label values. */
export interface Metrics {
  /** The registry all these metrics (and the default process metrics) live in. */
  readonly registry: Registry;
  /** Content-Type to serve `render()` with (Prometheus text format 0.0.4). */
  readonly contentType: string;
  /** Prometheus text exposition of the registry. */
  render(): Promise<string>;
  recordRun(status: (typeof RUN_STATUSES)[number]): void;
  observeComputeSeconds(seconds: number): void;
  recordRejected(reason: string): void;
  recordLedgerIntent(result: (typeof LEDGER_RESULTS)[number]): void;
  /** Sets `readyz_degraded{cause}` to 1 (degraded) or 0. */
  setReadyDegraded(cause: string, degraded: boolean): void;
  recordTlsHandshakeFailure(): void;
  recordAuthFailure(scope: string): void;
  recordHttpResponse(status: number): void;
  /** Sets the last-epoch economic gauges and the conservation delta (pool-fee-payout-residual). */
  setLastEpochEconomics(totals: EpochEconomics): void;
  setOutbox(depth: number, oldestPendingAgeS: number): void;
  setInflight(requests: number): void;
  /** The configured MAX_INFLIGHT (for the dashboard's inflight-vs-cap panel). */
  setInflightMax(requestsMax: number): void;
  /** Tokens left in the instance-wide bucket, and its capacity (burst). */
  setRateLimiterTokens(tokens: number, capacity: number): void;
  /** One audit line made durable (`audit_lines_total{kind}`). */
  recordAuditLine(kind: (typeof AUDIT_LINE_KINDS)[number]): void;
  /** One audit line the sink could not write (`audit_write_failures_total`). */
  recordAuditWriteFailure(): void;
}

/** Maps `value` into `allowed`, else {@link OTHER_LABEL}: the single label-bounding rule. */
export function boundedLabel(value: unknown, allowed: readonly string[]): string {
  return typeof value === "string" && allowed.includes(value) ? value : OTHER_LABEL;
}

/** Builds a fresh metrics set on its own registry (with default process metrics). */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) {
    registerDefaultMetrics(registry);
    // prom-client exports these three totals as gauges named `*_total`, which `promtool check
    // metrics` rejects; the same values stay available as the un-suffixed per-type gauges.
    for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
    installProcessMetricsFallback(registry);
  }
  const registers = [registry];
  const withOther = (xs: readonly string[]): string[] => [...xs, OTHER_LABEL];

  const runs = new Counter({
    name: "reward_runs_total",
    help: "Compute runs by outcome (ok = sealed, quarantined = invariant breach, fail = error).",
    labelNames: ["status"] as const,
    registers,
  });
  const latency = new Histogram({
    name: "reward_compute_latency_seconds",
    help: "Wall time of one deterministic compute (allocation, invariants, seal).",
    buckets: [...COMPUTE_LATENCY_BUCKETS_S],
    registers,
  });
  const rejected = new Counter({
    name: "rejected_total",
    help: "Requests rejected, by bounded reason.",
    labelNames: ["reason"] as const,
    registers,
  });
  const intents = new Counter({
    name: "ledger_intents_total",
    help: "Ledger intent deliveries by result (dup = ledger answered duplicate).",
    labelNames: ["result"] as const,
    registers,
  });
  const degraded = new Gauge({
    name: "readyz_degraded",
    help: "1 while /readyz is failing for this cause, else 0.",
    labelNames: ["cause"] as const,
    registers,
  });
  const tls = new Counter({
    name: "tls_handshake_failures_total",
    help: "TLS handshakes that failed at the listener.",
    registers,
  });
  const authFailures = new Counter({
    name: "auth_failures_total",
    help: "Authentication/authorization failures by the route's scope (never by token).",
    labelNames: ["scope"] as const,
    registers,
  });
  const http = new Counter({
    name: "http_requests_total",
    help: "HTTP responses by status code (codes outside the contract's set are 'other').",
    labelNames: ["code"] as const,
    registers,
  });
  const auditLines = new Counter({
    name: "audit_lines_total",
    help: "Audit lines made durable, by kind (decision, or summary of counted events).",
    labelNames: ["kind"] as const,
    registers,
  });
  const auditFailures = new Counter({
    name: "audit_write_failures_total",
    help: "Audit lines the sink could not write (decisions then fail closed: 503 audit).",
    registers,
  });
  for (const k of AUDIT_LINE_KINDS) auditLines.inc({ kind: k }, 0);
  for (const s of RUN_STATUSES) runs.inc({ status: s }, 0);
  for (const r of withOther(REJECT_REASONS)) rejected.inc({ reason: r }, 0);
  for (const r of LEDGER_RESULTS) intents.inc({ result: r }, 0);
  for (const c of withOther(READY_CAUSES)) degraded.set({ cause: c }, 0);
  for (const s of withOther(AUTH_SCOPES)) authFailures.inc({ scope: s }, 0);
  for (const c of withOther(HTTP_CODES)) http.inc({ code: c }, 0);

  const gauge = (name: string, help: string): Gauge => new Gauge({ name, help, registers });
  const pool = gauge("reward_last_pool_minor", "Pool of the last epoch computed (minor units).");
  const payout = gauge("reward_last_payout_minor", "Sum of payouts of the last epoch computed.");
  const fee = gauge("reward_last_fee_minor", "Fee of the last epoch computed (minor units).");
  const residual = gauge("reward_last_residual_minor", "Residual of the last epoch computed.");
  const recipients = gauge("reward_last_recipients", "Recipients of the last epoch computed.");
  const delta = gauge(
    "reward_conservation_delta_minor",
    "pool - fee - payout - residual of the last epoch, computed in bigint; must always be 0.",
  );
  const inexact = gauge(
    "reward_last_economics_inexact",
    "1 when a last-epoch money gauge exceeds 2^53-1 and is shown as the nearest float64.",
  );
  const outboxDepth = gauge("outbox_depth", "Ledger intents pending delivery.");
  const outboxAge = gauge(
    "outbox_oldest_pending_age_seconds",
    "Age of the oldest pending ledger intent (0 when none).",
  );
  const inflight = gauge("http_inflight_requests", "Requests currently being served.");
  const inflightMax = gauge("http_inflight_requests_max", "Configured MAX_INFLIGHT.");
  const tokens = gauge("rate_limiter_tokens", "Tokens left in the instance-wide rate bucket.");
  const tokensMax = gauge("rate_limiter_tokens_max", "Capacity (burst) of the instance bucket.");

  return {
    registry,
    contentType: registry.contentType,
    render: function render() {
      return registry.metrics();
    },
    recordRun: function recordRun(status) {
      runs.inc({ status: boundedLabel(status, RUN_STATUSES) });
    },
    observeComputeSeconds: function observeComputeSeconds(seconds) {
      if (Number.isFinite(seconds) && seconds >= 0) latency.observe(seconds);
    },
    recordRejected: function recordRejected(reason) {
      rejected.inc({ reason: boundedLabel(reason, REJECT_REASONS) });
    },
    recordLedgerIntent: function recordLedgerIntent(result) {
      intents.inc({ result: boundedLabel(result, LEDGER_RESULTS) });
    },
    setReadyDegraded: function setReadyDegraded(cause, isDegraded) {
      degraded.set({ cause: boundedLabel(cause, READY_CAUSES) }, isDegraded ? 1 : 0);
    },
    recordTlsHandshakeFailure: function recordTlsHandshakeFailure() {
      tls.inc();
    },
    recordAuthFailure: function recordAuthFailure(scope) {
      authFailures.inc({ scope: boundedLabel(scope, AUTH_SCOPES) });
    },
    recordHttpResponse: function recordHttpResponse(status) {
      http.inc({ code: boundedLabel(String(status), HTTP_CODES) });
    },
    setLastEpochEconomics: function setLastEpochEconomics(t) {
      const money = [t.poolMinor, t.feeMinor, t.payoutMinor, t.residualMinor];
      pool.set(Number(t.poolMinor));
      fee.set(Number(t.feeMinor));
      payout.set(Number(t.payoutMinor));
      residual.set(Number(t.residualMinor));
      recipients.set(t.recipients);
      delta.set(Number(t.poolMinor - t.feeMinor - t.payoutMinor - t.residualMinor));
      inexact.set(money.some((m) => m > GAUGE_EXACT_MAX || m < -GAUGE_EXACT_MAX) ? 1 : 0);
    },
    setOutbox: function setOutbox(depth, oldestPendingAgeS) {
      outboxDepth.set(depth);
      outboxAge.set(Math.max(0, oldestPendingAgeS));
    },
    setInflight: function setInflight(requests) {
      inflight.set(requests);
    },
    setInflightMax: function setInflightMax(requestsMax) {
      inflightMax.set(requestsMax);
    },
    setRateLimiterTokens: function setRateLimiterTokens(left, capacity) {
      tokens.set(left);
      tokensMax.set(capacity);
    },
    recordAuditLine: function recordAuditLine(kind) {
      auditLines.inc({ kind: boundedLabel(kind, AUDIT_LINE_KINDS) });
    },
    recordAuditWriteFailure: function recordAuditWriteFailure() {
      auditFailures.inc();
    },
  };
}
