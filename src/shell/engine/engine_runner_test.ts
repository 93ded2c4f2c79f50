import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { canonicalJson } from "../../core/canonical_json.ts";
import { computeManifest } from "../../core/compute.ts";
import { parsePolicy, policyHashOf } from "../../core/policy.ts";
import { createEngineRunner } from "./engine_runner.ts";

const dir = new URL("../../../vectors/cases/rustyonions-interop/", import.meta.url);

Deno.test("engine runner: a job sent right after start is answered by the worker, same bytes as inline", async () => {
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
  const runner = createEngineRunner({ useWorker: true });
  try {
    const job = {
      epochId: "interop-epoch-1",
      inputsBytes: inputs.slice(),
      expectedInputsCid: inline.value.inputsCid,
      policyDocument,
      policyHash,
      salt: "svc-rewarder|v1",
    };
    const out = await runner.run(job, AbortSignal.timeout(20_000)); // immediately: no warm-up wait
    assert.equal(canonicalJson(out.manifest), canonicalJson(inline.value.manifest));
    await assert.rejects(
      runner.run(
        { ...job, inputsBytes: inputs.slice(), expectedInputsCid: "b3:" + "0".repeat(64) },
        AbortSignal.timeout(20_000),
      ),
      (err: Error & { reason?: string }) => err.reason === "cid_mismatch",
    );
  } finally {
    runner.close();
  }
});

Deno.test("engine runner: a job past its deadline replaces the worker; the next job still runs", async () => {
  const { generateEpochInputs, GENERATED_POLICY } = await import(
    "../../../vectors/generate_epoch.ts"
  );
  const policyHash = policyHashOf(GENERATED_POLICY);
  const runner = createEngineRunner({ useWorker: true });
  try {
    const big = new TextEncoder().encode(generateEpochInputs("slow", 300_000));
    const late = runner.run({
      epochId: "slow",
      inputsBytes: big,
      expectedInputsCid: "b3:" + "0".repeat(64), // never reached: the deadline comes first
      policyDocument: GENERATED_POLICY,
      policyHash,
      salt: "svc-rewarder|v1",
    }, AbortSignal.timeout(30));
    await assert.rejects(late);
    assert.equal(runner.restarts(), 1);
    const small = new TextEncoder().encode(generateEpochInputs("next", 10));
    const out = await runner.run({
      epochId: "next",
      inputsBytes: small,
      expectedInputsCid: (await import("../../core/cid.ts")).cidOf(small),
      policyDocument: GENERATED_POLICY,
      policyHash,
      salt: "svc-rewarder|v1",
    }, AbortSignal.timeout(20_000));
    assert.equal(out.manifest.epoch_id, "next");
  } finally {
    runner.close();
  }
});
