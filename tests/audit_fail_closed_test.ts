/**
 * The audit log over the real process (docs/RUNBOOK.md, "Audit log" and AuditSinkFailing):
 * a compute's decision line is on disk when its answer arrives; rejected tokens are one
 * summary line per minute and reason, written at shutdown at the latest; and when the audit
 * file cannot be written (here /dev/full: every write fails with ENOSPC, like a full disk)
 * the service fails closed: computes answer 503 DEPENDENCY_UNAVAILABLE `audit`, `/readyz` is
 * 503 with cause `audit`, while replays, reads and token checks still answer.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { auditVerify } from "../src/cli/audit_verify.ts";
import { prepareFixtures, putSnapshot } from "./support/fixtures.ts";
import { caller, freshDataDir, startService, tokenMinter } from "./support/service.ts";

/** Requests sent with a forged token before the restart. */
const REJECTED = 25;

async function auditLines(dataDir: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(join(dataDir, "audit.jsonl"));
  return text.trimEnd().split("\n").map((l) => JSON.parse(l));
}

Deno.test("audit: decisions durable before the answer, counted tokens, fail-closed on a full disk", async () => {
  const dataDir = await freshDataDir("audit_fc");
  const fx = await prepareFixtures(dataDir);
  const token = await tokenMinter(dataDir).mint();
  const auditPath = join(dataDir, "audit.jsonl");

  const first = await startService({ dataDir, transport: "tcp" });
  try {
    const call = caller(first);
    const computed = await call("POST", "/rewarder/epochs/fc-1/compute", {
      token,
      json: fx.interop,
    });
    assert.equal(computed.status, 200, computed.text);
    // Durable before the answer: the line is in the file while the service still runs.
    const decided = (await auditLines(dataDir)).filter((l) => l.event === "run_computed");
    assert.equal(decided.length, 1);
    assert.equal(decided[0]!.run_key, computed.body.run_key);
    // A dry run, then the same request non-dry: the promotion is its own decision line.
    const { epochId, ...hamilton } = fx.hamilton;
    const dry = await call("POST", `/rewarder/epochs/${epochId}/compute`, {
      token,
      json: { ...hamilton, dry_run: true },
    });
    assert.equal(dry.status, 200, dry.text);
    const promoted = await call("POST", `/rewarder/epochs/${epochId}/compute`, {
      token,
      json: hamilton,
    });
    assert.equal(promoted.status, 200, promoted.text);
    // (intent_acknowledged comes from the dispatcher, at its own time: not compared)
    const byEvent = (await auditLines(dataDir))
      .filter((l) => l.run_key === dry.body.run_key && l.event !== "intent_acknowledged")
      .map((l) => [l.event, l.outcome]);
    assert.deepEqual(byEvent, [["run_computed", "dry_run"], [
      "run_committed",
      "pending",
    ]]);
    for (let i = 0; i < REJECTED; i++) {
      const a = await call("GET", "/rewarder/epochs/fc-1", { token: "AAAA" });
      assert.equal(a.status, 401);
    }
    const replay = await call("POST", "/rewarder/epochs/fc-1/compute", {
      token,
      json: fx.interop,
    });
    assert.equal(replay.body.replayed, true);
    // No line per rejected token or replay (a summary appears only if a minute closed).
    const perRequest = (await auditLines(dataDir)).filter((l) =>
      l.event === "token_rejected" || l.event === "run_replayed"
    );
    assert.deepEqual(perRequest, [], "rejected tokens and replays add no line of their own");
  } finally {
    assert.equal(await first.stop(), 0);
  }
  const lines = await auditLines(dataDir);
  const summaries = lines.filter((l) => l.event === "summary");
  const rejected = summaries.filter((l) => l.of === "token_rejected");
  assert.equal(
    rejected.reduce((n, l) => n + (l.count as number), 0),
    REJECTED,
    "shutdown writes the open minute's summaries",
  );
  assert.ok(rejected.length <= 2, "one line per minute and reason (the run may span 2 minutes)");
  assert.equal(
    summaries.filter((l) => l.of === "run_replayed").reduce((n, l) => n + (l.count as number), 0),
    1,
  );
  assert.equal((await auditVerify(auditPath)).ok, true);

  // A full disk: the audit file becomes /dev/full (opens fine, every write fails).
  await Deno.remove(auditPath);
  await Deno.symlink("/dev/full", auditPath);
  const otherInputs = await putSnapshot(dataDir, 3);
  const second = await startService({ dataDir, transport: "tcp" });
  try {
    const call = caller(second);
    for (const [epoch, inputs] of [["fc-2", fx.altInputsCid], ["fc-3", otherInputs]]) {
      const refused = await call("POST", `/rewarder/epochs/${epoch}/compute`, {
        token,
        json: { ...fx.interop, inputs_cid: inputs },
      });
      assert.equal(refused.status, 503, refused.text);
      assert.equal(refused.body.error.code, "DEPENDENCY_UNAVAILABLE");
      assert.equal(refused.body.error.reason, "audit");
    }
    const ready = await call("GET", "/readyz");
    assert.equal(ready.status, 503);
    assert.ok(ready.body.causes.includes("audit"), ready.text);

    // Replays, reads and token checks need no disk write: they still answer.
    const replay = await call("POST", "/rewarder/epochs/fc-1/compute", {
      token,
      json: fx.interop,
    });
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.body.replayed, true);
    assert.equal((await call("GET", "/rewarder/epochs/fc-1", { token })).status, 200);
    assert.equal((await call("GET", "/rewarder/epochs/fc-1", { token: "AAAA" })).status, 401);
    // Lifting quarantine-only is a decision that cannot be recorded: refused.
    const lift = await call("PUT", "/rewarder/quarantine", {
      token,
      json: { quarantine_only: false },
    });
    assert.equal(lift.status, 503, lift.text);
    assert.equal(lift.body.error.reason, "audit");

    const metrics = (await call("GET", "/metrics")).text;
    const failures = Number(/^audit_write_failures_total (\d+)/m.exec(metrics)?.[1]);
    assert.ok(failures >= 3, `audit_write_failures_total ${failures}: every refused decision`);
    assert.match(metrics, /^readyz_degraded\{cause="audit"\} 1$/m);
  } finally {
    assert.equal(await second.stop(), 0, second.output().slice(-4000));
  }
  await Deno.remove(dataDir, { recursive: true });
});
