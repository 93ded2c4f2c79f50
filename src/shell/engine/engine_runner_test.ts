/**
 * The real pool over real workers (the pool's logic is covered with fake threads in
 * engine_pool_test.ts): same bytes as inline, inputs read by the worker from a file, and a
 * running job cancelled on one worker leaves the job running on the other untouched.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { canonicalJson } from "../../core/canonical_json.ts";
import { cidOf } from "../../core/cid.ts";
import { computeManifest } from "../../core/compute.ts";
import { RewarderError } from "../../core/errors.ts";
import { parsePolicy, policyHashOf } from "../../core/policy.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../../../vectors/generate_epoch.ts";
import type { EngineObserver } from "./engine_pool.ts";
import { createEngineRunner } from "./engine_runner.ts";

const dir = new URL("../../../vectors/cases/rustyonions-interop/", import.meta.url);
const SALT = "svc-rewarder|v1";

Deno.test("engine runner: a job sent right after start is answered by a worker, same bytes as inline", async () => {
  const inputs = new Uint8Array(await readFile(new URL("inputs.json", dir)));
  const policyDocument = JSON.parse(await readFile(new URL("policy.json", dir), "utf8"));
  const policyHash = policyHashOf(policyDocument);
  const parsed = parsePolicy(policyDocument);
  assert.ok(parsed.ok);
  const inline = computeManifest({
    epochId: "interop-epoch-1",
    inputsBytes: inputs,
    policy: parsed.value.policy,
    policyHash,
  });
  assert.ok(inline.ok);
  const runner = createEngineRunner({ workersMax: 1 });
  // A safety bound, not a speed claim: a cold worker start took over 20 s on this 2-core machine
  // at load average ~20 (the fact checked is that the job is answered, by a worker).
  const ctx = { tenant: "t", signal: AbortSignal.timeout(120_000) };
  try {
    const job = {
      epochId: "interop-epoch-1",
      inputs: { kind: "bytes" as const, bytes: inputs.slice() },
      expectedInputsCid: inline.value.inputsCid,
      policyDocument,
      policyHash,
      salt: SALT,
    };
    const out = await runner.run(job, ctx); // immediately: no warm-up wait
    assert.equal(canonicalJson(out.manifest), canonicalJson(inline.value.manifest));
    await assert.rejects(
      runner.run({
        ...job,
        inputs: { kind: "bytes", bytes: inputs.slice() },
        expectedInputsCid: "b3:" + "0".repeat(64),
      }, ctx),
      (err: RewarderError) => err.reason === "cid_mismatch" && err.code === "BAD_REQUEST",
    );
    // A store file is read by the worker; bytes that do not hash to their name are the
    // store's corruption, never the client's cid_mismatch.
    const tmp = await Deno.makeTempDir();
    const path = join(tmp, "obj");
    await writeFile(path, inputs);
    const fromFile = await runner.run({
      ...job,
      inputs: { kind: "file", path, sizeBytes: inputs.length },
    }, ctx);
    assert.equal(fromFile.manifestHash, inline.value.manifestHash);
    await assert.rejects(
      runner.run({
        ...job,
        inputs: { kind: "file", path, sizeBytes: inputs.length },
        expectedInputsCid: "b3:" + "0".repeat(64),
      }, ctx),
      (err: RewarderError) => err.reason === "store_corrupt" && err.code === "INTERNAL",
    );
    await assert.rejects(
      runner.run({ ...job, inputs: { kind: "file", path, sizeBytes: 1 } }, ctx),
      (err: RewarderError) => err.reason === "store_corrupt",
      "a file whose size changed since the cost guard judged it",
    );
    await Deno.remove(tmp, { recursive: true });
  } finally {
    runner.close();
  }
});

Deno.test("engine runner (real workers): cancelling the running job A stops only A; B on the other worker and the queued C complete", async () => {
  const policyHash = policyHashOf(GENERATED_POLICY);
  let onStarted: () => void = () => {};
  let startedCount = 0;
  const observer: EngineObserver = {
    queue() {},
    started() {
      startedCount++;
      onStarted();
    },
    cancelled() {},
    replaced() {},
    workers() {},
  };
  const runner = createEngineRunner({ workersMax: 2, observer });
  const twoStarted = new Promise<void>((resolve) => {
    onStarted = () => {
      if (startedCount === 2) resolve();
    };
  });
  const job = (epochId: string, n: number) => {
    const bytes = new TextEncoder().encode(generateEpochInputs(epochId, n));
    return {
      epochId,
      inputs: { kind: "bytes" as const, bytes },
      expectedInputsCid: cidOf(bytes),
      policyDocument: GENERATED_POLICY,
      policyHash,
      salt: SALT,
    };
  };
  try {
    const abortA = new AbortController();
    const long = AbortSignal.timeout(60_000);
    const a = runner.run(job("big-a", 300_000), { tenant: "attacker", signal: abortA.signal });
    const b = runner.run(job("mid-b", 50_000), { tenant: "honest", signal: long });
    const c = runner.run(job("small-c", 10), { tenant: "honest", signal: long });
    await twoStarted; // A and B hold both workers; C waits in the queue
    abortA.abort(new RewarderError("TIMEOUT", "client_gone"));
    await assert.rejects(a, (err: RewarderError) => err.reason === "client_gone");
    const [outB, outC] = await Promise.all([b, c]);
    assert.equal(outB.manifest.epoch_id, "mid-b");
    assert.equal(outC.manifest.epoch_id, "small-c");
    // A stops at its next checkpoint (its worker stays), or past the grace its worker alone
    // is replaced.
    assert.ok(runner.replacements() <= 1);
  } finally {
    runner.close();
  }
});

/** Nice values of this process's threads, from /proc (Linux), by thread id. */
async function threadNices(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for await (const e of Deno.readDir("/proc/self/task")) {
    const stat = await Deno.readTextFile(`/proc/self/task/${e.name}/stat`).catch(() => "");
    if (stat === "") continue; // the thread ended meanwhile
    // Fields after "(comm)": state is field 3; nice is field 19 (index 16 from state).
    out.set(Number(e.name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
  }
  return out;
}

Deno.test({
  name:
    "engine runner: a general worker's thread runs at ENGINE_NICE, the express worker's and the request loop's at 0 (Linux)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const inputs = new Uint8Array(await readFile(new URL("inputs.json", dir)));
    const policyDocument = JSON.parse(await readFile(new URL("policy.json", dir), "utf8"));
    const policyHash = policyHashOf(policyDocument);
    const before = await threadNices();
    const runner = createEngineRunner({
      workersMax: 1,
      workerNice: 7,
      // Nothing is small enough for the express worker: the job runs on a general worker.
      expressJobBytesMax: 1,
    });
    const ctx = { tenant: "t", signal: AbortSignal.timeout(120_000) };
    try {
      await runner.run({
        epochId: "interop-epoch-1",
        inputs: { kind: "bytes", bytes: inputs.slice() },
        expectedInputsCid: cidOf(inputs),
        policyDocument,
        policyHash,
        salt: SALT,
      }, ctx);
      const after = await threadNices();
      const niced = [...after].filter(([tid, nice]) => !before.has(tid) && nice === 7);
      assert.equal(niced.length, 1, `one thread at nice 7: ${JSON.stringify([...after])}`);
      assert.equal(after.get(Deno.pid), 0, "the request loop keeps nice 0");
      assert.ok(
        [...after].every(([, nice]) => nice === 0 || nice === 7),
        "no other thread changed",
      );
    } finally {
      runner.close();
    }
  },
});
