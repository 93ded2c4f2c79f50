/**
 * The whole pure pipeline of one run: inputs bytes + verified policy + epoch → manifest and
 * its hash (contract §2–§6). Sealing (async, keyed) is separate: see `seal.ts`.
 *
 * @module
 */
import { allocate } from "./allocate.ts";
import { type Checkpoint, NEVER_CANCELLED } from "./checkpoint.ts";
import { cidOfChecked, isCid } from "./cid.ts";
import { badRequest, type Result } from "./errors.ts";
import { type EpochId, isEpochId } from "./ids.ts";
import { type ParsedInputs, parseInputs } from "./inputs.ts";
import { buildManifest, manifestHashOf } from "./manifest.ts";
import type { Policy } from "./policy.ts";
import { type RunKey, runKeyOf } from "./run_key.ts";
import type { Cid } from "./cid.ts";
import type { Manifest } from "./types.ts";

/** What one run needs. */
export interface ComputeInput {
  epochId: string;
  /** The stored inputs bytes; the CID is over exactly these (never re-serialized). */
  inputsBytes: Uint8Array;
  /** When given, the bytes must hash to it (400 `cid_mismatch` otherwise). */
  expectedInputsCid?: string;
  policy: Policy;
  policyHash: string;
  salt?: string;
  /**
   * Called between the pipeline's phases and every CHECKPOINT_EVERY iterations of their long
   * loops (src/core/checkpoint.ts); it may throw to abandon the run (the engine worker does
   * when the run's request was cancelled). What it throws propagates unchanged.
   */
  checkpoint?: Checkpoint;
}

/** The unsealed outcome of a run. */
export interface ComputeOutput {
  manifest: Manifest;
  manifestHash: string;
  runKey: RunKey;
  inputsCid: Cid;
  /** Eligible-or-not entry count, for metrics and cost accounting. */
  entryCount: number;
}

/** Runs parse → checks → allocate → manifest → hash. A quarantine is a value, not an error. */
export function computeManifest(input: ComputeInput): Result<ComputeOutput> {
  const ids = checkIds(input);
  if (!ids.ok) return ids;
  const checkpoint = input.checkpoint ?? NEVER_CANCELLED;
  const inputsCid = cidOfChecked(input.inputsBytes, checkpoint);
  if (input.expectedInputsCid !== undefined && input.expectedInputsCid !== inputsCid) {
    return { ok: false, error: badRequest("cid_mismatch", "inputs_cid") };
  }
  checkpoint();
  const inputs = parseInputs(input.inputsBytes, checkpoint);
  if (!inputs.ok) return inputs;
  checkpoint();
  return computeParsed(input, ids.value, inputs, inputsCid);
}

/**
 * {@link computeManifest} with the inputs' CID computed by the caller while the inputs are
 * parsed (the CLI hashes them on a second thread): `inputsCid` must settle to the CID of
 * exactly `input.inputsBytes`. Same answers as {@link computeManifest}, in the same order of
 * precedence (a CID mismatch before any fault of the inputs).
 */
export async function computeManifestHashedAside(
  input: ComputeInput,
  inputsCid: Promise<Cid>,
): Promise<Result<ComputeOutput>> {
  const ids = checkIds(input);
  if (!ids.ok) return ids;
  const checkpoint = input.checkpoint ?? NEVER_CANCELLED;
  const inputs = parseInputs(input.inputsBytes, checkpoint);
  const cid = await inputsCid;
  if (input.expectedInputsCid !== undefined && input.expectedInputsCid !== cid) {
    return { ok: false, error: badRequest("cid_mismatch", "inputs_cid") };
  }
  if (!inputs.ok) return inputs;
  checkpoint();
  return computeParsed(input, ids.value, inputs, cid);
}

function checkIds(input: ComputeInput): Result<{ epochId: EpochId; policyHash: Cid }> {
  const epochId = input.epochId;
  if (!isEpochId(epochId)) return { ok: false, error: badRequest("schema", "epoch_id") };
  const policyHash = input.policyHash;
  if (!isCid(policyHash)) return { ok: false, error: badRequest("schema", "policy_hash") };
  return { ok: true, value: { epochId, policyHash } };
}

function computeParsed(
  input: ComputeInput,
  { epochId, policyHash }: { epochId: EpochId; policyHash: Cid },
  inputs: { value: ParsedInputs },
  inputsCid: Cid,
): Result<ComputeOutput> {
  const checkpoint = input.checkpoint ?? NEVER_CANCELLED;
  if (inputs.value.epochId !== undefined && inputs.value.epochId !== input.epochId) {
    return { ok: false, error: badRequest("stale", "inputs.epoch_id") };
  }
  if (inputs.value.asset !== undefined && inputs.value.asset !== input.policy.asset) {
    return { ok: false, error: badRequest("asset", "inputs.asset") };
  }
  const runKey = runKeyOf({
    epochId,
    policyHash,
    inputsCid,
    ...(input.salt === undefined ? {} : { salt: input.salt }),
  });
  const allocation = allocate(input.policy, inputs.value, inputsCid, checkpoint);
  if (!allocation.ok) return allocation;
  checkpoint();
  const manifest = buildManifest(
    { epochId: input.epochId, runKey, inputsCid, policyHash: input.policyHash },
    input.policy,
    allocation.value,
    checkpoint,
  );
  return {
    ok: true,
    value: {
      manifest,
      manifestHash: manifestHashOf(manifest),
      runKey,
      inputsCid,
      entryCount: inputs.value.table.count,
    },
  };
}
