/**
 * Fuzz target: inputs documents (contract §2, both shapes). `parseInputs` must never throw,
 * only return typed errors; a document it accepts must go through the whole pure pipeline
 * (`computeManifest`: CID, run key, allocation, manifest, hash) under a valid random policy
 * without throwing. Inputs: mutations (value-level, text-level, byte-level) of the golden
 * vectors' documents and of generated valid documents, plus random JSON.
 *
 * @module
 */
import fc from "fast-check";
import { computeManifest } from "../src/core/compute.ts";
import { RewarderError } from "../src/core/errors.ts";
import { parseInputs } from "../src/core/inputs.ts";
import { parsePolicy, policyHashOf } from "../src/core/policy.ts";
import {
  bytesFromJson,
  bytesToJson,
  CASE_TIME_MS_MAX,
  type FuzzTarget,
  tally,
  withinMs,
} from "./_harness.ts";
import { applyByteOps, byteOp, mutatedJsonText } from "./_mutate.ts";
import { compatInputs, INPUTS_SEEDS, nativeInputs, policyDocument } from "./_seeds.ts";

/** One case: the inputs bytes and the policy document run against them when accepted. */
export interface InputsCase {
  bytes: Uint8Array;
  policy: unknown;
}

const encoder = new TextEncoder();

/** Arbitrary inputs bytes: generated valid documents, mutated seeds, byte mutations. */
export const inputsBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.oneof(nativeInputs, compatInputs).map((d) => encoder.encode(JSON.stringify(d))),
  },
  { weight: 4, arbitrary: mutatedJsonText(INPUTS_SEEDS).map((t) => encoder.encode(t)) },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.oneof(nativeInputs, compatInputs),
      fc.array(byteOp, { minLength: 1, maxLength: 4 }),
    )
      .map(([d, ops]) => applyByteOps(encoder.encode(JSON.stringify(d)), ops)),
  },
);

function assertTyped(result: { ok: boolean; error?: unknown }, what: string): void {
  if (!result.ok && !(result.error instanceof RewarderError)) {
    throw new Error(`${what} returned an untyped error`);
  }
}

/** The inputs target (pure; no service needed). */
export function inputsTarget(): FuzzTarget<InputsCase> {
  const stats: Record<string, number> = {};
  return {
    name: "inputs",
    stats,
    arbitrary: fc.record({
      bytes: inputsBytes,
      policy: policyDocument(["bytes_stored", "bytes_served", "uptime_seconds", "votes", "m"]),
    }),
    async check(c) {
      await withinMs(CASE_TIME_MS_MAX, "inputs parse+compute", () => {
        const parsed = parseInputs(c.bytes);
        assertTyped(parsed, "parseInputs");
        tally(stats, parsed.ok ? "accepted" : "rejected");
        if (!parsed.ok) return Promise.resolve();
        const policy = parsePolicy(c.policy);
        if (!policy.ok) throw new Error("generated policy was refused: generator bug");
        const out = computeManifest({
          epochId: parsed.value.epochId ?? "fuzz-epoch",
          inputsBytes: c.bytes,
          policy: {
            ...policy.value.policy,
            asset: parsed.value.asset ?? policy.value.policy.asset,
          },
          policyHash: policyHashOf(c.policy),
        });
        assertTyped(out, "computeManifest");
        tally(stats, out.ok ? "computed" : "compute_refused");
        return Promise.resolve();
      });
    },
    encode: (c) => ({ bytes: bytesToJson(c.bytes), policy: c.policy }),
    decode: (saved) => {
      const s = saved as { bytes: string; policy: unknown };
      return { bytes: bytesFromJson(s.bytes), policy: s.policy };
    },
  };
}
