/**
 * Counting for `max_runs = n` caveats (contract §9). The verifier only reports them (as
 * {@link MaxRunsCaveat}s keyed by identifier + chain position); the compute route checks
 * them before a non-replayed compute and counts after it.
 *
 * @module
 */
import { RewarderError } from "../../core/errors.ts";
import type { MaxRunsCaveat } from "./auth_context.ts";
import { MAX_RUNS_COUNTER_KEYS_MAX } from "./limits.ts";

/** A store of per-caveat run counts (in memory here; durable stores may implement it too). */
export interface MaxRunsCounter {
  count(key: string): Promise<number>;
  increment(key: string): Promise<void>;
}

/**
 * An in-memory counter holding at most `keysMax` keys. When full it refuses to track a new
 * key (throws OVERLOADED 503) rather than evicting one, because eviction would reset a count.
 */
export function memoryMaxRunsCounter(keysMax: number = MAX_RUNS_COUNTER_KEYS_MAX): MaxRunsCounter {
  const counts = new Map<string, number>();
  return {
    count: (key) => Promise.resolve(counts.get(key) ?? 0),
    increment(key) {
      const prev = counts.get(key);
      if (prev === undefined && counts.size >= keysMax) {
        return Promise.reject(
          new RewarderError("OVERLOADED", "max_runs_counter_full", { retryAfterS: 60 }),
        );
      }
      counts.set(key, (prev ?? 0) + 1);
      return Promise.resolve();
    },
  };
}

/** Throws 403 UNAUTHORIZED `caveat_max_runs` when any caveat's count has reached its n. */
export async function checkMaxRuns(
  counter: MaxRunsCounter,
  caveats: readonly MaxRunsCaveat[],
): Promise<void> {
  for (const c of caveats) {
    if ((await counter.count(c.counterKey)) >= c.limit) {
      throw new RewarderError("UNAUTHORIZED", "caveat_max_runs");
    }
  }
}

/** Counts one non-replayed compute under every max_runs caveat of the token. */
export async function recordRun(
  counter: MaxRunsCounter,
  caveats: readonly MaxRunsCaveat[],
): Promise<void> {
  for (const c of caveats) await counter.increment(c.counterKey);
}
