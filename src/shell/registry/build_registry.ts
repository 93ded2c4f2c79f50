/**
 * The run registry over the store, its caches' metrics (docs/ARCHITECTURE.md, "Caches"), and
 * the test-only crash points it and the outbox dispatcher share.
 *
 * @module
 */
import type { Config } from "../config/config.ts";
import { createCacheMetrics } from "../observe/cache_metrics.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { RunStore } from "../store/run_store.ts";
import { createRunRegistry, type RunRegistry } from "./run_registry.ts";

/** Crash points of the test-only fault hook (registry and dispatcher steps). */
const CRASH_STEPS = ["after_run_write", "after_commit", "after_send", "after_ack"];
/** Largest occurrence count accepted in `REWARDER_TEST_CRASH_AT=<step>#<n>`. */
const CRASH_OCCURRENCE_MAX = 999;

/** A crash point reached: exits the process when it is the configured one. */
export type FaultHook = (at: string) => void;

/**
 * Test-only crash points, enabled by REWARDER_TEST_CRASH_AT=<step> or <step>#<n> (exit 137 at
 * the n-th time the step is reached, default the first; like SIGKILL: no cleanup). Ignored
 * with PRODUCTION=on; an unknown step refuses to start (a typo must not silently never crash).
 */
export function faultHook(spec: string | undefined, production: boolean): FaultHook | undefined {
  if (!spec || production) return undefined;
  const m = /^([a-z_]{1,32})(?:#([1-9][0-9]{0,2}))?$/.exec(spec);
  if (m === null || !CRASH_STEPS.includes(m[1]!)) {
    throw new Error(
      `Cannot use REWARDER_TEST_CRASH_AT: expected <step>[#<n>], step one of ${
        CRASH_STEPS.join("|")
      }`,
    );
  }
  const step = m[1]!;
  let left = Math.min(Number(m[2] ?? "1"), CRASH_OCCURRENCE_MAX);
  return (at: string) => {
    if (at === step && --left === 0) {
      // deno-lint-ignore no-explicit-any
      (globalThis as any).process?.exit?.(137);
    }
  };
}

/** Opens the registry and registers its caches' metrics (read at scrape time). */
export async function buildRegistry(
  config: Pick<Config, "quarantineOnly">,
  deps: {
    store: RunStore;
    metrics: Metrics;
    nowMs: () => number;
    fault: FaultHook | undefined;
  },
): Promise<RunRegistry> {
  const { store, metrics, nowMs, fault } = deps;
  const registry = await createRunRegistry({
    store,
    nowMs,
    quarantineOnly: config.quarantineOnly,
    ...(fault ? { faultHook: fault } : {}),
  });
  createCacheMetrics(metrics.registry, registry.caches); // docs/ARCHITECTURE.md, "Caches"
  return registry;
}
