/**
 * The verified tokens cache (docs/ARCHITECTURE.md, "Caches"): token text → what verifying it
 * proved once, which depends on the token's bytes and the key ring only — the identifier
 * (tenant, key epoch, scopes), the HMAC chain checked under the epoch's secret (contract §9),
 * no third-party caveat, and the caveats parsed in chain order. Nothing that depends on the
 * request or the clock is kept: `time`, `ip`, `max_runs`, `path`, `method`, `scope`, `tenant`,
 * `epoch_id` and `account` are evaluated on every request by
 * {@link import("./authorize.ts").authorizeParsed}.
 *
 * - Only authentic tokens enter (after their signature held), so an anonymous caller cannot
 *   fill it; a changed byte is another text, a miss, verified in full (and refused).
 * - A hit still asks the ring for the epoch's secret (which reloads it when due): an unknown
 *   or revoked epoch is 401 `key_epoch` at once, and a hit counts only while the ring returns
 *   the secret the chain was checked with (same bytes); the ring's `subscribe` empties the
 *   cache on any change of the keys.
 * - The key is the token text as presented (one accepted text per byte string, contract §9):
 *   a Map lookup costs about what the header read does, where hashing the token first would
 *   cost more than the rest of a cached check. The cache has no listing: it answers `get` for
 *   a text the caller already holds, and counts.
 *
 * Bounded: {@link VERIFIED_TOKENS_ENTRIES_MAX} entries and {@link VERIFIED_TOKENS_CHARS_MAX}
 * characters of token text (an entry's parsed caveats are proportional to its text), LRU.
 *
 * @module
 */
import { timingSafeEqual } from "./macaroon_v2.ts";
import type { Caveat } from "./caveat.ts";
import type { TokenIdentifier } from "./identifier.ts";
import { type CacheStats, createLru } from "../cache/lru.ts";
import type { Registry } from "prom-client";
import { createCacheMetrics } from "../observe/cache_metrics.ts";
import { VERIFIED_TOKENS_CHARS_MAX, VERIFIED_TOKENS_ENTRIES_MAX } from "./limits.ts";

export { VERIFIED_TOKENS_CHARS_MAX, VERIFIED_TOKENS_ENTRIES_MAX };

/** What verifying a token proved, independent of any request. */
export interface VerifiedToken {
  /** The exact identifier text (the max_runs counters and the audit name it). */
  identifierText: string;
  id: TokenIdentifier;
  /** First-party caveats, parsed, in chain order. */
  caveats: readonly Caveat[];
  /** The ring's secret of `id.keyEpoch` the chain was checked with (the ring's own array). */
  secret: Uint8Array;
}

/** The cache, as the verifier and the metrics see it. */
export interface VerifiedTokenCache {
  /** The entry of a token text, or undefined (a miss); counted. */
  get(tokenText: string): VerifiedToken | undefined;
  set(tokenText: string, entry: VerifiedToken): void;
  delete(tokenText: string): void;
  /** Forgets every entry (the key ring changed). */
  clear(): void;
  stats(): CacheStats;
}

/** Bounds of {@link createVerifiedTokenCache} (the named limits by default). */
export interface VerifiedTokenBounds {
  entriesMax?: number;
  charsMax?: number;
}

/** Creates an empty cache. */
export function createVerifiedTokenCache(bounds: VerifiedTokenBounds = {}): VerifiedTokenCache {
  const lru = createLru<VerifiedToken>({
    entriesMax: bounds.entriesMax ?? VERIFIED_TOKENS_ENTRIES_MAX,
    bytesMax: bounds.charsMax ?? VERIFIED_TOKENS_CHARS_MAX,
  });
  return {
    get: (tokenText) => lru.get(tokenText),
    set: (tokenText, entry) => void lru.set(tokenText, entry, tokenText.length),
    delete: (tokenText) => lru.delete(tokenText),
    clear: () => lru.clear(),
    stats: () => lru.stats(),
  };
}

/**
 * True when `entry` was verified under `secretNow`, the ring's secret of its key epoch now
 * (the same array, or after a reload the same bytes, which the entry then keeps).
 */
export function verifiedUnder(entry: VerifiedToken, secretNow: Uint8Array): boolean {
  if (entry.secret === secretNow) return true;
  if (!timingSafeEqual(entry.secret, secretNow)) return false;
  entry.secret = secretNow;
  return true;
}

/** What can be told of key changes (the caps {@link import("./key_file.ts").KeyRing}). */
export interface KeyChanges {
  subscribe(listener: () => void): () => void;
}

/** Options of {@link verifiedTokenCacheFor}. */
export interface VerifiedTokenCacheOptions extends VerifiedTokenBounds {
  /** Where `cache_*{cache="verified_tokens"}` are exported (src/shell/observe/cache_metrics.ts). */
  metrics?: Registry;
}

/** The service's cache: emptied whenever `ring`'s keys change; `close` unsubscribes. */
export function verifiedTokenCacheFor(
  ring: KeyChanges,
  options: VerifiedTokenCacheOptions = {},
): VerifiedTokenCache & { close(): void } {
  const cache = createVerifiedTokenCache(options);
  const unsubscribe = ring.subscribe(() => cache.clear());
  if (options.metrics !== undefined) {
    createCacheMetrics(options.metrics, { verified_tokens: cache });
  }
  return { ...cache, close: unsubscribe };
}
