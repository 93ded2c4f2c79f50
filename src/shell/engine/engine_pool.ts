/**
 * The engine pool: `workersMax` workers run one job each at a time, plus one warm spare;
 * jobs wait in a bounded queue that is fair across tenants (fair_queue.ts: round-robin over
 * tenants, FIFO within one).
 *
 * Small jobs have an express worker besides: a job whose inputs are at most
 * `expressJobBytesMax` (known before they are read: the stored object's size, or the fetched
 * bytes) may also run on one more worker that takes nothing larger, so a small compute never
 * waits for a big one to finish or to be stopped, whoever's it is. Among small jobs the
 * express worker keeps the queue's fair order. Its cost is bounded by the size bound: on a
 * machine with a core per general worker plus one for the request loop, the express worker
 * takes its share of those cores for at most one small job at a time.
 *
 * Cancelling isolates jobs: a queued job whose request is aborted (deadline or client gone)
 * leaves the queue; a running one is answered at once and stopped cooperatively: the pool
 * sets its worker's shared cancel flag, which the worker checks between the pipeline's phases
 * (src/core/compute.ts `checkpoint`), and the worker, still warm, is free again. Meanwhile the
 * spare takes the next job. A worker that has not stopped within ENGINE_CANCEL_GRACE_MS (a
 * long phase) is terminated and replaced; only ITS job is touched (a cold worker start takes
 * seconds under load, hence the cooperative path first). A worker that crashes fails only the
 * job it was running (500 `engine`). No job is ever failed because another job was cancelled.
 *
 * @module
 */
import type { ComputeOutput } from "../../core/compute.ts";
import { RewarderError } from "../../core/errors.ts";
import { FairQueue, type QueueTicket } from "./fair_queue.ts";
import type { EngineThread, SpawnEngineThread } from "./engine_thread.ts";
import { type EngineAnswer, type EngineJob, errorOfAnswer } from "./engine_worker.ts";

/** Jobs waiting for a worker across all tenants; one more → 503 OVERLOADED `engine_queue`. */
export const ENGINE_QUEUE_JOBS_MAX = 32;
/** Jobs one tenant may have waiting; one more → 503 OVERLOADED `engine_tenant_queue`. */
export const ENGINE_TENANT_QUEUE_JOBS_MAX = 8;
/** Idle workers kept started beyond `workersMax`, to replace a terminated one at once. */
export const ENGINE_SPARE_WORKERS = 1;
/** Workers in a row that fail before they are ready; then no more are started (a broken build). */
export const ENGINE_START_FAILURES_MAX = 3;
/** Largest inputs of a job the express worker takes, bytes (a 10,000-recipient epoch is ≈ 0.8 MB). */
export const ENGINE_EXPRESS_JOB_BYTES_MAX = 1_048_576;
/**
 * Nice value of the general workers' threads (Linux; thread_priority.ts): the request loop
 * (nice 0) and the express worker (nice 0) are served first when the cores are busy, and a
 * big job takes what they leave.
 */
export const ENGINE_WORKER_NICE = 10;
/** How long a cancelled job's worker may take to reach a checkpoint before it is terminated (ms). */
export const ENGINE_CANCEL_GRACE_MS = 1_000;
/** `Retry-After` of a full queue, seconds. */
export const ENGINE_QUEUE_RETRY_AFTER_S = 2;

/** Why a job was cancelled (its own request's signal). */
export type CancelReason = "deadline" | "client_gone";

/** Counters and gauges of the pool (engine_metrics.ts renders them). */
export interface EngineObserver {
  /** Queue after each change: jobs queued, tenants with queued jobs, the deepest tenant's jobs. */
  queue(depthJobs: number, tenants: number, deepestTenantJobs: number): void;
  /** A job left the queue for a worker after waiting `seconds`. */
  started(seconds: number): void;
  cancelled(state: "queued" | "running", reason: CancelReason): void;
  /** A worker was terminated (its job cancelled) or crashed, and a new one started. */
  replaced(cause: "cancelled" | "crashed"): void;
  /** Workers running a job, and workers started and idle. */
  workers(busy: number, idle: number): void;
}

/** A job as the shell gives it (the id is the pool's). */
export type EngineRunJob = Omit<EngineJob, "id">;

/** The engine as the compute use case sees it. */
export interface EngineRunner {
  /**
   * Queues `job` for `tenant`; resolves with its output. Rejects with the signal's reason
   * once `signal` aborts (the job is dropped or its worker stopped), 503 OVERLOADED when the
   * queue is full, 500 `engine` when its worker crashed, or the job's own typed error.
   */
  run(job: EngineRunJob, ctx: { tenant: string; signal: AbortSignal }): Promise<ComputeOutput>;
  close(): void;
  /** Workers replaced so far (cancelled jobs and crashes). */
  replacements(): number;
}

/** Options of {@link createEnginePool}. */
export interface EnginePoolOptions {
  /** Jobs running at once (ENGINE_WORKERS). */
  workersMax: number;
  spawn: SpawnEngineThread;
  observer?: EngineObserver;
  queueJobsMax?: number;
  tenantQueueJobsMax?: number;
  /** Default ENGINE_CANCEL_GRACE_MS. */
  cancelGraceMs?: number;
  /** Default ENGINE_EXPRESS_JOB_BYTES_MAX; 0: no express worker. */
  expressJobBytesMax?: number;
  /** Nice value of the general workers' threads; default ENGINE_WORKER_NICE, 0: unchanged. */
  workerNice?: number;
}

interface Job {
  id: number;
  tenant: string;
  body: EngineRunJob;
  signal: AbortSignal;
  queuedAtMs: number;
  /** Its inputs are small enough for the express worker. */
  small: boolean;
  resolve(out: ComputeOutput): void;
  reject(err: unknown): void;
  onAbort(): void;
  ticket: QueueTicket<Job> | undefined;
  slot: Slot | undefined;
}

interface Slot {
  thread: EngineThread;
  /** The express worker: takes small jobs only, and is not one of the `workersMax`. */
  express: boolean;
  /** The worker's cancel flag: the id of a job it must abandon (shared with the worker). */
  cancel: Int32Array;
  ready: boolean;
  job: Job | undefined;
  /** A cancelled job the worker has not yet abandoned, and the timer that ends the wait. */
  draining: { id: number; timer: ReturnType<typeof setTimeout> } | undefined;
  dead: boolean;
}

const NO_OBSERVER: EngineObserver = {
  queue() {},
  started() {},
  cancelled() {},
  replaced() {},
  workers() {},
};

function cancelReasonOf(signal: AbortSignal): CancelReason {
  const r = signal.reason;
  return r instanceof RewarderError && r.reason === "client_gone" ? "client_gone" : "deadline";
}

/** Size of a job's inputs, bytes, as known before they are read. */
function inputsBytesOf(job: EngineRunJob): number {
  return job.inputs.kind === "file" ? job.inputs.sizeBytes : job.inputs.bytes.byteLength;
}

/** Starts the pool's workers (`workersMax` + the spare) and returns the runner. */
export function createEnginePool(options: EnginePoolOptions): EngineRunner {
  const { workersMax, spawn } = options;
  if (!Number.isInteger(workersMax) || workersMax < 1) {
    throw new RangeError(
      `Cannot create engine pool as workersMax must be a positive integer: current value is ${workersMax}`,
    );
  }
  const observer = options.observer ?? NO_OBSERVER;
  const cancelGraceMs = options.cancelGraceMs ?? ENGINE_CANCEL_GRACE_MS;
  const expressJobBytesMax = options.expressJobBytesMax ?? ENGINE_EXPRESS_JOB_BYTES_MAX;
  const workerNice = options.workerNice ?? ENGINE_WORKER_NICE;
  if (!Number.isSafeInteger(expressJobBytesMax) || expressJobBytesMax < 0) {
    throw new RangeError(
      `Cannot create engine pool as expressJobBytesMax must be a non-negative integer: current value is ${expressJobBytesMax}`,
    );
  }
  const queue = new FairQueue<Job>({
    itemsMax: options.queueJobsMax ?? ENGINE_QUEUE_JOBS_MAX,
    tenantItemsMax: options.tenantQueueJobsMax ?? ENGINE_TENANT_QUEUE_JOBS_MAX,
  });
  const slots = new Set<Slot>();
  let nextId = 1;
  let replacements = 0;
  let startFailures = 0;
  let closed = false;

  function report(): void {
    observer.queue(queue.size, queue.tenants, queue.deepest());
    let busy = 0;
    let idle = 0;
    for (const s of slots) {
      if (s.job !== undefined) busy++;
      else if (s.ready && s.draining === undefined) idle++;
    }
    observer.workers(busy, idle);
  }

  function start(express: boolean): void {
    const slot: Slot = {
      thread: undefined!,
      express,
      cancel: new Int32Array(new SharedArrayBuffer(4)),
      ready: false,
      job: undefined,
      draining: undefined,
      dead: false,
    };
    slot.thread = spawn({
      ready() {
        if (slot.dead) return;
        slot.ready = true;
        startFailures = 0;
        pump();
      },
      answer(answer: EngineAnswer) {
        if (!slot.dead && slot.draining?.id === answer.id) {
          clearTimeout(slot.draining.timer); // it stopped at a checkpoint: free and warm
          slot.draining = undefined;
          pump();
          return;
        }
        const job = slot.job;
        if (slot.dead || job === undefined || job.id !== answer.id) return;
        finish(slot, job);
        if (answer.ok) job.resolve(answer.value);
        else job.reject(errorOfAnswer(answer));
        pump();
      },
      crashed() {
        if (slot.dead) return;
        const job = slot.job;
        if (!slot.ready) startFailures++;
        replace(slot, "crashed");
        if (job !== undefined) {
          finish(slot, job);
          job.reject(new RewarderError("INTERNAL", "engine"));
        }
        pump();
      },
    });
    slots.add(slot);
  }

  /** Ends `slot`'s worker and starts its replacement (the spare, warm, serves meanwhile). */
  function replace(slot: Slot, cause: "cancelled" | "crashed"): void {
    if (slot.draining !== undefined) clearTimeout(slot.draining.timer);
    slot.draining = undefined;
    slot.dead = true;
    slots.delete(slot);
    slot.thread.terminate();
    replacements++;
    observer.replaced(cause);
    if (closed) return;
    if (startFailures < ENGINE_START_FAILURES_MAX) {
      start(slot.express);
    } else if (![...slots].some((s) => !s.express)) {
      // No worker can start: answer what waits instead of letting it time out.
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
        t.item.signal.removeEventListener("abort", t.item.onAbort);
        t.item.reject(new RewarderError("INTERNAL", "engine"));
      }
    }
  }

  function finish(slot: Slot, job: Job): void {
    slot.job = undefined;
    job.slot = undefined;
    job.signal.removeEventListener("abort", job.onAbort);
  }

  /** Jobs running on the general workers (the express worker's is not one of them). */
  function busyCount(): number {
    let n = 0;
    for (const s of slots) if (s.job !== undefined && !s.express) n++;
    return n;
  }

  function isSmall(job: Job): boolean {
    return job.small;
  }

  /**
   * Gives queued jobs to idle ready workers: a small one to the express worker first, then
   * any to the general workers while fewer than `workersMax` run.
   */
  function pump(): void {
    let busy = busyCount();
    for (const express of [true, false]) {
      for (const slot of slots) {
        if (queue.size === 0) break;
        if (slot.express !== express) continue;
        if (!slot.ready || slot.job !== undefined || slot.draining !== undefined) continue;
        if (!express && busy >= workersMax) break;
        const ticket = express ? queue.shiftWhere(isSmall) : queue.shift();
        if (ticket === undefined) continue;
        if (!express) busy++;
        dispatch(slot, ticket.item);
      }
    }
    report();
  }

  function dispatch(slot: Slot, job: Job): void {
    job.ticket = undefined;
    slot.job = job;
    job.slot = slot;
    observer.started((performance.now() - job.queuedAtMs) / 1000);
    const { inputs } = job.body;
    const transfer = inputs.kind === "bytes" ? [inputs.bytes.buffer as ArrayBuffer] : [];
    const nice = slot.express ? 0 : workerNice;
    slot.thread.post({ ...job.body, id: job.id, cancel: slot.cancel, nice }, transfer);
  }

  function cancel(job: Job): void {
    const reason = cancelReasonOf(job.signal);
    if (job.ticket !== undefined) {
      queue.remove(job.ticket);
      job.ticket = undefined;
      observer.cancelled("queued", reason);
    } else if (job.slot !== undefined) {
      const slot = job.slot;
      finish(slot, job);
      observer.cancelled("running", reason);
      Atomics.store(slot.cancel, 0, job.id);
      // Not counted as busy while it drains: the spare takes the next job meanwhile.
      const timer = setTimeout(() => {
        if (slot.draining?.id === job.id) replace(slot, "cancelled");
        pump();
      }, cancelGraceMs);
      slot.draining = { id: job.id, timer };
    } else {
      return; // already answered
    }
    job.reject(job.signal.reason ?? new RewarderError("TIMEOUT", "timeout"));
    pump();
  }

  for (let i = 0; i < workersMax + ENGINE_SPARE_WORKERS; i++) start(false);
  if (expressJobBytesMax > 0) start(true);

  return {
    run(body, ctx) {
      if (closed) return Promise.reject(new RewarderError("OVERLOADED", "overloaded"));
      if (![...slots].some((s) => !s.express)) {
        return Promise.reject(new RewarderError("INTERNAL", "engine"));
      }
      if (ctx.signal.aborted) {
        return Promise.reject(ctx.signal.reason ?? new RewarderError("TIMEOUT", "timeout"));
      }
      return new Promise<ComputeOutput>((resolve, reject) => {
        const job: Job = {
          id: nextId++,
          tenant: ctx.tenant,
          body,
          signal: ctx.signal,
          queuedAtMs: performance.now(),
          small: inputsBytesOf(body) <= expressJobBytesMax,
          resolve,
          reject,
          onAbort: () => cancel(job),
          ticket: undefined,
          slot: undefined,
        };
        const ticket = queue.push(ctx.tenant, job);
        if (typeof ticket === "string") {
          const reason = ticket === "queue_full" ? "engine_queue" : "engine_tenant_queue";
          reject(
            new RewarderError("OVERLOADED", reason, { retryAfterS: ENGINE_QUEUE_RETRY_AFTER_S }),
          );
          return;
        }
        job.ticket = ticket;
        ctx.signal.addEventListener("abort", job.onAbort, { once: true });
        pump();
      });
    },
    close() {
      closed = true;
      for (const slot of slots) {
        if (slot.draining !== undefined) clearTimeout(slot.draining.timer);
        slot.dead = true;
        slot.thread.terminate();
        const job = slot.job;
        if (job !== undefined) {
          finish(slot, job);
          job.reject(new RewarderError("OVERLOADED", "overloaded", { retryAfterS: 1 }));
        }
      }
      slots.clear();
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
        t.item.signal.removeEventListener("abort", t.item.onAbort);
        t.item.reject(new RewarderError("OVERLOADED", "overloaded", { retryAfterS: 1 }));
      }
    },
    replacements: () => replacements,
  };
}
