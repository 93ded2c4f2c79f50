/**
 * Token buckets for the rate limit middleware (contract §12:
 * MAX_RPS 500 with RATE_BURST 200 per instance; TENANT_RPS_MAX per tenant). One instance bucket and a bounded map of per-tenant
 * buckets, a clock injected as `nowMs`, and rates that an operator can lower at runtime
 * (`setRates`: docs/RUNBOOK.md, Clamp rates).
 *
 * A bucket holds at most `burst` tokens and gains `rate` tokens per second; a request takes
 * one. The tenant map keeps at most `tenantBucketsMax` buckets; a new tenant beyond that
 * evicts the least recently used bucket (its debt, at most one second of its rate, is
 * forgiven — tenants are minted by the operator, so churning 10,000 of them is not cheap).
 *
 * Requests without a valid token never take from the instance bucket or a tenant's: they
 * take from a bucket of their peer address (`takeAnonymous`; ANON_PEER_RPS_MAX per second,
 * one second of burst), in a bounded LRU map of peers (ANON_PEERS_MAX). Over a Unix socket
 * there is no peer address: such requests share one anonymous bucket
 * ({@link ANON_SHARED_PEER}). So an anonymous flood spends its own buckets only, and an
 * authenticated tenant's requests keep their tenant's and the instance's tokens
 * (docs/ARCHITECTURE.md, "Order of the middleware").
 *
 * @module
 */

/** Largest rate or burst accepted, per second / tokens. */
export const RATE_LIMIT_MAX = 1_000_000;
/** Default bound of the tenant bucket map (TENANT_BUCKETS_MAX). */
export const TENANT_BUCKETS_MAX_DEFAULT = 10_000;
/** Default rate (and burst) of one peer address's anonymous bucket, requests per second. */
export const ANON_PEER_RPS_MAX_DEFAULT = 50;
/** Default bound of the anonymous peer bucket map (ANON_PEERS_MAX), peers. */
export const ANON_PEERS_MAX_DEFAULT = 10_000;
/** The key of the one anonymous bucket shared by callers without a peer address (Unix socket). */
export const ANON_SHARED_PEER = "unix";

/** The adjustable rates. The tenant burst equals the tenant rate (one second of it). */
export interface Rates {
  /** Instance refill rate, requests per second (MAX_RPS). */
  ratePerSecondMax: number;
  /** Instance bucket size, requests (RATE_BURST). */
  burstMax: number;
  /** Per-tenant refill rate and bucket size, requests per second (TENANT_RPS_MAX). */
  tenantRatePerSecondMax: number;
}

/** Options for {@link createRateLimiter}. */
export interface RateLimiterOptions extends Rates {
  /** Most tenant buckets kept (default 10,000). */
  tenantBucketsMax?: number;
  /** Rate and burst of each peer's anonymous bucket, requests per second (default 50). */
  anonPeerRatePerSecondMax?: number;
  /** Most anonymous peer buckets kept, least recently used evicted (default 10,000). */
  anonPeersMax?: number;
  /** Told of each anonymous refusal (metrics). */
  onAnonymousRefused?: () => void;
  /** Clock in ms (default `Date.now`); only differences are used. */
  nowMs?: () => number;
}

/** Outcome of taking a token. */
export type TakeResult = { ok: true } | { ok: false; retryAfterS: number };

interface Bucket {
  tokens: number;
  lastMs: number;
}

/** A snapshot for metrics and /readyz. */
export interface RateLimiterStats {
  rates: Rates;
  instanceTokens: number;
  tenantBuckets: number;
  /** Anonymous peer buckets held now. */
  anonPeers: number;
  /** Rate and burst of one anonymous peer bucket, per second. */
  anonPeerRatePerSecondMax: number;
}

/** Shared limiter state; create with {@link createRateLimiter}. */
export interface RateLimiter {
  /** Takes one token from the instance bucket. */
  take(): TakeResult;
  /** Takes one token from `tenant`'s bucket. */
  takeTenant(tenant: string): TakeResult;
  /**
   * Takes one token from the anonymous bucket of `peer` (an address, or
   * {@link ANON_SHARED_PEER}); never from the instance's or a tenant's.
   */
  takeAnonymous(peer: string): TakeResult;
  /** Replaces some rates (validated; existing buckets are clamped to the new sizes). */
  setRates(rates: Partial<Rates>): Rates;
  /** The current rates. */
  rates(): Rates;
  /** Current state for metrics. */
  stats(): RateLimiterStats;
}

function checkInt(name: string, v: unknown, min: number, max: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(
      `Cannot configure rate limiter as ${name} must be an integer in ${min}..${max}: current value is ${
        String(v)
      }`,
    );
  }
}

function validateRates(r: Rates): void {
  checkInt("ratePerSecondMax", r.ratePerSecondMax, 1, RATE_LIMIT_MAX);
  checkInt("burstMax", r.burstMax, 1, RATE_LIMIT_MAX);
  checkInt("tenantRatePerSecondMax", r.tenantRatePerSecondMax, 1, RATE_LIMIT_MAX);
}

function refill(b: Bucket, nowMs: number, ratePerS: number, burst: number): void {
  const elapsedMs = Math.max(0, nowMs - b.lastMs); // a clock going back adds nothing
  b.tokens = Math.min(burst, b.tokens + (elapsedMs * ratePerS) / 1000);
  b.lastMs = nowMs;
}

function takeFrom(b: Bucket, nowMs: number, ratePerS: number, burst: number): TakeResult {
  refill(b, nowMs, ratePerS, burst);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return { ok: true };
  }
  return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / ratePerS)) };
}

/**
 * Creates the limiter state shared by `rateLimit` and `tenantRateLimit`.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ ratePerSecondMax: 500, burstMax: 200, tenantRatePerSecondMax: 100 });
 * limiter.setRates({ ratePerSecondMax: 50 }); // incident clamp
 * ```
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  let rates: Rates = {
    ratePerSecondMax: options.ratePerSecondMax,
    burstMax: options.burstMax,
    tenantRatePerSecondMax: options.tenantRatePerSecondMax,
  };
  validateRates(rates);
  const bucketsMax = options.tenantBucketsMax ?? TENANT_BUCKETS_MAX_DEFAULT;
  checkInt("tenantBucketsMax", bucketsMax, 1, RATE_LIMIT_MAX);
  const nowMs = options.nowMs ?? Date.now;
  const instance: Bucket = { tokens: rates.burstMax, lastMs: nowMs() };
  const tenants = new Map<string, Bucket>();
  const anonRate = options.anonPeerRatePerSecondMax ?? ANON_PEER_RPS_MAX_DEFAULT;
  checkInt("anonPeerRatePerSecondMax", anonRate, 1, RATE_LIMIT_MAX);
  const anonPeersMax = options.anonPeersMax ?? ANON_PEERS_MAX_DEFAULT;
  checkInt("anonPeersMax", anonPeersMax, 1, RATE_LIMIT_MAX);
  const anonymous = new Map<string, Bucket>();

  return {
    take: () => takeFrom(instance, nowMs(), rates.ratePerSecondMax, rates.burstMax),
    takeTenant(tenant) {
      const now = nowMs();
      const b = lruBucket(tenants, tenant, bucketsMax, rates.tenantRatePerSecondMax, now);
      return takeFrom(b, now, rates.tenantRatePerSecondMax, rates.tenantRatePerSecondMax);
    },
    takeAnonymous(peer) {
      const now = nowMs();
      const taken = takeFrom(
        lruBucket(anonymous, peer, anonPeersMax, anonRate, now),
        now,
        anonRate,
        anonRate,
      );
      if (!taken.ok) options.onAnonymousRefused?.();
      return taken;
    },
    setRates(next) {
      const merged: Rates = { ...rates };
      for (const key of ["ratePerSecondMax", "burstMax", "tenantRatePerSecondMax"] as const) {
        const v = next[key];
        if (v !== undefined) merged[key] = v;
      }
      validateRates(merged);
      const now = nowMs();
      // Settle refills at the old rates, then clamp to the new sizes.
      refill(instance, now, rates.ratePerSecondMax, rates.burstMax);
      instance.tokens = Math.min(instance.tokens, merged.burstMax);
      for (const b of tenants.values()) {
        refill(b, now, rates.tenantRatePerSecondMax, rates.tenantRatePerSecondMax);
        b.tokens = Math.min(b.tokens, merged.tenantRatePerSecondMax);
      }
      rates = merged;
      return { ...rates };
    },
    rates: () => ({ ...rates }),
    stats() {
      refill(instance, nowMs(), rates.ratePerSecondMax, rates.burstMax);
      return {
        rates: { ...rates },
        instanceTokens: instance.tokens,
        tenantBuckets: tenants.size,
        anonPeers: anonymous.size,
        anonPeerRatePerSecondMax: anonRate,
      };
    },
  };
}

/** The bucket of `key` in the LRU map `map` (created full; the least recent evicted past `max`). */
function lruBucket(
  map: Map<string, Bucket>,
  key: string,
  max: number,
  full: number,
  now: number,
): Bucket {
  let b = map.get(key);
  if (b === undefined) {
    if (map.size >= max) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
    b = { tokens: full, lastMs: now };
  } else {
    map.delete(key); // re-insert below: Map order is our LRU order
  }
  map.set(key, b);
  return b;
}
