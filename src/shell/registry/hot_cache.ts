/**
 * The in-memory caches of the hot path (docs/ARCHITECTURE.md, "Caches"): what is committed
 * never changes (contract §5: a commitment is made once; §10: the envelope and its proofs are
 * immutable), so it is kept in memory and served without reading, decrypting, parsing or
 * serialising it again.
 *
 * - `artifacts`: immutable answers (an envelope, a proof document, both padded as answered,
 *   kept as text: see {@link Artifact}) and the packed Merkle leaves of proofs (bytes), by
 *   manifest hash; one LRU bounded by BYTES ({@link ARTIFACT_CACHE_BYTES_MAX}, an answer counted
 *   by its UTF-8 length) shared by all three kinds.
 * - `runs`: the run index, (tenant, run key) → a committed run's record (never its envelope),
 *   LRU bounded by entries ({@link RUN_INDEX_ENTRIES_MAX}).
 * - `commitments`: (tenant, epoch) → run key and (tenant, inputs CID) → epoch, positive
 *   answers only (an absent commitment may appear at any time), LRU bounded by entries.
 *
 * Every counter is an integer field updated in O(1); `/metrics` reads them at scrape time
 * (`src/shell/observe/cache_metrics.ts`).
 *
 * @module
 */
import type { StoredRecord } from "../store/run_store.ts";

/**
 * Bytes of immutable answers and proof leaves kept at most, all kinds together: 64 MiB holds
 * two 1M-recipient leaf sets (32 B per recipient) or ~250 padded 300-recipient envelopes
 * (128 KiB each), so a few large epochs cannot hold the heap.
 */
export const ARTIFACT_CACHE_BYTES_MAX = 64 * 1024 * 1024;
/** Committed run records kept in the run index (each < 1 KiB: ~10 MiB at most). */
export const RUN_INDEX_ENTRIES_MAX = 10_000;
/** Epoch and inputs commitments kept (a key and a value each, < 300 B: ~15 MiB at most). */
export const COMMITMENT_CACHE_ENTRIES_MAX = 50_000;

export { type CacheStats, createLru, type Lru } from "../cache/lru.ts";
import { createLru, type Lru } from "../cache/lru.ts";

/**
 * An artifact: an answer's padded JSON text (a string body reaches the runtime's response
 * without a copy on the JS heap, docs/PROFILE.md) or a proof set's packed leaves (bytes).
 */
export type Artifact = string | Uint8Array<ArrayBuffer>;

/** The hot path's caches (see the module comment). */
export interface HotCaches {
  artifacts: Lru<Artifact>;
  runs: Lru<IndexedRun>;
  commitments: Lru<string>;
}

/** Names of the caches (the `cache` label of the cache metrics: a closed set). */
export const CACHE_NAMES = ["artifacts", "runs", "commitments"] as const;

/**
 * A committed run in the run index: its record (which never changes once committed) and its
 * emission once it is final (`accepted`, `duplicate`, `failed`: the dispatcher never changes
 * them again); until then the emission is read from the outbox on every answer.
 */
export interface IndexedRun {
  record: StoredRecord;
  finalEmission: "accepted" | "duplicate" | "failed" | undefined;
}

/** Bounds of {@link createHotCaches} (the named limits above by default). */
export interface HotCacheBounds {
  artifactBytesMax?: number;
  runEntriesMax?: number;
  commitmentEntriesMax?: number;
}

/** Creates the caches. */
export function createHotCaches(bounds: HotCacheBounds = {}): HotCaches {
  return {
    artifacts: createLru<Artifact>({
      entriesMax: Number.MAX_SAFE_INTEGER,
      bytesMax: bounds.artifactBytesMax ?? ARTIFACT_CACHE_BYTES_MAX,
    }),
    runs: createLru<IndexedRun>({ entriesMax: bounds.runEntriesMax ?? RUN_INDEX_ENTRIES_MAX }),
    commitments: createLru<string>({
      entriesMax: bounds.commitmentEntriesMax ?? COMMITMENT_CACHE_ENTRIES_MAX,
    }),
  };
}

/**
 * Key of an artifact: its kind and manifest hash; the tenant for answers (an envelope and a
 * proof carry the tenant's own seal), not for leaves (the payouts' alone); a proof's account.
 */
export function artifactKey(
  kind: "envelope" | "proof" | "leaves",
  manifestHash: string,
  tenant = "",
  account = "",
): string {
  return `${kind}\u0000${manifestHash}\u0000${tenant}\u0000${account}`;
}
