/**
 * `computeManifestHashedAside` (the CID computed by the caller while the inputs are parsed)
 * gives what `computeManifest` gives: the same manifest, and the same error in the same
 * order of precedence (a CID mismatch before a fault of the inputs).
 */
import assert from "node:assert/strict";
import { cidOf } from "./cid.ts";
import { computeManifest, computeManifestHashedAside } from "./compute.ts";
import { parsePolicy, policyHashOf } from "./policy.ts";

const POLICY_DOC = {
  schema: "svc-rewarder.policy.v1",
  policy_id: "p",
  version: 1,
  asset: "roc",
  funding_source: "protocol_pool",
  pool: { source: "inputs" },
  score: [{ metric: "x", mul: "1", div: "1" }],
  allocation: "largest_remainder",
};

function input(text: string, expectedInputsCid?: string) {
  const parsed = parsePolicy(POLICY_DOC);
  assert.ok(parsed.ok);
  return {
    epochId: "e-1",
    inputsBytes: new TextEncoder().encode(text),
    policy: parsed.value.policy,
    policyHash: policyHashOf(POLICY_DOC),
    ...(expectedInputsCid === undefined ? {} : { expectedInputsCid }),
  };
}

const GOOD =
  '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e-1","asset":"roc","pool_minor":"10",' +
  '"entries":[{"account":"a","metrics":{"x":"1"}},{"account":"b","metrics":{"x":"2"}}]}';
const BAD = GOOD.replace('"x":"2"', '"x":"02"');

Deno.test("hashed aside = computed inline: manifests, errors and their precedence", async () => {
  const cases = [
    input(GOOD),
    input(GOOD, cidOf(new TextEncoder().encode(GOOD))),
    input(GOOD, "b3:" + "0".repeat(64)),
    input(BAD),
    input(BAD, "b3:" + "0".repeat(64)),
    input(GOOD.replace('"e-1"', '"e-2"')),
  ];
  for (const c of cases) {
    const inline = computeManifest(c);
    const aside = await computeManifestHashedAside(c, Promise.resolve(cidOf(c.inputsBytes)));
    assert.deepEqual(aside, inline);
  }
  const mismatch = await computeManifestHashedAside(
    input(BAD, "b3:" + "0".repeat(64)),
    Promise.resolve(cidOf(new TextEncoder().encode(BAD))),
  );
  assert.ok(!mismatch.ok && mismatch.error.reason === "cid_mismatch");
});
