import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditVerify } from "../../cli/audit_verify.ts";
import { RewarderError } from "../../core/errors.ts";
import {
  AUDIT_SAMPLES_MAX,
  type AuditEntry,
  type AuditSink,
  type AuditSummaryLine,
  createStdoutAuditSink,
  openFileAuditSink,
} from "./audit.ts";
import {
  AUDIT_MINUTE_MS,
  createAuditTrail,
  REPLAY_REASONS,
  TOKEN_REJECT_REASONS,
} from "./audit_trail.ts";

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const DECISION: AuditEntry = {
  event: "run_computed",
  tenant: "acme",
  corr_id: "corr-decision",
  run_key: "b3:" + "a".repeat(64),
  outcome: "pending",
};

/** A clock the test moves by hand. */
function manualClock(startMs = T0) {
  let now = startMs;
  return { nowMs: () => now, set: (ms: number) => void (now = ms) };
}

/** Metrics that only count. */
function countingMetrics() {
  const m = { decision: 0, summary: 0, failures: 0 };
  return {
    m,
    metrics: {
      recordAuditLine: (kind: "decision" | "summary") => void (m[kind] += 1),
      recordAuditWriteFailure: () => void (m.failures += 1),
    },
  };
}

/** An in-memory sink (the stdout sink with a captured writer). */
function memorySink(nowMs: () => number): { sink: AuditSink; lines: string[] } {
  const lines: string[] = [];
  return { sink: createStdoutAuditSink({ nowMs, write: (l) => void lines.push(l) }), lines };
}

test("10,000 rejected tokens in one minute: one summary line, count 10000, ≤ K samples", async () => {
  const clock = manualClock();
  const { sink, lines } = memorySink(clock.nowMs);
  const { m, metrics } = countingMetrics();
  const trail = createAuditTrail({ sink, nowMs: clock.nowMs, metrics });
  for (let i = 0; i < 10_000; i++) {
    clock.set(T0 + Math.floor((i * (AUDIT_MINUTE_MS - 1)) / 10_000));
    trail.count("token_rejected", "signature", `corr-${String(i).padStart(5, "0")}`);
  }
  assert.equal(lines.length, 0, "nothing is written while the minute is open");
  trail.tick();
  assert.equal(lines.length, 0, "tick inside the same minute writes nothing");
  clock.set(T0 + AUDIT_MINUTE_MS);
  trail.tick();
  await trail.close();
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as AuditSummaryLine;
  assert.deepEqual(Object.keys(line), [
    "seq",
    "ts",
    "event",
    "of",
    "reason",
    "minute",
    "count",
    "samples",
    "prev",
  ]);
  assert.equal(line.event, "summary");
  assert.equal(line.of, "token_rejected");
  assert.equal(line.reason, "signature");
  assert.equal(line.minute, "2026-11-27T12:00:00.000Z");
  assert.equal(line.count, 10_000);
  assert.ok(line.samples.length <= AUDIT_SAMPLES_MAX);
  assert.deepEqual(line.samples, [
    "corr-00000",
    "corr-00001",
    "corr-00002",
    "corr-00003",
    "corr-00004",
    "corr-00005",
    "corr-00006",
    "corr-00007",
  ]);
  assert.deepEqual(m, { decision: 0, summary: 1, failures: 0 });
});

test("a replay adds no line and never waits for the disk", async () => {
  const clock = manualClock();
  // A disk that never finishes a write: any wait on it would hang this test.
  const appended: unknown[] = [];
  const stuck: AuditSink = {
    append: ((entry: unknown) => {
      appended.push(entry);
      return new Promise(() => {});
    }) as AuditSink["append"],
    head: () => ({ seq: 0, hash: "" }),
    status: () => "ok",
    close: () => Promise.resolve(),
  };
  const trail = createAuditTrail({ sink: stuck, nowMs: clock.nowMs });
  for (let i = 0; i < 1000; i++) {
    const r: unknown = trail.count("run_replayed", "pending", `corr-${i}`);
    assert.equal(r, undefined, "count is synchronous: nothing to await");
  }
  assert.equal(appended.length, 0, "no line on the request path");
  // The decision path does wait: its promise is still pending on the stuck disk.
  let decided = false;
  void trail.decide(DECISION).then(() => (decided = true));
  await Promise.resolve();
  assert.equal(decided, false, "a decision is answered only once its line is durable");
  assert.equal(appended.length, 1);
});

test("reasons are a closed set: hostile reasons all land in one `other` bucket", async () => {
  const clock = manualClock();
  const { sink, lines } = memorySink(clock.nowMs);
  const trail = createAuditTrail({ sink, nowMs: clock.nowMs });
  for (let i = 0; i < 5000; i++) trail.count("token_rejected", `made-up-${i}`, null);
  for (const r of TOKEN_REJECT_REASONS) trail.count("token_rejected", r, "corr-a");
  for (const r of REPLAY_REASONS) trail.count("run_replayed", r, "corr-b");
  trail.count("run_replayed", "signature", "corr-c"); // a token reason is not a replay reason
  await trail.close();
  const parsed = lines.map((l) => JSON.parse(l) as AuditSummaryLine);
  assert.equal(parsed.length, TOKEN_REJECT_REASONS.length + REPLAY_REASONS.length + 2);
  const other = parsed.filter((p) => p.reason === "other");
  assert.deepEqual(other.map((p) => [p.of, p.count]).sort(), [
    ["run_replayed", 1],
    ["token_rejected", 5000],
  ]);
  assert.deepEqual(other.find((p) => p.of === "token_rejected")!.samples, []);
  assert.ok(TOKEN_REJECT_REASONS.includes("signature") && TOKEN_REJECT_REASONS.includes("scope"));
  assert.ok(!TOKEN_REJECT_REASONS.includes("oversize"), "only 401/403 reasons");
});

test("minutes roll on the next event or tick; a clock stepping back never reopens a minute", async () => {
  const clock = manualClock();
  const { sink, lines } = memorySink(clock.nowMs);
  const trail = createAuditTrail({ sink, nowMs: clock.nowMs });
  trail.count("token_rejected", "signature", "corr-m0");
  clock.set(T0 + 2 * AUDIT_MINUTE_MS + 5);
  trail.count("token_rejected", "signature", "corr-m2"); // closes minute 0 on the way
  assert.equal(lines.length, 1);
  clock.set(T0 + 30); // back in time
  trail.count("token_rejected", "signature", "corr-back");
  trail.tick();
  assert.equal(lines.length, 1);
  await trail.close(); // shutdown writes the open minute
  const parsed = lines.map((l) => JSON.parse(l) as AuditSummaryLine);
  assert.deepEqual(parsed.map((p) => [p.minute, p.count, p.samples]), [
    ["2026-11-27T12:00:00.000Z", 1, ["corr-m0"]],
    ["2026-11-27T12:02:00.000Z", 2, ["corr-m2", "corr-back"]],
  ]);
  assert.deepEqual(parsed.map((p) => p.seq), [1, 2]);
});

test("decisions and summaries share one chain that audit-verify accepts", async () => {
  const dir = await mkdtemp(join(tmpdir(), "audit-trail-"));
  const path = join(dir, "audit.jsonl");
  try {
    const clock = manualClock();
    const { m, metrics } = countingMetrics();
    const trail = createAuditTrail({
      sink: await openFileAuditSink({ path, nowMs: clock.nowMs }),
      nowMs: clock.nowMs,
      metrics,
    });
    await trail.decide(DECISION);
    trail.count("token_rejected", "token_missing", "corr-1");
    trail.count("run_replayed", "accepted", "corr-2");
    clock.set(T0 + AUDIT_MINUTE_MS);
    await trail.decide({ ...DECISION, event: "run_committed" });
    trail.tick();
    await trail.close();
    const text = await readFile(path, "utf8");
    const events = text.trimEnd().split("\n").map((l) => JSON.parse(l).event);
    assert.deepEqual(events, ["run_computed", "run_committed", "summary", "summary"]);
    const verified = await auditVerify(path);
    assert.equal(verified.ok, true, JSON.stringify(verified));
    assert.equal(verified.lines, 4);
    assert.deepEqual(m, { decision: 2, summary: 2, failures: 0 });
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("fail-closed: a sink that cannot write refuses decisions with 503 audit and counts it", async () => {
  const clock = manualClock();
  const { m, metrics } = countingMetrics();
  const failures: unknown[] = [];
  // /dev/full: every write fails with ENOSPC, like a full disk.
  const trail = createAuditTrail({
    sink: await openFileAuditSink({ path: "/dev/full", nowMs: clock.nowMs }),
    nowMs: clock.nowMs,
    metrics,
    onWriteFailure: (err) => void failures.push(err),
  });
  assert.equal(trail.status(), "ok");
  trail.assertWritable(); // nothing failed yet
  const isAudit503 = (e: unknown) =>
    e instanceof RewarderError && e.code === "DEPENDENCY_UNAVAILABLE" && e.reason === "audit";
  await assert.rejects(trail.decide(DECISION), isAudit503);
  assert.equal(trail.status(), "failed");
  await assert.rejects(trail.decide(DECISION), isAudit503, "stays closed");
  // Counted events still count (no throw) and their summary failure is counted at close.
  trail.count("token_rejected", "signature", "corr-x");
  assert.throws(() => trail.assertWritable(), isAudit503);
  await trail.close();
  assert.deepEqual(m, { decision: 0, summary: 0, failures: 4 }, "a refused decision counts");
  assert.equal(failures.length, 3, "logged: the lines the sink was asked to write");
});

test("a full queue is back-pressure (OVERLOADED audit_backlog), not a sink failure", async () => {
  const clock = manualClock();
  const { m, metrics } = countingMetrics();
  const busy: AuditSink = {
    append: (() =>
      Promise.reject(
        new RewarderError("OVERLOADED", "audit_backlog", { retryAfterS: 1 }),
      )) as AuditSink["append"],
    head: () => ({ seq: 0, hash: "" }),
    status: () => "ok",
    close: () => Promise.resolve(),
  };
  const trail = createAuditTrail({ sink: busy, nowMs: clock.nowMs, metrics });
  await assert.rejects(
    trail.decide(DECISION),
    (e) => e instanceof RewarderError && e.reason === "audit_backlog",
  );
  assert.equal(m.failures, 0);
  assert.equal(trail.status(), "ok");
});
