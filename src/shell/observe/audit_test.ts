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

const RUN = {
  tenant: "acme",
  corr_id: "c-1",
  run_key: "b3:" + "a".repeat(64),
  policy_hash: "b3:" + "b".repeat(64),
  inputs_cid: "b3:" + "c".repeat(64),
  manifest_hash: "b3:" + "d".repeat(64),
};
const ENTRIES: AuditEntry[] = [
  { event: "run_computed", ...RUN, outcome: "sealed" },
  { event: "run_replayed", ...RUN, outcome: "sealed" },
  { event: "intent_acknowledged", ...RUN, outcome: "accepted" },
  { event: "token_rejected", tenant: null, corr_id: "c-2", outcome: "rejected", reason: "unauth" },
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
    await assert.rejects(sink.append(ENTRIES[0]!), /audit_unavailable/, "closed sink refuses");
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
