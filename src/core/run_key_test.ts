/**
 * The run key and its branded parts (contract §1, §5): the options object and the brands make
 * a swapped or unchecked argument a compile error; the checked constructors refuse malformed ids.
 */
import assert from "node:assert/strict";
import { asCid, type Cid, cidOf } from "./cid.ts";
import { RewarderError } from "./errors.ts";
import { asEpochId } from "./ids.ts";
import { asRunKey, intentKeyOf, runKeyOf } from "./run_key.ts";

const POLICY = asCid("b3:" + "a".repeat(64));
const INPUTS = cidOf("inputs");

Deno.test("runKeyOf: the contract's formula, salt defaulted to svc-rewarder|v1", () => {
  const epochId = asEpochId("2025-01");
  const expected = cidOf(`svc-rewarder|v1|2025-01|${POLICY}|${INPUTS}`);
  assert.equal(runKeyOf({ epochId, policyHash: POLICY, inputsCid: INPUTS }), expected);
  assert.equal(
    runKeyOf({ epochId, policyHash: POLICY, inputsCid: INPUTS, salt: "s" }),
    cidOf(`s|2025-01|${POLICY}|${INPUTS}`),
  );
});

Deno.test("runKeyOf: swapped or unchecked arguments do not compile", () => {
  const epochId = asEpochId("e1");
  const policyHash: string = POLICY;
  // Never called: only the type checker judges these lines (`deno test` type-checks them).
  const compileOnly = () => [
    // @ts-expect-error positional arguments are gone: a swap cannot go unnoticed
    runKeyOf(epochId, POLICY, INPUTS),
    // @ts-expect-error an unchecked string is not a Cid
    runKeyOf({ epochId, policyHash, inputsCid: INPUTS }),
    // @ts-expect-error a CID is not an epoch id
    runKeyOf({ epochId: INPUTS, policyHash: POLICY, inputsCid: INPUTS }),
  ];
  assert.equal(typeof compileOnly, "function");
  const runKey = runKeyOf({ epochId, policyHash: POLICY, inputsCid: INPUTS });
  const intentKey = intentKeyOf({ tenant: "acme", runKey });
  // @ts-expect-error an intent key is not a run key
  const wrong: typeof runKey = intentKey;
  assert.notEqual(wrong, runKey);
  const cid: Cid = runKey; // a run key is a CID
  assert.equal(cid, runKey);
});

Deno.test("checked constructors refuse malformed ids with 400 schema at their path", () => {
  for (
    const [f, s, path] of [
      [asCid, "b3:" + "A".repeat(64), "cid"],
      [asCid, "b3:" + "a".repeat(63), "cid"],
      [asRunKey, "sha256:" + "a".repeat(64), "run_key"],
      [asEpochId, "..", "epoch_id"],
      [asEpochId, "a/b", "epoch_id"],
      [asEpochId, "x".repeat(129), "epoch_id"],
    ] as const
  ) {
    assert.throws(
      () => f(s),
      (e) => e instanceof RewarderError && e.reason === "schema" && e.path === path,
    );
  }
  assert.equal(asEpochId("epoch:1.a_b-c"), "epoch:1.a_b-c");
  assert.equal(asCid(INPUTS, "inputs_cid"), INPUTS);
});
