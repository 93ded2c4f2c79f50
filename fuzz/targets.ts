/**
 * All fuzz targets by name, built over one in-process service. Used by the CI test
 * (`tests/fuzz_test.ts`), the regression replay and the nightly runner (`fuzz/main.ts`).
 *
 * @module
 */
import type { FuzzService, FuzzTarget } from "./_harness.ts";
import { blake3BatchTarget } from "./blake3_batch.ts";
import { computeBodyTarget } from "./compute_body.ts";
import { compressedTarget } from "./compressed.ts";
import { inputsTarget } from "./inputs.ts";
import { macaroonTarget } from "./macaroon.ts";
import { policyTarget } from "./policy.ts";

/** Target names, in run order. */
export const TARGET_NAMES = [
  "compute_body",
  "inputs",
  "policy",
  "macaroon",
  "compressed",
  "blake3_batch",
] as const;
/** A target name. */
export type TargetName = (typeof TARGET_NAMES)[number];

/** Builds the named target. */
export async function buildTarget(
  name: TargetName,
  svc: FuzzService,
): Promise<FuzzTarget<unknown>> {
  switch (name) {
    case "compute_body":
      return computeBodyTarget(svc) as FuzzTarget<unknown>;
    case "inputs":
      return inputsTarget() as FuzzTarget<unknown>;
    case "policy":
      return (await policyTarget()) as FuzzTarget<unknown>;
    case "macaroon":
      return macaroonTarget(svc) as FuzzTarget<unknown>;
    case "compressed":
      return compressedTarget() as FuzzTarget<unknown>;
    case "blake3_batch":
      return blake3BatchTarget() as FuzzTarget<unknown>;
  }
}
