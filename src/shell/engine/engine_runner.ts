/**
 * Runs engine jobs on a dedicated Worker (Deno and Bun) with a bounded queue, or inline where
 * Workers are unavailable (Node bundle: the loop then blocks for the job's duration, which
 * the cost guard bounds). One worker: this is a 2-core machine and the request loop needs
 * the other core.
 *
 * @module
 */
import { RewarderError } from "../../core/errors.ts";
import type { ComputeOutput } from "../../core/compute.ts";
import { type EngineAnswer, type EngineJob, errorOfAnswer, runEngineJob } from "./engine_worker.ts";

/** Jobs waiting for the worker beyond the running one; more → 503 OVERLOADED. */
export const ENGINE_QUEUE_MAX = 8;

/** The runner. */
export interface EngineRunner {
  run(job: Omit<EngineJob, "id">, signal: AbortSignal): Promise<ComputeOutput>;
  close(): void;
  /** How often a job past its deadline made the runner replace its worker. */
  restarts(): number;
}

/** Creates a runner; `useWorker: false` forces inline execution. */
export function createEngineRunner(options: { useWorker: boolean }): EngineRunner {
  if (!options.useWorker || typeof Worker === "undefined") {
    return {
      run(job) {
        const answer = runEngineJob({ ...job, id: 0 });
        return answer.ok ? Promise.resolve(answer.value) : Promise.reject(errorOfAnswer(answer));
      },
      close() {},
      restarts: () => 0,
    };
  }
  let worker: Worker | undefined;
  let ready: Promise<void> = Promise.resolve();
  let nextId = 1;
  let restarts = 0;
  const pending = new Map<
    number,
    { resolve: (v: ComputeOutput) => void; reject: (e: unknown) => void }
  >();

  function spawn(): Worker {
    const w = new Worker(new URL("./engine_worker.ts", import.meta.url).href, { type: "module" });
    let markReady: () => void = () => {};
    ready = new Promise((resolve) => (markReady = resolve));
    w.onmessage = (event: MessageEvent<EngineAnswer | { ready: true }>) => {
      if ("ready" in event.data) {
        markReady();
        return;
      }
      const waiter = pending.get(event.data.id);
      if (!waiter) return;
      pending.delete(event.data.id);
      if (event.data.ok) waiter.resolve(event.data.value);
      else waiter.reject(errorOfAnswer(event.data));
    };
    w.onerror = (event) => {
      event.preventDefault?.();
      for (const waiter of pending.values()) waiter.reject(new RewarderError("INTERNAL", "engine"));
      pending.clear();
      worker = undefined;
    };
    return w;
  }

  function restart(): void {
    worker?.terminate();
    worker = undefined;
    restarts++;
    for (const waiter of pending.values()) {
      waiter.reject(new RewarderError("OVERLOADED", "engine_restarted", { retryAfterS: 1 }));
    }
    pending.clear();
  }

  // Spawn now so the module graph (zod, hash-wasm compile) loads before the first compute.
  worker = spawn();

  return {
    run(job, signal) {
      if (pending.size > ENGINE_QUEUE_MAX) {
        return Promise.reject(new RewarderError("OVERLOADED", "engine_queue", { retryAfterS: 2 }));
      }
      worker ??= spawn();
      const id = nextId++;
      return new Promise<ComputeOutput>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        signal.addEventListener("abort", () => {
          if (!pending.delete(id)) return;
          reject(signal.reason ?? new RewarderError("TIMEOUT", "timeout"));
          // A job past its deadline must not hold the engine: the cost estimate is by size,
          // and a pathological epoch (e.g. water-filling capping one entry per round) can run
          // far longer. Terminate the worker; jobs queued behind it are answered OVERLOADED
          // (their clients retry), and the next job spawns a fresh worker.
          restart();
        }, { once: true });
        const target = worker!;
        ready.then(() =>
          target.postMessage({ ...job, id }, [job.inputsBytes.buffer as ArrayBuffer])
        );
      });
    },
    close() {
      worker?.terminate();
      worker = undefined;
    },
    restarts: () => restarts,
  };
}
