/**
 * The engine runner from the configuration: ENGINE_WORKERS workers (and the express worker of
 * ENGINE_EXPRESS_BYTES_MAX) running the core, observed
 * by the engine metrics.
 *
 * @module
 */
import type { Registry } from "prom-client";
import type { Config } from "../config/config.ts";
import { createEngineMetrics } from "./engine_metrics.ts";
import { createEngineRunner, type EngineRunner } from "./engine_runner.ts";

/** Builds the runner, its metrics registered on `registry`. */
export function buildEngine(
  config: Pick<Config, "engineWorkers" | "engineExpressBytesMax" | "engineNice">,
  registry: Registry,
): EngineRunner {
  return createEngineRunner({
    workersMax: config.engineWorkers,
    expressJobBytesMax: config.engineExpressBytesMax,
    workerNice: config.engineNice,
    observer: createEngineMetrics(registry),
  });
}
