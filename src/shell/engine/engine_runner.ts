/**
 * The service's engine: a pool of real workers (engine_pool.ts over engine_thread.ts) sized
 * by ENGINE_WORKERS, default the cores minus one for the request loop, at least one.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { createEnginePool, type EngineObserver, type EngineRunner } from "./engine_pool.ts";
import { realThreadSpawner } from "./engine_thread.ts";

export type { EngineObserver, EngineRunJob, EngineRunner } from "./engine_pool.ts";

/** ENGINE_WORKERS when unset: one core stays with the request loop. */
export function defaultEngineWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Starts the pool's workers now, so their module graphs load before the first compute. */
export function createEngineRunner(
  options: {
    workersMax?: number | undefined;
    expressJobBytesMax?: number;
    workerNice?: number;
    observer?: EngineObserver;
  } = {},
): EngineRunner {
  return createEnginePool({
    workersMax: options.workersMax ?? defaultEngineWorkers(),
    spawn: realThreadSpawner(),
    ...(options.expressJobBytesMax === undefined
      ? {}
      : { expressJobBytesMax: options.expressJobBytesMax }),
    ...(options.workerNice === undefined ? {} : { workerNice: options.workerNice }),
    ...(options.observer === undefined ? {} : { observer: options.observer }),
  });
}
