/**
 * A least-recently-used cache bounded by bytes and by entries: the edge keeps verified
 * envelopes and built proof leaves in it, so a few large epochs cannot hold the heap and a
 * flood of small ones cannot grow the map without end. An entry larger than the byte budget
 * is never kept (the caller rebuilds it each time, as it would on a miss).
 *
 * @example
 * ```ts
 * const cache = new ByteLru<Uint8Array>({ bytesMax: 64 << 20, entriesMax: 1024 });
 * cache.set("k", leaves, leaves.byteLength);
 * cache.get("k");
 * ```
 *
 * @module
 */

/** Bounds of a {@link ByteLru}. */
export interface ByteLruLimits {
  /** Sum of entry costs kept at most, bytes. */
  bytesMax: number;
  /** Entries kept at most. */
  entriesMax: number;
}

/** See the module doc. Not thread-safe (single-threaded JS). */
export class ByteLru<V> {
  readonly #limits: ByteLruLimits;
  readonly #entries = new Map<string, { value: V; bytes: number }>();
  #bytes = 0;

  constructor(limits: ByteLruLimits) {
    for (const [name, n] of Object.entries(limits)) {
      if (!Number.isSafeInteger(n) || n < 0) {
        throw new RangeError(
          `Cannot create cache as ${name} must be a natural number: current value is ${n}`,
        );
      }
    }
    this.#limits = { ...limits };
  }

  /** The value of `key`, marked most recently used; undefined on a miss. */
  get(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, hit);
    return hit.value;
  }

  /** Keeps `value` at cost `bytes` (evicting the least recently used); false if too large. */
  set(key: string, value: V, bytes: number): boolean {
    this.delete(key);
    if (bytes > this.#limits.bytesMax || this.#limits.entriesMax === 0) return false;
    this.#entries.set(key, { value, bytes });
    this.#bytes += bytes;
    while (this.#entries.size > this.#limits.entriesMax || this.#bytes > this.#limits.bytesMax) {
      const oldest = this.#entries.keys().next().value as string;
      this.delete(oldest);
    }
    return true;
  }

  /** Drops `key` if present. */
  delete(key: string): void {
    const hit = this.#entries.get(key);
    if (hit === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= hit.bytes;
  }

  /** Sum of the kept entries' costs, bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of kept entries. */
  get size(): number {
    return this.#entries.size;
  }
}
