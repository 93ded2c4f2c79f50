/**
 * An in-process keyed mutex: callbacks under the same key run one at a time, in call order.
 * Bounded: at most {@link KEYED_MUTEX_KEYS_MAX} keys may be waiting at once.
 *
 * @module
 */
import { RewarderError } from "../../core/errors.ts";

/** Distinct keys held or awaited at once; beyond this callers get OVERLOADED (not a leak). */
export const KEYED_MUTEX_KEYS_MAX = 100_000;

/** Runs `fn` exclusively per key. */
export interface KeyedMutex {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Keys currently held (for tests and gauges). */
  size(): number;
}

/** Creates a {@link KeyedMutex}. */
export function createKeyedMutex(): KeyedMutex {
  const tails = new Map<string, Promise<void>>();
  return {
    async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const prev = tails.get(key);
      if (prev === undefined && tails.size >= KEYED_MUTEX_KEYS_MAX) {
        throw new RewarderError("OVERLOADED", "lock_table_full", { retryAfterS: 1 });
      }
      let release!: () => void;
      const mine = new Promise<void>((resolve) => (release = resolve));
      const tail = (prev ?? Promise.resolve()).then(() => mine);
      tails.set(key, tail);
      try {
        if (prev !== undefined) await prev;
        return await fn();
      } finally {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
    size: () => tails.size,
  };
}
