import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AUDIT_GENESIS_PREV,
  type AuditEntry,
  auditLineHash,
  createStdoutAuditSink,
  openFileAuditSink,
  readAuditHead,
} from "./audit.ts";
import { auditVerify } from "../../cli/audit_verify.ts";
import { RewarderError } from "../../core/errors.ts";

const RUN = {
  tenant: "acme",
  corr_id: "c-1",
  run_key: "b3:" + "a".repeat(64),
  policy_hash: "b3:" + "b".repeat(64),
  inputs_cid: "b3:" + "c".repeat(64),
  manifest_hash: "b3:" + "d".repeat(64),
};
const ENTRIES: AuditEntry[] = [
  { event: "run_computed", ...RUN, outcome: "pending" },
  { event: "run_committed", ...RUN, outcome: "pending" },
  { event: "intent_acknowledged", ...RUN, outcome: "accepted" },
  { event: "key_epoch_changed", tenant: null, corr_id: null, outcome: "current", reason: "2" },
  { event: "quarantine_mode_changed", tenant: "acme", corr_id: "c-3", outcome: "on" },
];

function fixedClock(startMs = Date.UTC(2026, 10, 27)): { nowMs: () => number } {
  let t = startMs;
  return { nowMs: () => (t += 1000) };
}

test("genesis prev is b3 of the empty string", () => {
  assert.equal(
    AUDIT_GENESIS_PREV,
    "b3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
  );
});

test("stdout mode: chained lines, injected clock, nothing on disk", async () => {
  const out: string[] = [];
  const sink = createStdoutAuditSink({ ...fixedClock(), write: (l) => void out.push(l) });
  for (const e of ENTRIES) await sink.append(e);
  assert.equal(out.length, ENTRIES.length);
  const first = JSON.parse(out[0]!);
  assert.equal(first.seq, 1);
  assert.equal(first.prev, AUDIT_GENESIS_PREV);
  assert.equal(first.ts, "2026-11-27T00:00:01.000Z");
  assert.deepEqual(Object.keys(first), [
    "seq",
    "ts",
    "event",
    "tenant",
    "corr_id",
    "run_key",
    "policy_hash",
    "inputs_cid",
    "manifest_hash",
    "outcome",
    "reason",
    "prev",
  ]);
  for (let i = 1; i < out.length; i++) {
    assert.equal(JSON.parse(out[i]!).prev, auditLineHash(out[i - 1]!));
    assert.equal(JSON.parse(out[i]!).seq, i + 1);
  }
  assert.deepEqual(sink.head(), { seq: 5, hash: auditLineHash(out[4]!) });
  await assert.rejects(
    sink.append({ event: "nope" as "run_computed", tenant: null, corr_id: null, outcome: "x" }),
    TypeError,
  );
  await assert.rejects(sink.append({ ...ENTRIES[0]!, outcome: "x".repeat(300) }), TypeError);
  assert.equal(sink.head().seq, 5, "a refused entry does not advance the chain");
});

test("file mode: 0600, durable appends, resumes the chain after restart", async () => {
  const dir = await mkdtemp(join(tmpdir(), "audit-"));
  const path = join(dir, "audit.jsonl");
  try {
    let sink = await openFileAuditSink({ path, ...fixedClock() });
    // Concurrent appends go out in one group commit, in call order.
    await Promise.all(ENTRIES.slice(0, 3).map((e) => sink.append(e)));
    await sink.close();
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await readAuditHead(path)).seq, 3);

    sink = await openFileAuditSink({ path, ...fixedClock() });
    assert.equal(sink.head().seq, 3);
    for (const e of ENTRIES.slice(3)) await sink.append(e);
    await sink.close();

    const text = await readFile(path, "utf8");
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, 5);
    assert.deepEqual(lines.map((l) => JSON.parse(l).seq), [1, 2, 3, 4, 5]);
    assert.deepEqual(lines.map((l) => JSON.parse(l).event), ENTRIES.map((e) => e.event));
    const result = await auditVerify(path);
    assert.deepEqual(result, { ok: true, lines: 5, head: auditLineHash(lines[4]!) });
    await assert.rejects(sink.append(ENTRIES[0]!), /audit/, "closed sink refuses");
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("file mode refuses to resume from a torn last line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "audit-"));
  const path = join(dir, "audit.jsonl");
  try {
    await writeFile(path, '{"seq":1,"ts":"x","event":"run_computed"', { mode: 0o600 });
    await assert.rejects(openFileAuditSink({ path, ...fixedClock() }), /torn last line/);
  } finally {
    await rm(dir, { recursive: true });
  }
});

test("a counted event is not a decision line: it is refused by append", async () => {
  const sink = createStdoutAuditSink({ ...fixedClock(), write: () => {} });
  await assert.rejects(
    sink.append({
      event: "token_rejected" as "run_computed",
      tenant: null,
      corr_id: null,
      outcome: "x",
    }),
    TypeError,
  );
  await assert.rejects(
    sink.append({
      event: "summary",
      of: "token_rejected",
      reason: "signature",
      minute: "2026-11-27T00:00:00.000Z",
      count: 1,
      samples: ["a", "b"],
    }),
    TypeError,
    "more samples than count",
  );
  assert.equal(sink.head().seq, 0);
});

test("file mode fails closed: a failed write poisons the sink (status failed, 503 audit)", async () => {
  // /dev/full accepts the open and fails every write with ENOSPC: a full disk.
  const sink = await openFileAuditSink({ path: "/dev/full", ...fixedClock() });
  assert.equal(sink.status(), "ok");
  const first = await sink.append(ENTRIES[0]!).then(() => null, (e) => e);
  assert.ok(first instanceof RewarderError, String(first));
  assert.equal(first.code, "DEPENDENCY_UNAVAILABLE");
  assert.equal(first.reason, "audit");
  assert.equal(sink.status(), "failed");
  await assert.rejects(
    sink.append(ENTRIES[1]!),
    (e) => e instanceof RewarderError && e.reason === "audit",
  );
  await sink.close();
});

test("stdout mode fails closed when its writer throws", async () => {
  const sink = createStdoutAuditSink({
    ...fixedClock(),
    write: () => {
      throw new Error("EPIPE");
    },
  });
  await assert.rejects(
    sink.append(ENTRIES[0]!),
    (e) => e instanceof RewarderError && e.reason === "audit",
  );
  assert.equal(sink.status(), "failed");
});
