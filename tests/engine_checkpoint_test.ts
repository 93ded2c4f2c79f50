/**
 * The pipeline's checkpoint (src/core/checkpoint.ts) is called inside the long loops, not
 * only between phases, and changes no byte of the manifest.
 */
import assert from "node:assert/strict";
import { CHECKPOINT_EVERY } from "../src/core/checkpoint.ts";
import { computeManifest } from "../src/core/compute.ts";
import { parsePolicy, policyHashOf } from "../src/core/policy.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../vectors/generate_epoch.ts";

const RECIPIENTS = 20_000;
const parsed = parsePolicy(GENERATED_POLICY);
if (!parsed.ok) throw new Error("generated policy does not parse");
const policy = parsed.value.policy;
const policyHash = policyHashOf(GENERATED_POLICY);
const inputsBytes = new TextEncoder().encode(generateEpochInputs("cp-20k", RECIPIENTS));

function run(checkpoint?: () => void) {
  return computeManifest({
    epochId: "cp-20k",
    inputsBytes,
    policy,
    policyHash,
    ...(checkpoint === undefined ? {} : { checkpoint }),
  });
}

class Stop extends Error {}

Deno.test("checkpoint: called within the loops (not only at the 3 phase boundaries); same manifest bytes", () => {
  let calls = 0;
  const checked = run(() => void calls++);
  const plain = run();
  if (!checked.ok || !plain.ok) throw new Error("compute failed");
  assert.deepEqual(checked.value.manifestHash, plain.value.manifestHash);
  assert.deepEqual(checked.value.manifest, plain.value.manifest);
  // Entries loop, sort, scoring, apportioning and payouts each pass RECIPIENTS / 4,096 marks.
  const perLoop = Math.ceil(RECIPIENTS / CHECKPOINT_EVERY);
  assert.ok(calls >= 5 * perLoop, `only ${calls} checkpoint calls`);
});

Deno.test("checkpoint: a throw at any call abandons the run with that very error", () => {
  let total = 0;
  run(() => void total++);
  // Every call site, from the hashing of the inputs to the manifest's leaves, can stop the run.
  for (const stopAt of [1, 2, Math.floor(total / 3), Math.floor((2 * total) / 3), total]) {
    let calls = 0;
    assert.throws(
      () =>
        run(() => {
          if (++calls === stopAt) throw new Stop();
        }),
      Stop,
    );
    assert.deepEqual(calls, stopAt);
  }
});
