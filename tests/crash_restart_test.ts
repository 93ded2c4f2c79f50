// Crash tests of issue 5: the real service is killed (env-gated exit 137 at each step of
// compute → commit → emit → acknowledge, or a real SIGKILL at a random moment), restarted on
// the same DATA_DIR, the client maybe re-submits; the real dev ledger must then show exactly one
// applied intent per committed run and none for uncommitted, dry or quarantined runs, and replays
// must be byte-identical across a further clean restart.
//
//   deno test --allow-all tests/crash_restart_test.ts
//   CRASH_SEED=<n> [CRASH_ROUNDS=<k>] reproduces (the seed is printed on failure).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Answer,
  assertAppliedExactly,
  type Client,
  createClient,
  expectedRunKey,
  type Ledger,
  mulberry32,
  pick,
  prepareDataDir,
  type PreparedDataDir,
  putInputs,
  type Service,
  sleep,
  startLedger,
  startService,
} from "./support/crash_harness.ts";

/** Rounds per run (issue 5: at least 20). */
const ROUNDS = Number(Deno.env.get("CRASH_ROUNDS") ?? "20");
/** First round number (with CRASH_ROUNDS=1 it reruns one round of a failed run alone). */
const FIRST_ROUND = Number(Deno.env.get("CRASH_FIRST_ROUND") ?? "0");
/** Base seed; round r uses seed + r. */
const BASE_SEED = Number(Deno.env.get("CRASH_SEED") ?? String(Date.now() % 1_000_000_007));
/** Bound on the crash of a hook round after the last request, ms. */
const CRASH_WAIT_MS = 15_000;
/** Bound on draining the outbox after the restart, ms. */
const DRAIN_WAIT_MS = 20_000;
/** Poll interval while waiting, ms. */
const POLL_MS = 100;
/** Latest random SIGKILL after the first request, ms (computes take ~10-300 ms each). */
const SIGKILL_AT_MS_MAX = 700;
/** Settle time after the clean restart (> one dispatcher interval): nothing may be resent. */
const SETTLE_MS = 1_200;
/** Rounds run at the same time (each has its own data dir, ledger and service). */
const PARALLEL_ROUNDS = Number(Deno.env.get("CRASH_PARALLEL") ?? "2");

/** Re-submissions of a request answered 503 (outcome unknown) before giving up. */
const UNAVAILABLE_RETRIES_MAX = 4;
/** Request deadline of the service: generous, the machine may be loaded (latency is not tested). */
const SERVICE_REQUEST_TIMEOUT_MS = "20000";
/** Identical concurrent re-submissions in a burst round. */
const RETRY_COPIES_MAX = 8;

const STEPS = ["after_run_write", "after_commit", "after_send", "after_ack"] as const;
type Step = (typeof STEPS)[number];
const FAULT_SCRIPTS: string[][] = [
  [],
  [],
  ["5xx"],
  ["drop_after_commit"],
  ["malformed_ack"],
  ["5xx", "drop_after_commit"],
  ["drop_after_commit", "malformed_ack"],
];

type JobKind = "sealed" | "dry_promote" | "quarantined" | "conflict";
interface Body {
  inputs_cid: string;
  policy_id: string;
  policy_hash: string;
  dry_run?: boolean;
}
interface Job {
  kind: JobKind;
  epochId: string;
  /** Requests in order (conflict: A then B on the same epoch; dry_promote: dry then real). */
  requests: { body: Body; runKey: string }[];
}
interface Plan {
  seed: number;
  mode: { kind: "hook"; step: Step; occurrence: number } | { kind: "sigkill"; afterMs: number };
  faults: string[];
  retry: boolean;
  /** Identical concurrent copies of each re-submitted request. */
  retryCopies: number;
  jobs: Job[];
}

function commitsOf(jobs: Job[]): number {
  return jobs.filter((j) => j.kind !== "quarantined").length;
}

async function makePlan(seed: number, round: number, d: PreparedDataDir): Promise<Plan> {
  const rng = mulberry32(seed);
  const kinds: JobKind[] = Array.from(
    { length: 1 + Math.floor(rng() * 3) },
    () => pick(rng, ["sealed", "sealed", "dry_promote", "quarantined", "conflict"] as const),
  );
  // Every step and the real SIGKILL are covered whatever the seed: the round picks the mode.
  const slot = round % (STEPS.length + 1);
  const step = STEPS[slot];
  if (
    step === "after_run_write" && !kinds.some((k) => k === "dry_promote" || k === "quarantined")
  ) {
    kinds.unshift(pick(rng, ["dry_promote", "quarantined"] as const));
  }
  if (step !== undefined && step !== "after_run_write" && !kinds.some((k) => k !== "quarantined")) {
    kinds.push("sealed");
  }
  const jobs: Job[] = [];
  for (const [i, kind] of kinds.entries()) {
    const epochId = `crash-${seed}-${i}`;
    const sealed = async (poolMinor: bigint, dry?: boolean) => {
      const cid = await putInputs(d.dataDir, epochId, { poolMinor, overflow: false });
      const p = d.sealedPolicy;
      return {
        body: {
          inputs_cid: cid,
          policy_id: p.policyId,
          policy_hash: p.policyHash,
          ...(dry === undefined ? {} : { dry_run: dry }),
        },
        runKey: expectedRunKey(epochId, p.policyHash, cid),
      };
    };
    if (kind === "sealed") jobs.push({ kind, epochId, requests: [await sealed(1000n)] });
    if (kind === "dry_promote") {
      const dry = await sealed(1000n, true);
      const real = { ...dry, body: { ...dry.body, dry_run: false } };
      jobs.push({ kind, epochId, requests: [dry, real] });
    }
    if (kind === "conflict") {
      jobs.push({ kind, epochId, requests: [await sealed(1000n), await sealed(2000n)] });
    }
    if (kind === "quarantined") {
      const cid = await putInputs(d.dataDir, epochId, { poolMinor: 1000n, overflow: true });
      const p = d.overflowPolicy;
      jobs.push({
        kind,
        epochId,
        requests: [{
          body: { inputs_cid: cid, policy_id: p.policyId, policy_hash: p.policyHash },
          runKey: expectedRunKey(epochId, p.policyHash, cid),
        }],
      });
    }
  }
  const occurrencesMax = step === "after_run_write"
    ? jobs.filter((j) => j.kind === "dry_promote" || j.kind === "quarantined").length
    : commitsOf(jobs);
  return {
    seed,
    mode: step === undefined
      ? { kind: "sigkill", afterMs: Math.floor(rng() ** 2 * SIGKILL_AT_MS_MAX) } // skewed early
      : { kind: "hook", step, occurrence: 1 + Math.floor(rng() * Math.min(2, occurrencesMax)) },
    faults: pick(rng, FAULT_SCRIPTS),
    retry: rng() < 0.6,
    retryCopies: pick(rng, [1, 1, RETRY_COPIES_MAX]),
    jobs,
  };
}

interface Seen {
  /** Run keys the client saw acknowledged as committed (non-dry sealed 200). */
  committed: Set<string>;
  log: string[];
}

/**
 * Runs a job's requests in order, each as `copies` identical concurrent requests; false when
 * the service went away (crash) mid-way.
 */
async function drive(
  client: Client,
  job: Job,
  seen: Seen,
  phase: string,
  copies = 1,
): Promise<boolean> {
  for (const [i, req] of job.requests.entries()) {
    const answers = await Promise.all(
      Array.from({ length: copies }, async () => {
        // 503 (TIMEOUT/OVERLOADED on a loaded machine) leaves the outcome unknown: a real
        // client re-submits the same request, which must replay or compute it once.
        for (let attempt = 1;; attempt++) {
          const startedMs = Date.now();
          const a = await client.compute(job.epochId, req.body);
          seen.log.push(`  (${Date.now() - startedMs} ms)`);
          if (a.kind === "network" || a.status !== 503 || attempt >= UNAVAILABLE_RETRIES_MAX) {
            return a;
          }
          seen.log.push(`${phase} ${job.kind} ${job.epochId}#${i} → ${describe(a)} (re-sent)`);
          await sleep(POLL_MS);
        }
      }),
    );
    for (const a of answers) {
      seen.log.push(`${phase} ${job.kind} ${job.epochId}#${i} → ${describe(a)}`);
      if (a.kind === "network") return false;
      checkAnswer(job, i, req, a, seen);
    }
  }
  return true;
}

function describe(a: Answer): string {
  if (a.kind === "network") return `network(${a.reason})`;
  const j = a.json as Record<string, unknown> | undefined;
  const code = (j?.error as { code?: unknown } | undefined)?.code;
  return `${a.status} ${String(j?.emission ?? code ?? "")} replayed=${String(j?.replayed)}`;
}

function checkAnswer(
  job: Job,
  i: number,
  req: Job["requests"][number],
  a: Extract<Answer, { kind: "http" }>,
  seen: Seen,
): void {
  const j = a.json as Record<string, unknown>;
  const code = (j?.error as { code?: unknown } | undefined)?.code;
  const where = `${job.kind} ${job.epochId} request ${i}: ${a.status} ${a.text.slice(0, 300)}`;
  if (job.kind === "quarantined") {
    assert.equal(a.status, 409, where);
    assert.equal(code, "QUARANTINED", where);
    return;
  }
  if (job.kind === "conflict" && i === 1) {
    assert.equal(a.status, 409, where);
    assert.equal(code, "CONFLICT", where);
    return;
  }
  assert.equal(a.status, 200, where);
  assert.equal(j.run_key, req.runKey, where);
  assert.equal(j.status, "sealed", where);
  if (req.body.dry_run === true) {
    // A dry request on an already promoted run replays the committed record.
    assert.ok(j.emission === "dry_run" || j.dry_run === false, where);
  } else {
    assert.equal(j.dry_run, false, where);
    assert.ok(["pending", "accepted", "duplicate"].includes(String(j.emission)), where);
    seen.committed.add(req.runKey);
  }
}

async function getJson(client: Client, path: string): Promise<Extract<Answer, { kind: "http" }>> {
  const a = await client.get(path);
  assert.equal(a.kind, "http", `GET ${path} failed: ${JSON.stringify(a)}`);
  return a as Extract<Answer, { kind: "http" }>;
}

interface RunRow {
  run_key: string;
  epoch_id: string;
  status: string;
  dry_run: boolean;
  emission: string;
}

async function listRuns(client: Client): Promise<RunRow[]> {
  const a = await getJson(client, "/rewarder/runs?limit=100");
  assert.equal(a.status, 200, a.text);
  return (a.json as { runs: RunRow[] }).runs;
}

async function waitDrained(client: Client): Promise<RunRow[]> {
  const deadline = Date.now() + DRAIN_WAIT_MS;
  for (;;) {
    const runs = await listRuns(client);
    if (!runs.some((r) => r.emission === "pending")) return runs;
    if (Date.now() > deadline) {
      throw new Error(`outbox not drained within ${DRAIN_WAIT_MS} ms: ${JSON.stringify(runs)}`);
    }
    await sleep(POLL_MS);
  }
}

/** Byte snapshot of every committed run: run record + envelope, epoch envelope, replay answer. */
async function snapshot(client: Client, jobs: Job[], committed: Map<string, string>) {
  const out: Record<string, string> = {};
  for (const job of jobs) {
    const holder = committed.get(job.epochId);
    if (holder === undefined) continue;
    const run = await getJson(client, `/rewarder/runs/${holder}`);
    const epoch = await getJson(client, `/rewarder/epochs/${job.epochId}`);
    assert.equal(run.status, 200, run.text);
    assert.equal(epoch.status, 200, epoch.text);
    out[`run ${holder}`] = run.text;
    out[`epoch ${job.epochId}`] = epoch.text;
    const req = job.requests.find((r) => r.runKey === holder && r.body.dry_run !== true);
    assert.ok(req !== undefined, `the holder ${holder} of ${job.epochId} was never requested`);
    const replay = await client.compute(job.epochId, req.body);
    assert.equal(replay.kind, "http");
    const r = replay as Extract<Answer, { kind: "http" }>;
    assert.equal(r.status, 200, r.text);
    assert.equal((r.json as { replayed: boolean }).replayed, true, r.text);
    out[`replay ${holder}`] = r.text;
  }
  return out;
}

async function round(roundNo: number, seed: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "rw-crash-"));
  const dataDir = join(dir, "data");
  let ledger: Ledger | undefined;
  let service: Service | undefined;
  const seen: Seen = { committed: new Set(), log: [] };
  let plan: Plan | undefined;
  try {
    const d = await prepareDataDir(dataDir);
    plan = await makePlan(seed, roundNo, d);
    seen.log.push(`plan ${JSON.stringify({ ...plan, jobs: plan.jobs.map((j) => j.kind) })}`);
    ledger = await startLedger(dir, d.ledgerKeys);
    await ledger.faults(plan.faults);
    const env = {
      DATA_DIR: dataDir,
      LEDGER_URL: ledger.url,
      REQUEST_TIMEOUT_MS: SERVICE_REQUEST_TIMEOUT_MS,
    };

    // Phase 1: crash.
    const crashEnv = plan.mode.kind === "hook"
      ? {
        REWARDER_TEST_CRASH_AT: plan.mode.occurrence === 1
          ? plan.mode.step
          : `${plan.mode.step}#${plan.mode.occurrence}`,
      }
      : {};
    service = await startService({ ...env, ...crashEnv });
    let client = await createClient(service.url, d.capsKeysPath);
    const keys = await getJson(client, "/rewarder/keys");
    assert.deepEqual(
      (keys.json as { keys: { kid: string; alg: string; public_key: string }[] }).keys.map((
        k,
      ) => ({ kid: k.kid, alg: k.alg, public_key: k.public_key })),
      d.ledgerKeys.keys,
      "the dev ledger trusts exactly the published keys",
    );
    const first = service;
    const killer = plan.mode.kind === "sigkill"
      ? sleep(plan.mode.afterMs).then(() => first.child.kill("SIGKILL"))
      : Promise.resolve();
    for (const job of plan.jobs) {
      if (!(await drive(client, job, seen, "p1"))) break;
    }
    await killer;
    const crashed = await Promise.race([
      first.child.exited,
      sleep(CRASH_WAIT_MS).then(() => undefined),
    ]);
    assert.ok(crashed !== undefined, `the service did not crash within ${CRASH_WAIT_MS} ms`);
    assert.equal(crashed.code, 137, `crash exit code\n${first.child.output()}`);
    seen.log.push(`p1 exit ${crashed.code} ${crashed.signal ?? ""}`);

    // Phase 2: restart without the crash hook; maybe re-submit; drain.
    service = await startService(env);
    client = await createClient(service.url, d.capsKeysPath);
    if (plan.retry) {
      for (const job of plan.jobs) {
        assert.ok(
          await drive(client, job, seen, "p2", plan.retryCopies),
          "the restarted service must not die",
        );
      }
    }
    const runs = await waitDrained(client);

    // The committed epochs, as the service tells them.
    const committed = new Map<string, string>();
    for (const job of plan.jobs) {
      const a = await getJson(client, `/rewarder/epochs/${job.epochId}`);
      if (a.status === 404) continue;
      assert.equal(a.status, 200, a.text);
      const holder = (a.json as { manifest: { run_key: string } }).manifest.run_key;
      assert.ok(
        job.requests.some((r) => r.runKey === holder),
        `${job.epochId} committed to a run key nobody requested`,
      );
      committed.set(job.epochId, holder);
    }
    const committedKeys = new Set(committed.values());
    for (const job of plan.jobs) {
      const holder = committed.get(job.epochId);
      if (job.kind === "quarantined") {
        assert.equal(holder, undefined, `quarantined ${job.epochId} must not commit`);
      }
      if (job.kind === "conflict") {
        assert.ok(holder === undefined || holder === job.requests[0]!.runKey, "first one wins");
      }
      if (plan.retry && job.kind !== "quarantined") {
        assert.ok(holder !== undefined, `${job.epochId} re-submitted but not committed`);
      }
    }
    for (const key of seen.committed) {
      assert.ok(committedKeys.has(key), `acknowledged run ${key} lost its commitment`);
    }
    // Nothing lost, nothing doubled: the ledger applied exactly the committed runs.
    const stats = await ledger.stats();
    seen.log.push(`ledger ${JSON.stringify(stats)}`);
    assertAppliedExactly(stats, committedKeys);
    for (const r of runs) {
      if (committedKeys.has(r.run_key)) {
        assert.ok(r.emission === "accepted" || r.emission === "duplicate", JSON.stringify(r));
      } else {
        assert.ok(r.emission === "dry_run" || r.emission === "suppressed", JSON.stringify(r));
      }
    }

    // Phase 3: replays byte-identical across a clean restart, and nothing resent.
    const before = await snapshot(client, plan.jobs, committed);
    const stopped = await service.child.stop();
    assert.equal(stopped.code, 0, `clean stop\n${service.child.output()}`);
    service = await startService(env);
    client = await createClient(service.url, d.capsKeysPath);
    await sleep(SETTLE_MS);
    const after = await snapshot(client, plan.jobs, committed);
    assert.deepEqual(after, before, "replays must be byte-identical across a restart");
    const statsAfter = await ledger.stats();
    assert.deepEqual(statsAfter, stats, "an acknowledged intent must not be resent");
    return `round ${roundNo} seed ${seed}: ${
      plan.mode.kind === "hook"
        ? `${plan.mode.step}#${plan.mode.occurrence}`
        : `sigkill@${plan.mode.afterMs}ms`
    } jobs=${plan.jobs.map((j) => j.kind).join(",")} ` +
      `faults=${
        plan.faults.join(",") || "-"
      } retry=${plan.retry}x${plan.retryCopies} committed=${committedKeys.size} ` +
      `deliveries=${stats.deliveries}`;
  } catch (err) {
    const base = seed - roundNo;
    const msg = `crash round ${roundNo} failed — reproduce with CRASH_SEED=${base} ` +
      `(this round alone: CRASH_SEED=${base} CRASH_FIRST_ROUND=${roundNo} CRASH_ROUNDS=1)\n` +
      `${seen.log.join("\n")}\n--- service output ---\n${service?.child.output() ?? ""}`;
    console.error(msg);
    throw err;
  } finally {
    if (service && !service.child.exitedYet()) await service.child.stop();
    if (ledger) await ledger.child.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

Deno.test({
  name: `crash/restart: ${ROUNDS} seeded rounds (CRASH_SEED=${BASE_SEED})`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const summaries: string[] = [];
    let next = 0;
    async function worker() {
      while (next < ROUNDS) {
        const i = next++;
        const r = FIRST_ROUND + i;
        summaries[i] = await round(r, BASE_SEED + r);
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, PARALLEL_ROUNDS) }, worker));
    console.log(summaries.join("\n"));
    assert.equal(summaries.filter(Boolean).length, ROUNDS);
  },
});

Deno.test({
  name: "crash hook: fires when asked, refused with PRODUCTION=on, unknown steps refuse to start",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await mkdtemp(join(tmpdir(), "rw-crashhook-"));
    const dataDir = join(dir, "data");
    try {
      const d = await prepareDataDir(dataDir);
      const keys = join(dataDir, "keys");
      const explicit = {
        DATA_DIR: dataDir,
        CAPS_KEYS_PATH: join(keys, "caps.json"),
        SIGNING_KEYS_DIR: join(keys, "signing"),
        GOV_KEYS_PATH: join(keys, "gov.json"),
        AT_REST_KEY_PATH: join(keys, "at-rest.key"),
        REWARDER_TEST_CRASH_AT: "after_commit",
      };
      const body = async (epochId: string) => ({
        inputs_cid: await putInputs(dataDir, epochId, { poolMinor: 1000n, overflow: false }),
        policy_id: d.sealedPolicy.policyId,
        policy_hash: d.sealedPolicy.policyHash,
      });

      // Control: the same setup without PRODUCTION dies at the commit.
      const dev = await startService(explicit);
      const died = await (await createClient(dev.url, d.capsKeysPath)).compute(
        "hook-dev",
        await body("hook-dev"),
      );
      assert.equal(died.kind, "network", JSON.stringify(died));
      assert.equal((await dev.child.exited).code, 137);

      // Production ignores the hook: the commit answers and the process lives on.
      const prod = await startService({ ...explicit, PRODUCTION: "on" });
      try {
        const client = await createClient(prod.url, d.capsKeysPath);
        const a = await client.compute("hook-prod", await body("hook-prod"));
        assert.equal(a.kind === "http" ? a.status : a.kind, 200, JSON.stringify(a));
        await sleep(SETTLE_MS);
        assert.equal(prod.child.exitedYet(), false, "production must not crash on the hook");
      } finally {
        assert.equal((await prod.child.stop()).code, 0);
      }

      // A misspelt step must not silently never crash.
      const typo = await startService({ ...explicit, REWARDER_TEST_CRASH_AT: "after_comit" }).then(
        async (s) => {
          await s.child.stop();
          return "started";
        },
        (err: Error) => err.message,
      );
      assert.match(typo, /REWARDER_TEST_CRASH_AT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
});
