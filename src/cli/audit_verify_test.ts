import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AUDIT_GENESIS_PREV,
  AUDIT_SAMPLES_MAX,
  auditLineHash,
  openFileAuditSink,
} from "../shell/observe/audit.ts";
import { auditVerify, runAuditVerify } from "./audit_verify.ts";

let dir = "";
let good: string[] = [];
let goodHead = "";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "audit-verify-"));
  const path = join(dir, "good.jsonl");
  let t = Date.UTC(2026, 0, 1);
  const sink = await openFileAuditSink({ path, nowMs: () => (t += 1) });
  for (let i = 0; i < 8; i++) {
    await sink.append({
      event: i % 2 === 0 ? "run_computed" : "intent_acknowledged",
      tenant: "acme",
      corr_id: `c-${i}`,
      run_key: "b3:" + i.toString(16).repeat(64),
      outcome: i % 2 === 0 ? "sealed" : "accepted",
    });
  }
  goodHead = sink.head().hash;
  await sink.close();
  good = (await readFile(path, "utf8")).trimEnd().split("\n");
  assert.equal(good.length, 8);
});
after(async () => {
  await rm(dir, { recursive: true });
});

async function verifyLines(name: string, lines: string[], trailingNewline = true) {
  const path = join(dir, name);
  await writeFile(path, lines.join("\n") + (trailingNewline ? "\n" : ""));
  return auditVerify(path);
}

test("an untouched chain verifies and reports its head", async () => {
  assert.deepEqual(await verifyLines("ok.jsonl", good), { ok: true, lines: 8, head: goodHead });
});

test("deleting a middle line is detected at that position", async () => {
  const r = await verifyLines("del.jsonl", [...good.slice(0, 3), ...good.slice(4)]);
  assert.equal(r.ok, false);
  assert.equal(r.firstBadLine, 4);
  assert.equal(r.problem, "seq");
});

test("editing a line (even keeping valid JSON and seq) is detected at the next line", async () => {
  const edited = [...good];
  edited[2] = edited[2]!.replace('"outcome":"sealed"', '"outcome":"quarant"');
  assert.notEqual(edited[2], good[2]);
  const r = await verifyLines("edit.jsonl", edited);
  assert.equal(r.ok, false);
  assert.equal(r.firstBadLine, 4);
  assert.equal(r.problem, "prev");
});

test("deleting a line and renumbering the rest is still detected (prev)", async () => {
  const renumbered = [...good.slice(0, 3), ...good.slice(4)].map((l, i) =>
    l.replace(/^\{"seq":\d+/, `{"seq":${i + 1}`)
  );
  const r = await verifyLines("renum.jsonl", renumbered);
  assert.equal(r.ok, false);
  assert.equal(r.firstBadLine, 4);
});

test("reordering two lines is detected", async () => {
  const swapped = [...good];
  [swapped[5], swapped[6]] = [swapped[6]!, swapped[5]!];
  const r = await verifyLines("swap.jsonl", swapped);
  assert.equal(r.ok, false);
  assert.equal(r.firstBadLine, 6);
});

test("cutting out a middle range is detected", async () => {
  const r = await verifyLines("cut.jsonl", [...good.slice(0, 2), ...good.slice(6)]);
  assert.equal(r.ok, false);
  assert.equal(r.firstBadLine, 3);
});

test("a torn last line and garbage are detected", async () => {
  const torn = await verifyLines("torn.jsonl", [...good, good[0]!.slice(0, 20)], false);
  assert.equal(torn.problem, "torn_tail");
  assert.equal(torn.firstBadLine, 9);
  const junk = await verifyLines("junk.jsonl", [good[0]!, "not json", ...good.slice(2)]);
  assert.equal(junk.problem, "not_json");
  assert.equal(junk.firstBadLine, 2);
});

test("a cut tail passes alone but fails against the earlier anchor", async () => {
  const path = join(dir, "tail.jsonl");
  await writeFile(path, good.slice(0, 6).join("\n") + "\n");
  assert.equal((await auditVerify(path)).ok, true, "the file alone cannot show a cut tail");
  assert.equal((await auditVerify(path, { expectHead: goodHead })).problem, "head_mismatch");
  assert.equal((await auditVerify(path, { expectLines: 8 })).problem, "line_count");
});

test("CLI: exit codes 0/1/2 and one JSON line on stdout", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (l: string) => void out.push(l), stderr: (l: string) => void err.push(l) };
  const okPath = join(dir, "ok.jsonl");
  assert.equal(await runAuditVerify(["--file", okPath, "--expect-head", goodHead], io), 0);
  assert.deepEqual(JSON.parse(out.at(-1)!), { ok: true, lines: 8, head: goodHead });
  assert.equal(await runAuditVerify(["--file", join(dir, "swap.jsonl")], io), 1);
  assert.equal(JSON.parse(out.at(-1)!).firstBadLine, 6);
  assert.equal(await runAuditVerify(["--file", join(dir, "missing.jsonl")], io), 1);
  assert.equal(JSON.parse(out.at(-1)!).problem, "unreadable");
  assert.equal(await runAuditVerify([], io), 2);
  assert.equal(await runAuditVerify(["--file"], io), 2);
  assert.equal(await runAuditVerify(["--file", okPath, "--expect-head", "B3:X"], io), 2);
  assert.equal(await runAuditVerify(["--bogus", "x"], io), 2);
  assert.equal(err.length, 4);
});

test("files larger than one read chunk verify (lines spanning chunk borders)", async () => {
  const path = join(dir, "big.jsonl");
  let t = 0;
  const sink = await openFileAuditSink({ path, nowMs: () => (t += 1) });
  const appends = [];
  for (let i = 0; i < 600; i++) {
    appends.push(
      sink.append({ event: "run_computed", tenant: "acme", corr_id: `c${i}`, outcome: "pending" }),
    );
  }
  await Promise.all(appends);
  await sink.close();
  const r = await auditVerify(path);
  assert.deepEqual(r, { ok: true, lines: 600, head: sink.head().hash });
  const lines = (await readFile(path, "utf8")).trimEnd().split("\n");
  assert.ok(lines.join("\n").length > 64 * 1024);
  lines.splice(400, 1);
  assert.equal((await verifyLines("big-del.jsonl", lines)).firstBadLine, 401);
});

/** Chains hand-written records (seq and prev filled in), as the sink would write them. */
function chainOf(records: Record<string, unknown>[]): string[] {
  let prev = AUDIT_GENESIS_PREV;
  return records.map((r, i) => {
    const { seq: _seq, prev: _prev, ...rest } = r;
    const line = JSON.stringify({ seq: i + 1, ...rest, prev });
    prev = auditLineHash(line);
    return line;
  });
}

const V1_DECISION = {
  tenant: null,
  corr_id: "-",
  run_key: null,
  policy_hash: null,
  inputs_cid: null,
  manifest_hash: null,
  reason: null,
};

test("format v1 files (one token_rejected / run_replayed line per request) still verify", async () => {
  const lines = chainOf([
    { ts: "2026-01-01T00:00:00.000Z", event: "token_rejected", ...V1_DECISION, outcome: "unauth" },
    { ts: "2026-01-01T00:00:01.000Z", event: "run_replayed", ...V1_DECISION, outcome: "pending" },
    { ts: "2026-01-01T00:00:02.000Z", event: "run_computed", ...V1_DECISION, outcome: "pending" },
  ]);
  const r = await verifyLines("v1.jsonl", lines);
  assert.deepEqual(r, { ok: true, lines: 3, head: auditLineHash(lines[2]!) });
});

test("summary lines verify; a malformed summary is refused even when it chains", async () => {
  const summary = (count: unknown, samples: unknown, of: unknown = "token_rejected") => ({
    ts: "2026-01-01T00:01:00.000Z",
    event: "summary",
    of,
    reason: "signature",
    minute: "2026-01-01T00:00:00.000Z",
    count,
    samples,
  });
  const decision = {
    ts: "2026-01-01T00:00:02.000Z",
    event: "run_computed",
    ...V1_DECISION,
    outcome: "pending",
  };
  const many = Array.from({ length: AUDIT_SAMPLES_MAX }, (_, i) => `corr-${i}`);
  const ok = chainOf([decision, summary(10_000, many), summary(1, ["c"], "run_replayed")]);
  assert.deepEqual(await verifyLines("sum.jsonl", ok), {
    ok: true,
    lines: 3,
    head: auditLineHash(ok[2]!),
  });
  const bad: [string, Record<string, unknown>][] = [
    ["zero", summary(0, [])],
    ["fraction", summary(1.5, [])],
    ["too many samples", summary(10_000, [...many, "one-more"])],
    ["more samples than count", summary(1, ["a", "b"])],
    ["sample not a string", summary(2, [7])],
    ["unknown counted event", summary(1, [], "run_computed")],
  ];
  for (const [name, record] of bad) {
    const r = await verifyLines("bad-sum.jsonl", chainOf([decision, record]));
    assert.equal(r.problem, "summary", name);
    assert.equal(r.firstBadLine, 2, name);
  }
  // An edited count keeps the shape valid: the next line's prev catches it.
  const edited = [...ok];
  edited[1] = edited[1]!.replace('"count":10000', '"count":10');
  const r = await verifyLines("sum-edit.jsonl", edited);
  assert.equal(r.problem, "prev");
  assert.equal(r.firstBadLine, 3);
});
