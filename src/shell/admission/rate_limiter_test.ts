import assert from "node:assert/strict";
import { createRateLimiter } from "./rate_limiter.ts";

function clock() {
  let now = 1_000_000;
  return { nowMs: () => now, advance: (ms: number) => void (now += ms) };
}

function drain(take: () => { ok: boolean }, bound: number): number {
  let n = 0;
  while (n < bound && take().ok) n += 1;
  return n;
}

Deno.test("instance bucket: burst, then rate per second, with Retry-After", () => {
  const c = clock();
  const l = createRateLimiter({
    ratePerSecondMax: 500,
    burstMax: 200,
    tenantRatePerSecondMax: 100,
    nowMs: c.nowMs,
  });
  assert.equal(drain(() => l.take(), 1_000), 200);
  const denied = l.take();
  assert.deepEqual(denied, { ok: false, retryAfterS: 1 });
  c.advance(100); // 50 tokens
  assert.equal(drain(() => l.take(), 1_000), 50);
  c.advance(60_000); // refills only up to the burst
  assert.equal(drain(() => l.take(), 1_000), 200);
});

Deno.test("Retry-After grows when the rate is low", () => {
  const c = clock();
  const l = createRateLimiter({
    ratePerSecondMax: 1,
    burstMax: 1,
    tenantRatePerSecondMax: 1,
    nowMs: c.nowMs,
  });
  assert.equal(l.take().ok, true);
  assert.deepEqual(l.take(), { ok: false, retryAfterS: 1 });
  c.advance(999);
  assert.equal(l.take().ok, false);
  c.advance(1);
  assert.equal(l.take().ok, true);
});

Deno.test("tenant buckets are separate and hold one second of the tenant rate", () => {
  const c = clock();
  const l = createRateLimiter({
    ratePerSecondMax: 500,
    burstMax: 200,
    tenantRatePerSecondMax: 5,
    nowMs: c.nowMs,
  });
  assert.equal(drain(() => l.takeTenant("acme"), 100), 5);
  assert.equal(l.takeTenant("acme").ok, false);
  assert.equal(drain(() => l.takeTenant("beta"), 100), 5);
  c.advance(200);
  assert.equal(drain(() => l.takeTenant("acme"), 100), 1);
});

Deno.test("tenant map stays bounded and evicts the least recently used", () => {
  const c = clock();
  const l = createRateLimiter({
    ratePerSecondMax: 500,
    burstMax: 200,
    tenantRatePerSecondMax: 2,
    tenantBucketsMax: 3,
    nowMs: c.nowMs,
  });
  for (const t of ["a", "b", "c"]) drain(() => l.takeTenant(t), 10);
  l.takeTenant("a"); // touch a: b is now the oldest
  l.takeTenant("d");
  assert.equal(l.stats().tenantBuckets, 3);
  assert.equal(l.takeTenant("a").ok, false, "a kept its empty bucket");
  assert.equal(l.takeTenant("b").ok, true, "b was evicted and starts fresh");
  for (let i = 0; i < 100; i += 1) l.takeTenant(`t${i}`);
  assert.equal(l.stats().tenantBuckets, 3);
});

Deno.test("setRates clamps at runtime and validates; a bad clamp changes nothing", () => {
  const c = clock();
  const l = createRateLimiter({
    ratePerSecondMax: 500,
    burstMax: 200,
    tenantRatePerSecondMax: 100,
    nowMs: c.nowMs,
  });
  drain(() => l.takeTenant("acme"), 1);
  const r = l.setRates({ ratePerSecondMax: 10, burstMax: 5, tenantRatePerSecondMax: 3 });
  assert.deepEqual(r, { ratePerSecondMax: 10, burstMax: 5, tenantRatePerSecondMax: 3 });
  assert.equal(drain(() => l.take(), 1_000), 5, "instance tokens clamped to the new burst");
  assert.equal(drain(() => l.takeTenant("acme"), 1_000), 3, "tenant tokens clamped");
  c.advance(1_000);
  assert.equal(drain(() => l.take(), 1_000), 5);
  assert.throws(() => l.setRates({ burstMax: 0 }), RangeError);
  assert.throws(() => l.setRates({ ratePerSecondMax: 1.5 }), RangeError);
  assert.deepEqual(l.rates(), r);
  assert.deepEqual(l.setRates({ ratePerSecondMax: 20 }).burstMax, 5);
});

Deno.test("a clock going backwards adds no tokens", () => {
  const c = clock();
  const l = createRateLimiter({
    ratePerSecondMax: 10,
    burstMax: 1,
    tenantRatePerSecondMax: 1,
    nowMs: c.nowMs,
  });
  assert.equal(l.take().ok, true);
  c.advance(-10_000);
  assert.equal(l.take().ok, false);
});

Deno.test("createRateLimiter validates options", () => {
  const ok = { ratePerSecondMax: 1, burstMax: 1, tenantRatePerSecondMax: 1 };
  assert.throws(() => createRateLimiter({ ...ok, ratePerSecondMax: 0 }), RangeError);
  assert.throws(() => createRateLimiter({ ...ok, burstMax: -1 }), RangeError);
  assert.throws(() => createRateLimiter({ ...ok, tenantRatePerSecondMax: Number.NaN }), RangeError);
  assert.throws(() => createRateLimiter({ ...ok, tenantBucketsMax: 0 }), RangeError);
});

Deno.test("anonymous peer buckets: their own rate, bounded LRU map, refusals reported", () => {
  const c = clock();
  let refused = 0;
  const l = createRateLimiter({
    ratePerSecondMax: 10,
    burstMax: 10,
    tenantRatePerSecondMax: 10,
    anonPeerRatePerSecondMax: 4,
    anonPeersMax: 2,
    nowMs: c.nowMs,
    onAnonymousRefused: () => void (refused += 1),
  });
  assert.equal(drain(() => l.takeAnonymous("10.0.0.1"), 100), 4);
  assert.equal(refused, 1);
  assert.equal(l.stats().instanceTokens, 10, "never the instance bucket");
  assert.equal(drain(() => l.takeTenant("acme"), 100), 10, "never a tenant's");
  l.takeAnonymous("10.0.0.2");
  l.takeAnonymous("10.0.0.3"); // evicts 10.0.0.1, the least recently used
  assert.equal(l.stats().anonPeers, 2);
  assert.equal(l.takeAnonymous("10.0.0.1").ok, true, "evicted: starts full");
  c.advance(250); // one token
  assert.equal(drain(() => l.takeAnonymous("10.0.0.3"), 100), 4);
});
