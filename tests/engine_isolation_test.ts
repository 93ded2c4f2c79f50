/**
 * Tenants cannot hurt each other through the engine, over the real service: one tenant starts
 * big computes and hangs up once they run, 4 at a time, while another runs 20 fresh small
 * computes. Every honest compute succeeds with at most one retry and none is answered
 * `engine_restarted` (with one engine worker that every abort restarted, they were). The
 * attacker's hang-ups are timed by the service's own metrics, never by sleeps.
 */
import assert from "node:assert/strict";
import { casPut } from "../src/shell/sources/cas.ts";
import { generateEpochInputs } from "../vectors/generate_epoch.ts";
import { prepareFixtures } from "./support/fixtures.ts";
import {
  type Answer,
  answerOf,
  freshDataDir,
  type Service,
  startService,
  tokenMinter,
} from "./support/service.ts";
import { metric, startedWatcher } from "./support/isolation_attack.ts";

/** Concurrent attacking requests. */
const ATTACKERS = 4;
/** Fresh small computes of the honest tenant. */
const HONEST_COMPUTES = 20;
/** Recipients of the attacker's epoch (≈ 8 MB of inputs: about a second of engine time). */
const BIG_RECIPIENTS = 100_000;
/** One sample of a series from the service's `/metrics` (labels as written). */
const metricOf = (service: Service, series: string) => metric(service.origin, series);

Deno.test("one tenant abandoning big computes does not fail another tenant's small computes", async () => {
  const dataDir = await freshDataDir("isolation");
  const fx = await prepareFixtures(dataDir);
  const policy = { policy_id: fx.generated.policy_id, policy_hash: fx.generated.policy_hash };
  const bigEpoch = "attack-big";
  const bigCid = await casPut(
    dataDir,
    new TextEncoder().encode(generateEpochInputs(bigEpoch, BIG_RECIPIENTS)),
  );
  const honestCids: string[] = [];
  for (let i = 0; i < HONEST_COMPUTES; i++) {
    honestCids.push(
      await casPut(dataDir, new TextEncoder().encode(generateEpochInputs(`honest-${i}`, 50))),
    );
  }
  const minter = tokenMinter(dataDir);
  const attackerToken = await minter.mint({ tenant: "attacker" });
  const honestToken = await minter.mint({ tenant: "honest" });
  const service = await startService({ dataDir, transport: "tcp" });
  const compute = (token: string, epochId: string, cid: string, signal?: AbortSignal) =>
    service.fetch(`/rewarder/epochs/${epochId}/compute`, {
      method: "POST",
      headers: { authorization: `Macaroon ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ inputs_cid: cid, ...policy }),
      ...(signal === undefined ? {} : { signal }),
    });
  let attacking = true;
  let hangUps = 0;
  const watcher = startedWatcher(service.origin);
  const attacker = async () => {
    while (attacking) {
      const before = watcher.current();
      const ctrl = new AbortController();
      const answer = compute(attackerToken, bigEpoch, bigCid, ctrl.signal).then(
        (res) => res.body?.cancel(),
        () => undefined,
      );
      // Hang up once a job started after this one was sent (its own, or it is still queued:
      // either way an abandoned request).
      await watcher.after(before);
      ctrl.abort();
      hangUps++;
      await answer;
    }
  };
  try {
    const attackers = Array.from({ length: ATTACKERS }, attacker);
    const honest: { answer: Answer; retries: number; ms: number }[] = [];
    try {
      for (let i = 0; i < HONEST_COMPUTES; i++) {
        const t0 = performance.now();
        let answer = await answerOf(await compute(honestToken, `honest-${i}`, honestCids[i]!));
        let retries = 0;
        if (answer.status === 503 && retries === 0) {
          // Contract §8: a 503 carries Retry-After; the client retries once after it.
          const waitS = Number(answer.headers.get("retry-after") ?? "1");
          await new Promise((r) => setTimeout(r, waitS * 1000));
          retries++;
          answer = await answerOf(await compute(honestToken, `honest-${i}`, honestCids[i]!));
        }
        honest.push({ answer, retries, ms: performance.now() - t0 });
      }
    } finally {
      attacking = false;
      await watcher.stop();
      await Promise.all(attackers);
    }
    const failed = honest.find((h) => h.answer.status !== 200);
    if (failed !== undefined) {
      const lines = service.output().split("\n").filter((l) => /error|warn/i.test(l));
      console.error(lines.slice(-20).join("\n"));
    }
    for (const [i, { answer }] of honest.entries()) {
      assert.notEqual(answer.body?.error?.reason, "engine_restarted", `honest ${i}`);
      assert.equal(answer.status, 200, `honest ${i}: ${answer.text}`);
      assert.equal(answer.body.epoch_id, `honest-${i}`);
    }
    assert.ok(hangUps >= ATTACKERS, `the attack ran: ${hangUps} hang-ups`);
    const runningCancelled = await metricOf(
      service,
      'engine_jobs_cancelled_total{state="running",reason="client_gone"}',
    );
    const replaced = await metricOf(
      service,
      'engine_worker_replacements_total{cause="cancelled"}',
    );
    assert.ok(runningCancelled >= 1, `running attacker jobs were stopped: ${runningCancelled}`);
    const runningDeadline = await metricOf(
      service,
      'engine_jobs_cancelled_total{state="running",reason="deadline"}',
    );
    assert.ok(
      replaced <= runningCancelled + runningDeadline,
      `workers replaced (${replaced}) only for stopped jobs that missed a checkpoint`,
    );
    const ms = honest.map((h) => h.ms).sort((x, y) => x - y);
    console.log(
      `hang-ups ${hangUps}, running jobs stopped ${
        runningCancelled + runningDeadline
      }, workers replaced ${replaced}, honest retries ${
        honest.reduce((n, h) => n + h.retries, 0)
      }, honest p50 ${ms[Math.floor(ms.length / 2)]!.toFixed(0)} ms, p95 ${
        ms[Math.ceil(ms.length * 0.95) - 1]!.toFixed(0)
      } ms`,
    );
  } finally {
    await service.stop();
  }
});
