/**
 * Metrics of the hot path's caches (`src/shell/registry/hot_cache.ts`, the verified tokens of
 * `src/shell/caps/verified_tokens.ts`; docs/ARCHITECTURE.md, "Caches"), read from the caches'
 * own counters at scrape time: nothing is done per request beyond the caches' integer
 * increments. The `cache` label is the closed set of names given at wiring.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { CacheStats } from "../cache/lru.ts";

/** Something with counters to export. */
type StatsSource = { stats(): CacheStats };
/** Caches by their `cache` label (an object of caches, e.g. the registry's HotCaches). */
export type NamedCaches<T> = { readonly [K in keyof T]: StatsSource };

/** The caches already exported by each registry (one set of `cache_*` families each). */
const exported = new WeakMap<Registry, Map<string, StatsSource>>();

/**
 * Registers `cache_*` metrics on `registry`, read from `caches` when scraped. A further call
 * on the same registry adds its caches to the same families.
 */
export function createCacheMetrics<T>(registry: Registry, named: NamedCaches<T>): void {
  const entries = Object.entries(named) as [string, StatsSource][];
  const known = exported.get(registry);
  if (known !== undefined) {
    for (const [name, cache] of entries) known.set(name, cache);
    return;
  }
  const caches = new Map(entries);
  exported.set(registry, caches);
  const registers = [registry];
  const labelNames = ["cache"] as const;
  const each = (read: (s: CacheStats) => number) =>
    function collect(this: Gauge<"cache"> | Counter<"cache">) {
      // A counter cannot be set: its values are re-read whole from the caches' counters.
      if (this instanceof Counter) this.reset();
      for (const [name, cache] of caches) {
        const value = read(cache.stats());
        if (this instanceof Counter) this.inc({ cache: name }, value);
        else this.set({ cache: name }, value);
      }
    };
  new Counter({
    name: "cache_hits_total",
    help: "Lookups answered from an in-memory cache, by cache.",
    labelNames,
    registers,
    collect: each((s) => s.hits),
  });
  new Counter({
    name: "cache_misses_total",
    help: "Lookups an in-memory cache could not answer, by cache.",
    labelNames,
    registers,
    collect: each((s) => s.misses),
  });
  new Counter({
    name: "cache_evictions_total",
    help: "Entries evicted to keep a cache within its bounds, by cache.",
    labelNames,
    registers,
    collect: each((s) => s.evictions),
  });
  new Gauge({
    name: "cache_entries",
    help: "Entries held now, by cache.",
    labelNames,
    registers,
    collect: each((s) => s.entries),
  });
  new Gauge({
    name: "cache_bytes",
    help: "Bytes of values held now, by cache (0 for caches bounded by entries only).",
    labelNames,
    registers,
    collect: each((s) => s.bytes),
  });
  new Gauge({
    name: "cache_bytes_max",
    help: "The byte bound of a cache (0: bounded by entries only).",
    labelNames,
    registers,
    collect: each((s) => s.bytesMax),
  });
}
