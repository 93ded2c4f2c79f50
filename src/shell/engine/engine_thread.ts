/**
 * One engine worker behind a small runtime-neutral interface: a Web Worker on Deno and Bun, a
 * `node:worker_threads` Worker on Node (docs/RUNTIMES.md "Engine workers"). The pool
 * (engine_pool.ts) only sees {@link EngineThread}, so its tests drive fake threads.
 *
 * The worker module is `./engine_worker.ts` beside this module when run from source, and
 * beside the bundle once bundled (scripts/bundle.sh writes dist/engine_worker.ts for Deno and
 * Bun, and the same module as dist/engine_worker.mjs for Node, which will not load `.ts`).
 *
 * @module
 */
import { Worker as NodeWorker } from "node:worker_threads";
import type { EngineAnswer, EngineJob, EngineReady } from "./engine_worker.ts";
import { type EngineWireAnswer, fromWire } from "./engine_wire.ts";

/** What the pool needs of a worker. */
export interface EngineThread {
  /** Posts a job; `transfer` lists buffers moved (not copied) to the worker. */
  post(job: EngineJob, transfer: ArrayBuffer[]): void;
  /** Stops the worker at once, whatever it is doing (its job is lost). */
  terminate(): void;
}

/** Events of a thread, delivered to the pool. */
export interface EngineThreadEvents {
  /** The worker loaded its module graph and listens. */
  ready(): void;
  /** The answer of the job it was given. */
  answer(answer: EngineAnswer): void;
  /** The worker failed outside a job's answer (uncaught error, out of memory, exit). */
  crashed(detail: string): void;
}

/** Starts one worker. */
export type SpawnEngineThread = (events: EngineThreadEvents) => EngineThread;

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;

/**
 * The worker module's name on Node: it exists only beside the bundle (scripts/bundle.sh), since
 * Node runs only the bundle; not an import of the source tree (tests/import_graph_test.ts).
 */
const NODE_WORKER_FILE = "./engine_worker.mjs";

/** The runtime's worker, from the worker module beside this one (or beside the bundle). */
export function realThreadSpawner(): SpawnEngineThread {
  const onNode = typeof scope.Deno === "undefined" && typeof scope.Bun === "undefined";
  if (!onNode) {
    const url = new URL("./engine_worker.ts", import.meta.url).href;
    return (events) => {
      const w = new Worker(url, { type: "module" });
      let closed = false;
      w.onmessage = (event: MessageEvent<EngineWireAnswer | EngineReady>) => {
        if ("ready" in event.data) events.ready();
        else events.answer(fromWire(event.data));
      };
      w.onerror = (event) => {
        event.preventDefault?.();
        if (!closed) events.crashed(String(event.message ?? "worker error"));
      };
      return {
        post: (job, transfer) => w.postMessage(job, transfer),
        terminate: () => {
          closed = true;
          w.terminate();
        },
      };
    };
  }
  const url = new URL(NODE_WORKER_FILE, import.meta.url);
  return (events) => {
    const w = new NodeWorker(url);
    let closed = false;
    w.on("message", (data: EngineWireAnswer | EngineReady) => {
      if ("ready" in data) events.ready();
      else events.answer(fromWire(data));
    });
    w.on("error", (err) => {
      if (!closed) events.crashed(String(err?.message ?? err));
    });
    w.on("exit", (code) => {
      if (!closed) events.crashed(`exit ${code}`);
      closed = true;
    });
    // A worker must not keep the process alive on its own (the pool's close ends them).
    w.unref();
    return {
      post: (job, transfer) => w.postMessage(job, transfer),
      terminate: () => {
        closed = true;
        void w.terminate();
      },
    };
  };
}
