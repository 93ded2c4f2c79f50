/**
 * The one bounded least-recently-used map of the shell: the hot path's caches
 * (`src/shell/registry/hot_cache.ts`), the verified tokens (`src/shell/caps/verified_tokens.ts`)
 * and the request path's memos (`middleware/request_path.ts`, `middleware/remembering_router.ts`,
 * `routes/validate.ts`). Pure: no I/O, no timers; so the edge (`edge.ts`, which holds no store)
 * can use it too.
 *
 * @module
 */

/** What one cache has done, for `/metrics` (counters since start; sizes now). */
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
  bytes: number;
  entriesMax: number;
  bytesMax: number;
}

/**
 * A least-recently-used map bounded by entries and by the bytes its values declare (the
 * values' bytes only: keys and the Map's own overhead are bounded by the entries limit).
 */
export interface Lru<V> {
  /** The value (now the most recent), counted as a hit or a miss. */
  get(key: string): V | undefined;
  /**
   * Keeps `value` of `bytes`; evicts the least recent entries past either bound. A value
   * larger than the byte bound is not kept (answers false).
   */
  set(key: string, value: V, bytes?: number): boolean;
  delete(key: string): void;
  clear(): void;
  stats(): CacheStats;
}

/**
 * Creates an {@link Lru} (a Map in insertion order: a hit moves its key to the end, unless it
 * is already there — a run of hits on one key is a plain lookup).
 */
export function createLru<V>(
  bounds: { entriesMax: number; bytesMax?: number },
): Lru<V> {
  const { entriesMax } = bounds;
  const bytesMax = bounds.bytesMax ?? Number.MAX_SAFE_INTEGER;
  const map = new Map<string, { value: V; bytes: number }>();
  let bytes = 0;
  /** The most recent key (the Map's last): a hit on it leaves the order as it is. */
  let newest: string | undefined;
  let hits = 0;
  let misses = 0;
  let evictions = 0;
  const drop = (key: string) => {
    const old = map.get(key);
    if (old === undefined) return;
    map.delete(key);
    bytes -= old.bytes;
    if (key === newest) newest = undefined;
  };
  return {
    get(key) {
      const hit = map.get(key);
      if (hit === undefined) {
        misses += 1;
        return undefined;
      }
      hits += 1;
      if (key !== newest) {
        map.delete(key);
        map.set(key, hit);
        newest = key;
      }
      return hit.value;
    },
    set(key, value, size = 0) {
      drop(key);
      if (size > bytesMax) return false;
      map.set(key, { value, bytes: size });
      newest = key;
      bytes += size;
      while (map.size > entriesMax || bytes > bytesMax) {
        const oldest = map.keys().next().value as string;
        drop(oldest);
        evictions += 1;
      }
      return true;
    },
    delete: drop,
    clear() {
      map.clear();
      newest = undefined;
      bytes = 0;
    },
    stats: () => ({
      hits,
      misses,
      evictions,
      entries: map.size,
      bytes,
      entriesMax,
      bytesMax: bounds.bytesMax ?? 0,
    }),
  };
}
