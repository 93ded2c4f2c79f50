/**
 * The engine runner from the configuration: ENGINE_WORKERS workers running the core, observed
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
  config: Pick<Config, "engineWorkers">,
  registry: Registry,
): EngineRunner {
  return createEngineRunner({
    workersMax: config.engineWorkers,
    observer: createEngineMetrics(registry),
  });
}
