/**
 * The pool's scheduling and cancelling over fake threads (no workers, no timers): each fake
 * records the jobs posted to it and answers when the test says so.
 */
import assert from "node:assert/strict";
import type { ComputeOutput } from "../../core/compute.ts";
import { RewarderError } from "../../core/errors.ts";
import { createEnginePool, type EngineObserver, type EngineRunJob } from "./engine_pool.ts";
import type { EngineThreadEvents } from "./engine_thread.ts";
import type { EngineJob } from "./engine_worker.ts";

interface Fake {
  n: number;
  events: EngineThreadEvents;
  posted: EngineJob[];
  current: EngineJob | undefined;
  terminated: boolean;
  /** Answers the job it runs. */
  finish(): void;
}

function harness(
  workersMax: number,
  limits: { queue?: number; tenant?: number; graceMs?: number; expressBytes?: number } = {},
) {
  const fakes: Fake[] = [];
  const log: string[] = [];
  let onReplaced: () => void = () => {};
  const replacedOnce = new Promise<void>((resolve) => (onReplaced = resolve));
  const observer: EngineObserver = {
    queue: (d, t, m) => log.push(`queue ${d}/${t}/${m}`),
    started: () => {},
    cancelled: (state, reason) => log.push(`cancelled ${state} ${reason}`),
    replaced: (cause) => {
      log.push(`replaced ${cause}`);
      onReplaced();
    },
    workers: () => {},
  };
  const pool = createEnginePool({
    workersMax,
    observer,
    cancelGraceMs: limits.graceMs ?? 60_000,
    // No express worker unless a test is about it: the general workers' scheduling alone.
    expressJobBytesMax: limits.expressBytes ?? 0,
    ...(limits.queue === undefined ? {} : { queueJobsMax: limits.queue }),
    ...(limits.tenant === undefined ? {} : { tenantQueueJobsMax: limits.tenant }),
    spawn(events) {
      const fake: Fake = {
        n: fakes.length,
        events,
        posted: [],
        current: undefined,
        terminated: false,
        finish() {
          const job = fake.current!;
          fake.current = undefined;
          if (job.cancel !== undefined && Atomics.load(job.cancel, 0) === job.id) {
            // What the worker answers when it stops at a checkpoint.
            events.answer({ id: job.id, ok: false, code: "TIMEOUT", reason: "timeout" });
            return;
          }
          events.answer({ id: job.id, ok: true, value: { runKey: job.epochId } as ComputeOutput });
        },
      };
      fakes.push(fake);
      return {
        post: (job) => {
          assert.equal(fake.current, undefined, "one job per worker at a time");
          fake.posted.push(job);
          fake.current = job;
        },
        terminate: () => (fake.terminated = true),
      };
    },
  });
  const job = (epochId: string, inputsBytes = 1): EngineRunJob => ({
    epochId,
    inputs: { kind: "bytes", bytes: new Uint8Array(inputsBytes) },
    expectedInputsCid: "b3:" + "0".repeat(64),
    policyDocument: {},
    policyHash: "b3:" + "0".repeat(64),
    salt: "s",
  });
  /** The fake currently running the job of `epochId`. */
  const runningOn = (epochId: string) =>
    fakes.find((f) => !f.terminated && f.current?.epochId === epochId);
  return { pool, fakes, log, job, runningOn, replacedOnce };
}

const forever = () => new AbortController().signal;

Deno.test("engine pool: workersMax workers plus one warm spare; jobs wait until a worker is ready", async () => {
  const { pool, fakes, job } = harness(2);
  assert.equal(fakes.length, 3, "2 workers + 1 spare");
  const a = pool.run(job("a"), { tenant: "t", signal: forever() });
  assert.equal(fakes.flatMap((f) => f.posted).length, 0, "no worker ready yet");
  fakes[0]!.events.ready();
  assert.equal(fakes[0]!.posted[0]?.epochId, "a");
  fakes[0]!.finish();
  assert.equal((await a).runKey, "a");
  pool.close();
});

Deno.test("engine pool: never more than workersMax jobs at once, the spare stays idle", () => {
  const { pool, fakes, job } = harness(1);
  for (const f of fakes) f.events.ready();
  const runs = ["a", "b", "c"].map((e) =>
    pool.run(job(e), { tenant: "t", signal: forever() }).catch(() => {})
  );
  assert.equal(fakes.flatMap((f) => f.posted).length, 1);
  pool.close();
  return Promise.all(runs).then(() => {});
});

Deno.test("engine pool: cancelling running A affects neither B on the other worker nor queued C; A's worker stops at a checkpoint and stays warm", async () => {
  const { pool, fakes, log, job, runningOn } = harness(2);
  for (const f of fakes) f.events.ready();
  const ctrlA = new AbortController();
  const a = pool.run(job("a"), { tenant: "attacker", signal: ctrlA.signal });
  const b = pool.run(job("b"), { tenant: "honest", signal: forever() });
  const c = pool.run(job("c"), { tenant: "honest", signal: forever() });
  const onA = runningOn("a")!;
  const onB = runningOn("b")!;
  assert.notEqual(onA, onB);
  assert.equal(runningOn("c"), undefined, "C waits: 2 jobs at most");
  const jobA = onA.current!;
  ctrlA.abort(new RewarderError("TIMEOUT", "client_gone"));
  await assert.rejects(a, (err: RewarderError) => err.reason === "client_gone");
  assert.equal(Atomics.load(jobA.cancel!, 0), jobA.id, "A's worker is told to stop A");
  assert.equal(fakes.some((f) => f.terminated), false, "no worker terminated");
  const onC = runningOn("c")!;
  assert.ok(onC !== undefined && onC !== onA && onC !== onB, "the warm spare runs C at once");
  onA.finish(); // A's worker reaches its checkpoint
  const d = pool.run(job("d"), { tenant: "other", signal: forever() });
  assert.equal(runningOn("d"), undefined, "2 jobs run (B, C): D waits");
  onB.finish();
  assert.equal((await b).runKey, "b");
  assert.ok(runningOn("d") !== undefined, "then D runs");
  onC.finish();
  assert.equal((await c).runKey, "c");
  runningOn("d")!.finish();
  assert.equal((await d).runKey, "d");
  assert.equal(fakes.length, 3, "no worker started beyond the first three");
  assert.ok(log.includes("cancelled running client_gone"));
  assert.equal(pool.replacements(), 0);
  pool.close();
});

Deno.test("engine pool: a cancelled job's worker that does not reach a checkpoint in time is terminated and replaced; B and C are untouched", async () => {
  const { pool, fakes, job, runningOn, replacedOnce } = harness(2, { graceMs: 0 });
  for (const f of fakes) f.events.ready();
  const ctrlA = new AbortController();
  const a = pool.run(job("a"), { tenant: "attacker", signal: ctrlA.signal });
  const b = pool.run(job("b"), { tenant: "honest", signal: forever() });
  const c = pool.run(job("c"), { tenant: "honest", signal: forever() });
  const onA = runningOn("a")!;
  ctrlA.abort(new RewarderError("TIMEOUT", "timeout"));
  await assert.rejects(a, (err: RewarderError) => err.reason === "timeout");
  await replacedOnce; // the grace passed: A's worker only
  assert.equal(onA.terminated, true);
  assert.equal(fakes.filter((f) => f.terminated).length, 1);
  assert.equal(fakes.length, 4, "a new spare is starting");
  runningOn("b")!.finish();
  runningOn("c")!.finish();
  assert.equal((await b).runKey, "b");
  assert.equal((await c).runKey, "c");
  assert.equal(pool.replacements(), 1);
  pool.close();
});

Deno.test("engine pool: a queued job cancelled by its deadline leaves the queue; no worker is touched", async () => {
  const { pool, fakes, log, job, runningOn } = harness(1);
  for (const f of fakes) f.events.ready();
  const a = pool.run(job("a"), { tenant: "t", signal: forever() });
  const ctrl = new AbortController();
  const b = pool.run(job("b"), { tenant: "t", signal: ctrl.signal });
  const c = pool.run(job("c"), { tenant: "u", signal: forever() });
  ctrl.abort(new RewarderError("TIMEOUT", "timeout"));
  await assert.rejects(b, (err: RewarderError) => err.reason === "timeout");
  assert.ok(log.includes("cancelled queued deadline"));
  assert.equal(fakes.some((f) => f.terminated), false);
  const onA = runningOn("a")!;
  onA.finish();
  assert.equal((await a).runKey, "a");
  const onC = runningOn("c")!;
  assert.deepEqual(onC.posted.map((j) => j.epochId).includes("b"), false, "B never ran");
  onC.finish();
  assert.equal((await c).runKey, "c");
  pool.close();
});

Deno.test("engine pool: a worker's crash fails only its own job; the others go on", async () => {
  const { pool, fakes, job, runningOn } = harness(2);
  for (const f of fakes) f.events.ready();
  const a = pool.run(job("a"), { tenant: "t", signal: forever() });
  const b = pool.run(job("b"), { tenant: "u", signal: forever() });
  runningOn("a")!.events.crashed("out of memory");
  await assert.rejects(a, (err: RewarderError) => err.reason === "engine");
  const onB = runningOn("b")!;
  onB.finish();
  assert.equal((await b).runKey, "b");
  pool.close();
});

Deno.test("engine pool: the queue is fair across tenants and bounded (503 OVERLOADED with Retry-After)", async () => {
  const { pool, fakes, job, runningOn } = harness(1, { queue: 4, tenant: 3 });
  for (const f of fakes) f.events.ready();
  const order: string[] = [];
  const all: Promise<unknown>[] = [];
  const go = (tenant: string, e: string) => {
    const p = pool.run(job(e), { tenant, signal: forever() });
    all.push(p.then(() => order.push(e), () => {}));
    return p;
  };
  go("attacker", "a0"); // runs
  go("attacker", "a1");
  go("attacker", "a2");
  go("attacker", "a3");
  await assert.rejects(
    go("attacker", "a4"),
    (err: RewarderError) =>
      err.code === "OVERLOADED" && err.reason === "engine_tenant_queue" && err.retryAfterS! > 0,
  );
  go("honest", "h1");
  await assert.rejects(
    go("third", "x1"),
    (err: RewarderError) => err.reason === "engine_queue" && err.retryAfterS! > 0,
  );
  for (let i = 0; i < 5; i++) {
    const f = fakes.find((x) => x.posted.length > 0 && runningOn(x.posted.at(-1)!.epochId) === x)!;
    f.finish();
    await Promise.resolve();
  }
  await Promise.all(all);
  assert.deepEqual(order, ["a0", "a1", "h1", "a2", "a3"], "honest served after one attacker job");
  pool.close();
});

Deno.test("engine pool: workers that never start stop being replaced and waiting jobs are answered", async () => {
  const { pool, fakes, job } = harness(1);
  const a = pool.run(job("a"), { tenant: "t", signal: forever() });
  for (let i = 0; i < 10 && fakes.some((f) => !f.terminated); i++) {
    fakes.find((f) => !f.terminated)!.events.crashed("module not found");
  }
  assert.ok(fakes.length <= 2 + 3, `bounded restarts: ${fakes.length} spawned`);
  await assert.rejects(a, (err: RewarderError) => err.reason === "engine");
  await assert.rejects(
    pool.run(job("b"), { tenant: "t", signal: forever() }),
    (err: RewarderError) => err.reason === "engine",
  );
  pool.close();
});

Deno.test("engine pool: a small job runs on the express worker while big jobs hold every general worker; the express worker never takes a big one", async () => {
  const { pool, fakes, job, runningOn } = harness(1, { expressBytes: 10 });
  assert.equal(fakes.length, 3, "1 worker + 1 spare + the express worker");
  for (const f of fakes) f.events.ready();
  const big = (e: string, tenant: string) => pool.run(job(e, 11), { tenant, signal: forever() });
  const small = (e: string, tenant: string) => pool.run(job(e, 10), { tenant, signal: forever() });
  const a = big("a", "attacker");
  const b = big("b", "attacker");
  const onA = runningOn("a")!;
  assert.equal(runningOn("b"), undefined, "one general job at a time");
  const h = small("h", "honest");
  const onH = runningOn("h");
  assert.ok(onH !== undefined && onH !== onA, "the small job runs at once, beside A");
  const h2 = small("h2", "honest");
  assert.equal(runningOn("h2"), undefined, "one express job at a time");
  onH.finish();
  assert.equal((await h).runKey, "h");
  assert.equal(runningOn("h2"), onH, "the next small job takes the express worker");
  onH.finish();
  assert.equal((await h2).runKey, "h2");
  assert.equal(runningOn("b"), undefined, "B is big: it waits for the general worker");
  onA.finish();
  assert.equal((await a).runKey, "a");
  const onB = runningOn("b")!;
  assert.notEqual(onB, onH);
  onB.finish();
  assert.equal((await b).runKey, "b");
  assert.equal(
    onH.posted.every((j) => j.inputs.kind === "bytes" && j.inputs.bytes.length <= 10),
    true,
  );
  pool.close();
});

Deno.test("engine pool: a small job takes a free general worker too, and the express worker alone never runs big work", async () => {
  const { pool, fakes, job, runningOn } = harness(1, { expressBytes: 10 });
  for (const f of fakes) f.events.ready();
  const s1 = pool.run(job("s1", 1), { tenant: "t", signal: forever() });
  const s2 = pool.run(job("s2", 1), { tenant: "t", signal: forever() });
  const on1 = runningOn("s1")!;
  const on2 = runningOn("s2")!;
  assert.ok(on1 !== undefined && on2 !== undefined && on1 !== on2, "both small jobs run at once");
  on1.finish();
  on2.finish();
  await Promise.all([s1, s2]);
  pool.close();
});
