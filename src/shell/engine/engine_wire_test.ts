import assert from "node:assert/strict";
import { GENERATED_POLICY, generateEpochInputs } from "../../../vectors/generate_epoch.ts";
import { cidOf } from "../../core/cid.ts";
import { type EngineAnswer, runEngineJob } from "./engine_worker.ts";
import { fromWire, toWire } from "./engine_wire.ts";

const POLICY_HASH = `b3:${"0".repeat(64)}`;

async function answerFor(inputs: string, epochId: string): Promise<EngineAnswer> {
  const bytes = new TextEncoder().encode(inputs);
  return await runEngineJob({
    id: 7,
    epochId,
    inputs: { kind: "bytes", bytes },
    expectedInputsCid: cidOf(bytes),
    policyDocument: GENERATED_POLICY,
    policyHash: POLICY_HASH,
    salt: "",
  });
}

Deno.test("engine wire: a computed output crosses as JSON text and comes back deep-equal", async () => {
  const answer = await answerFor(generateEpochInputs("wire-1", 2_000), "wire-1");
  assert.ok(answer.ok);
  const wire = toWire(answer);
  assert.ok(wire.ok && "json" in wire, "a success is posted as text, not as the object graph");
  assert.equal(typeof wire.json, "string");
  // What crosses is what a structured clone would give (a worker's postMessage).
  const back = fromWire(structuredClone(wire));
  assert.deepStrictEqual(back, structuredClone(answer));
  assert.ok(back.ok);
  assert.equal(back.value.manifest.payouts.length, answer.value.manifest.payouts.length);
});

Deno.test("engine wire: a failure crosses as it is; an object answer is taken as it is", async () => {
  const failed = await answerFor("{", "wire-2");
  assert.equal(failed.ok, false);
  assert.deepStrictEqual(fromWire(structuredClone(toWire(failed))), failed);
  const ok = await answerFor(generateEpochInputs("wire-3", 10), "wire-3");
  assert.deepStrictEqual(fromWire(ok), ok);
});
