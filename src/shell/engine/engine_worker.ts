/**
 * Worker entry: runs the pure engine off the request loop, so `/healthz` keeps answering
 * while a 1M-recipient epoch computes. Receives the inputs bytes (transferred)
 * and the policy document; answers the manifest and its hash, or the typed error's parts.
 *
 * @module
 */
import { computeManifest } from "../../core/compute.ts";
import { RewarderError } from "../../core/errors.ts";
import { parsePolicy } from "../../core/policy.ts";

/** Message to the worker. */
export interface EngineJob {
  id: number;
  epochId: string;
  inputsBytes: Uint8Array;
  expectedInputsCid: string;
  policyDocument: unknown;
  policyHash: string;
  salt: string;
}

/** Runs one job (also used inline where no worker is available). */
export function runEngineJob(job: EngineJob) {
  const policy = parsePolicy(job.policyDocument);
  if (!policy.ok) {
    return { id: job.id, ok: false as const, code: policy.error.code, reason: policy.error.reason };
  }
  const result = computeManifest({
    epochId: job.epochId,
    inputsBytes: job.inputsBytes,
    expectedInputsCid: job.expectedInputsCid,
    policy: policy.value.policy,
    policyHash: job.policyHash,
    salt: job.salt,
  });
  if (!result.ok) {
    return {
      id: job.id,
      ok: false as const,
      code: result.error.code,
      reason: result.error.reason,
      path: result.error.path,
    };
  }
  return { id: job.id, ok: true as const, value: result.value };
}

/** The worker's answer. */
export type EngineAnswer = ReturnType<typeof runEngineJob>;

/** Turns a failed answer back into the typed error. */
export function errorOfAnswer(answer: Extract<EngineAnswer, { ok: false }>): RewarderError {
  return new RewarderError(
    answer.code,
    answer.reason,
    "path" in answer && answer.path ? { path: answer.path } : {},
  );
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
// Deno exposes WorkerGlobalScope inside workers; Bun 1.4 does not, but marks the main thread.
const inWorker = (typeof scope.WorkerGlobalScope !== "undefined" &&
  scope instanceof scope.WorkerGlobalScope) ||
  (typeof scope.Bun !== "undefined" && scope.Bun.isMainThread === false);
if (inWorker) {
  scope.onmessage = (event: MessageEvent<EngineJob>) => {
    let answer: EngineAnswer;
    try {
      answer = runEngineJob(event.data);
    } catch {
      answer = { id: event.data.id, ok: false, code: "INTERNAL", reason: "engine" };
    }
    scope.postMessage(answer);
  };
  // Messages posted before this module finished loading (top-level await of the hash-wasm
  // compile) may be lost: tell the runner we are listening now.
  scope.postMessage({ ready: true });
}
