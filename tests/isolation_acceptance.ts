/**
 * Tenants cannot hurt each other under hostile load, over the real service on loopback
 * (tests/support/isolation_scenario.ts): one tenant abandons big computes, anonymous clients
 * trickle 1 MiB bodies and flood GETs, 300 slow-header sockets are held, and another tenant
 * runs 20 fresh small computes — after running the same 20 alone first, in the same test, as
 * the baseline. Facts, not absolute timings:
 *
 * - every honest compute succeeds with at most one retry, and none is answered
 *   `engine_restarted`;
 * - at least 90 % of the slow sockets are closed by the server within HEADER_DEADLINE_MS plus
 *   slack, none before 90 % of the deadline;
 * - the anonymous bodies are answered before they are sent whole, never 2xx; the anonymous
 *   GETs only ever 401 or 429;
 * - the honest p95 under attack stays within {@link P95_MULTIPLE_MAX} times the same run's
 *   p95 alone.
 *
 *   deno task test:isolation
 *   BUSY=4 deno task test:repeat tests/isolation_acceptance.ts 3
 *
 * Part of `deno task test` (scripts/test_all.sh), run alone after the parallel suite: it
 * compares two phases of one run, and another test file's load would land in one phase only.
 * The attack runs in a process of its own (tests/support/isolation_attack.ts).
 *
 * The absolute figures (and the targets) are bench/isolation_bench.ts's.
 */
import assert from "node:assert/strict";
import {
  runIsolationScenario,
  SCENARIO_DEFAULTS,
  slowSummary,
  TRICKLE_BODY_BYTES,
} from "./support/isolation_scenario.ts";

/**
 * Largest honest p95 under attack, as a multiple of the p95 alone. The harms this test exists
 * for took the honest p95 to seconds against 10–30 ms alone: one engine worker restarted by
 * every abort (p95 7.5 s), the inputs read and hashed on the request loop, bodies buffered
 * before authentication, sockets held by slow clients. What remains under the attack on this 2-core machine is the cores shared
 * with the attack's own process and the attacker's (niced) jobs: measured 1.7–4.8× quiet and
 * 2.9–5.9× under four busy loops (docs/RESULTS.md, "Isolation under hostile load"). 8× keeps
 * that margin. The finer effects — the express worker and the thread priorities (~7.5× → ~3×)
 * — are pinned by their own tests (engine_pool_test.ts, engine_runner_test.ts), not here.
 */
const P95_MULTIPLE_MAX = 8;
/** Share of slow sockets the server must close within the deadline plus slack. */
const CLOSED_SHARE_MIN = 0.9;
/** A close earlier than this share of the deadline would be some other cause. */
const EARLY_SHARE = 0.9;

Deno.test("tenants cannot hurt each other: honest computes under a combined hostile load", async () => {
  const r = await runIsolationScenario({ log: (line) => console.log(`isolation: ${line}`) });
  const s = slowSummary(r);
  const retries = (hs: typeof r.baseline) => hs.reduce((n, h) => n + h.retries, 0);
  const trickleAnswered = r.trickle.filter((t) => t.status !== "none");
  console.log(
    `isolation: ${
      JSON.stringify({
        baselineP50Ms: Math.round(r.baselineP50Ms),
        baselineP95Ms: Math.round(r.baselineP95Ms),
        attackP50Ms: Math.round(r.attackP50Ms),
        attackP95Ms: Math.round(r.attackP95Ms),
        p95Multiple: Number((r.attackP95Ms / r.baselineP95Ms).toFixed(2)),
        retries: { alone: retries(r.baseline), underAttack: retries(r.underAttack) },
        hangUps: r.hangUps,
        runningStopped: r.runningStopped,
        workersReplaced: r.workersReplaced,
        slow: s,
        trickle: {
          bodies: r.trickle.length,
          answered: trickleAnswered.length,
          statuses: [...new Set(trickleAnswered.map((t) => t.status))].sort(),
        },
        flood: r.flood,
        healthzP99Ms: Math.round(r.healthzMs[Math.ceil(r.healthzMs.length * 0.99) - 1] ?? NaN),
        rssHwmMiB: Math.round(r.rssHwmBytes / 2 ** 20),
      })
    }`,
  );
  const failed = [...r.baseline, ...r.underAttack].some((h) => h.status !== 200);
  if (failed) console.error(r.errorLines.join("\n"));

  // Every honest compute succeeds with at most one retry; none is engine_restarted.
  for (const h of [...r.baseline, ...r.underAttack]) {
    assert.notEqual(h.reason, "engine_restarted", `${h.epochId}: ${h.text}`);
    assert.equal(h.status, 200, `${h.epochId} (${h.retries} retries): ${h.text}`);
    assert.ok(h.retries <= 1, `${h.epochId}: ${h.retries} retries`);
    assert.equal(JSON.parse(h.text).epoch_id, h.epochId);
  }
  assert.equal(r.underAttack.length, SCENARIO_DEFAULTS.honestComputes);

  // The attack ran: the attacker's running jobs were stopped, the bodies and GETs answered.
  assert.ok(r.hangUps >= SCENARIO_DEFAULTS.attackers, `hang-ups: ${r.hangUps}`);
  assert.ok(r.runningStopped >= 1, `running attacker jobs stopped: ${r.runningStopped}`);
  assert.ok(trickleAnswered.length >= 1, `trickled bodies answered: ${trickleAnswered.length}`);
  for (const t of trickleAnswered) {
    assert.ok(["401", "429", "503"].includes(t.status), `anonymous body answered ${t.status}`);
    assert.ok(t.sentBytes < TRICKLE_BODY_BYTES, `answered after ${t.sentBytes} bytes of the body`);
  }
  const floodCodes = Object.keys(r.flood).filter((k) => k !== "error");
  assert.ok(floodCodes.length >= 1, `anonymous GETs: ${JSON.stringify(r.flood)}`);
  assert.deepEqual(floodCodes.filter((k) => k !== "401" && k !== "429"), [], "anonymous GETs");

  // ≥ 90 % of the slow sockets closed by the server within the deadline plus slack.
  const deadline = SCENARIO_DEFAULTS.headerDeadlineMs;
  assert.ok(s.sockets >= SCENARIO_DEFAULTS.slowSockets, `slow sockets opened: ${s.sockets}`);
  assert.ok(
    s.closed >= CLOSED_SHARE_MIN * s.sockets,
    `only ${s.closed}/${s.sockets} slow sockets closed within ${
      deadline + SCENARIO_DEFAULTS.closeSlackMs
    } ms`,
  );
  for (const [kind, n] of Object.entries(s.byKind)) assert.ok(n > 0, `no ${kind} socket closed`);
  assert.ok(s.minMs >= EARLY_SHARE * deadline, `a slow socket closed after ${s.minMs} ms`);

  assert.equal(r.exitCode, 0, "the service stopped cleanly");

  // The honest p95 under attack within a small multiple of the same run's p95 alone.
  assert.ok(
    r.attackP95Ms <= P95_MULTIPLE_MAX * r.baselineP95Ms,
    `honest p95 ${r.attackP95Ms.toFixed(0)} ms under attack > ${P95_MULTIPLE_MAX} × ${
      r.baselineP95Ms.toFixed(0)
    } ms alone`,
  );
});
