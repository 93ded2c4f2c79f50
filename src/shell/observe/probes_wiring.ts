/**
 * Starts the dependency probes a configuration calls for (contract §10), with their metrics
 * and a log line when a dependency goes down or comes back.
 *
 * @module
 */
import type { Registry } from "prom-client";
import { createProbeMetrics } from "./isolation_metrics.ts";
import { getLogger } from "./log.ts";
import {
  createDependencyProbes,
  type DependencyProbes,
  dependencyProbesOf,
  PROBE_TIMEOUT_MS_DEFAULT,
} from "./probes.ts";

/** Builds and starts the probes (none for a local journal and store: outage() stays false). */
export async function startDependencyProbes(
  config: Parameters<typeof dependencyProbesOf>[0],
  registry: Registry,
): Promise<DependencyProbes> {
  const log = getLogger("readiness");
  const metrics = createProbeMetrics(registry);
  const { probes, close } = await dependencyProbesOf(config);
  const wasUp = new Map<string, boolean>();
  const built = createDependencyProbes({
    probes,
    timeoutMs: Math.max(config.downstreamConnectMs, PROBE_TIMEOUT_MS_DEFAULT),
    close,
    observer: {
      probed(state, ok, error) {
        metrics.probed(state, ok, error);
        const before = wasUp.get(state.dependency) ?? true;
        if (before !== state.up) {
          const fields = {
            dependency: state.dependency,
            consecutive_failures: state.consecutiveFailures,
            ...(error instanceof Error ? { reason: `${error.name}: ${error.message}` } : {}),
          };
          if (state.up) log.info("dependency up", fields);
          else log.warn("dependency down: /readyz reports dep_outage", fields);
        }
        wasUp.set(state.dependency, state.up);
      },
    },
  });
  built.start();
  return built;
}
