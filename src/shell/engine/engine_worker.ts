/**
 * Worker entry: runs one engine job at a time off the request loop, so `/healthz` keeps
 * answering while a 1M-recipient epoch computes. Everything heavy of a job happens here:
 * reading the inputs (a local content-store file by path, or bytes fetched by the shell and
 * transferred), hashing them against their CID, parsing, allocating and building the
 * manifest and its hash. Answers the manifest and its hash, or the typed error's parts.
 *
 * Runs as a Web Worker on Deno and Bun and as a `node:worker_threads` worker on Node; the
 * pool (engine_pool.ts) starts one per slot and terminates one whose job was cancelled.
 *
 * @module
 */
import { readFile, stat } from "node:fs/promises";
import { parentPort } from "node:worker_threads";
import { computeManifest } from "../../core/compute.ts";
import { type ErrorCode, type Reason, RewarderError } from "../../core/errors.ts";
import type { CodeOf } from "../../core/reasons.ts";
import { parsePolicy } from "../../core/policy.ts";
import { lowerThreadPriority } from "./thread_priority.ts";
import { type EngineWireAnswer, toWire, transferablesOf } from "./engine_wire.ts";

/**
 * Where a job's inputs are: a local content-store object (read here; its name is its CID, so
 * bytes that do not hash to it are the store's corruption, 500 `store_corrupt`), or bytes the
 * shell fetched from an HTTP source (hash mismatch: the source's fault, 400 `cid_mismatch`).
 */
export type EngineInputs =
  | { kind: "file"; path: string; sizeBytes: number }
  | { kind: "bytes"; bytes: Uint8Array };

/** Message to the worker. */
export interface EngineJob {
  id: number;
  epochId: string;
  inputs: EngineInputs;
  expectedInputsCid: string;
  policyDocument: unknown;
  policyHash: string;
  salt: string;
  /**
   * The worker's cancel flag (shared memory, set by the pool): the job stops at its next
   * checkpoint once it holds this job's id.
   */
  cancel?: Int32Array;
  /**
   * Nice value the worker's thread runs at (thread_priority.ts; set once, before the job, and
   * only ever raised): the pool gives the general workers a lower priority than the request
   * loop and the express worker.
   */
  nice?: number;
}

/** A failed job, as posted back (an error object does not cross the boundary as a class). */
export interface EngineFailure {
  id: number;
  ok: false;
  code: ErrorCode;
  reason: Reason;
  path?: string | undefined;
}

/** The worker's answer. */
export type EngineAnswer =
  | { id: number; ok: true; value: import("../../core/compute.ts").ComputeOutput }
  | EngineFailure;

/** The first message of a worker: its module graph is loaded and it listens. */
export interface EngineReady {
  ready: true;
}

function failure(id: number, code: ErrorCode, reason: Reason, path?: string): EngineFailure {
  return { id, ok: false, code, reason, ...(path === undefined ? {} : { path }) };
}

async function loadInputs(inputs: EngineInputs): Promise<Uint8Array> {
  if (inputs.kind === "bytes") return inputs.bytes;
  // The shell decided the cost cap from this size: bytes beyond it are not what was judged.
  const info = await stat(inputs.path).catch(() => null);
  if (info === null) throw new RewarderError("NOT_FOUND", "unknown_cid");
  if (info.size !== inputs.sizeBytes) throw new RewarderError("INTERNAL", "store_corrupt");
  return new Uint8Array(await readFile(inputs.path));
}

/** Thrown at a checkpoint of a cancelled job. */
class JobCancelled extends Error {}

/** Runs one job (the worker's body; also callable in-process by tests). */
export async function runEngineJob(job: EngineJob): Promise<EngineAnswer> {
  const checkpoint = () => {
    if (job.cancel !== undefined && Atomics.load(job.cancel, 0) === job.id) {
      throw new JobCancelled();
    }
  };
  const policy = parsePolicy(job.policyDocument);
  if (!policy.ok) return failure(job.id, policy.error.code, policy.error.reason);
  let inputsBytes: Uint8Array;
  try {
    inputsBytes = await loadInputs(job.inputs);
  } catch (err) {
    if (err instanceof RewarderError) return failure(job.id, err.code, err.reason);
    return failure(job.id, "INTERNAL", "store_corrupt");
  }
  checkpoint();
  const result = computeManifest({
    checkpoint,
    epochId: job.epochId,
    inputsBytes,
    expectedInputsCid: job.expectedInputsCid,
    policy: policy.value.policy,
    policyHash: job.policyHash,
    salt: job.salt,
  });
  if (!result.ok) {
    const { code, reason, path } = result.error;
    if (reason === "cid_mismatch" && job.inputs.kind === "file") {
      return failure(job.id, "INTERNAL", "store_corrupt");
    }
    return failure(job.id, code, reason, path);
  }
  return { id: job.id, ok: true, value: result.value };
}

/** Turns a failed answer back into the typed error. */
export function errorOfAnswer(answer: EngineFailure): RewarderError {
  // The worker built the pair from a RewarderError (or the table's own rows): it matches.
  const code = answer.code as CodeOf<Reason>;
  return new RewarderError(code, answer.reason, answer.path ? { path: answer.path } : {});
}

/** Nice value this worker's thread was last set to. */
let appliedNice = 0;

async function answerOf(job: EngineJob): Promise<EngineWireAnswer> {
  if (job.nice !== undefined && job.nice > appliedNice) {
    appliedNice = lowerThreadPriority(job.nice) ?? job.nice; // best effort (Linux)
  }
  try {
    return toWire(await runEngineJob(job));
  } catch (err) {
    // A cancelled job's answer is not read by anyone: it tells the pool the worker is free.
    if (err instanceof JobCancelled) return failure(job.id, "TIMEOUT", "timeout");
    return failure(job.id, "INTERNAL", "engine");
  }
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
// Deno exposes WorkerGlobalScope inside workers; Bun 1.4 does not, but marks the main thread.
const inWebWorker = (typeof scope.WorkerGlobalScope !== "undefined" &&
  scope instanceof scope.WorkerGlobalScope) ||
  (typeof scope.Bun !== "undefined" && scope.Bun.isMainThread === false);
// Node: a worker_threads worker has a parent port (Deno and Bun use the Web Worker above).
const inNodeWorker = !inWebWorker && typeof scope.Deno === "undefined" &&
  typeof scope.Bun === "undefined" && parentPort !== null;
if (inWebWorker) {
  scope.onmessage = async (event: MessageEvent<EngineJob>) => {
    const answer = await answerOf(event.data);
    scope.postMessage(answer, transferablesOf(answer));
  };
  // Messages posted before this module finished loading (top-level await of the hash-wasm
  // compile) may be lost: tell the pool we are listening now.
  scope.postMessage({ ready: true } satisfies EngineReady);
} else if (inNodeWorker) {
  const port = parentPort!;
  port.on("message", async (job: EngineJob) => {
    const answer = await answerOf(job);
    port.postMessage(answer, transferablesOf(answer));
  });
  port.postMessage({ ready: true } satisfies EngineReady);
}
