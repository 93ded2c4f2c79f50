import assert from "node:assert/strict";
import fc from "fast-check";
import {
  bucketBoundMs,
  bucketOf,
  LAG_BUCKETS,
  type LagWindow,
  quantileMs,
  record,
  statsOf,
} from "./event_loop_lag.ts";

function windowOf(samples: number[]): LagWindow {
  const w: LagWindow = {
    count: 0,
    minMs: Infinity,
    maxMs: 0,
    sumMs: 0,
    sumSqMs: 0,
    lastMs: 0,
    buckets: new Uint32Array(LAG_BUCKETS),
  };
  for (const s of samples) record(w, s);
  return w;
}

Deno.test("event-loop lag: min, max, mean, stddev exact; an empty window reads 0", () => {
  const s = statsOf(windowOf([1, 2, 3, 4]));
  assert.equal(s.min, 0.001);
  assert.equal(s.max, 0.004);
  assert.equal(s.mean, 0.0025);
  assert.ok(Math.abs(s.stddev - Math.sqrt(1.25) / 1000) < 1e-12);
  assert.equal(s.last, 0.004);
  assert.deepEqual(statsOf(windowOf([])), {
    last: 0,
    min: 0,
    max: 0,
    mean: 0,
    stddev: 0,
    p50: 0,
    p90: 0,
    p99: 0,
  });
});

Deno.test("event-loop lag (property): a percentile is within a factor √2 above the exact one, never above the max", () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0.02, max: 5_000, noNaN: true }), { minLength: 1, maxLength: 200 }),
      fc.constantFrom(0.5, 0.9, 0.99),
      (samples, q) => {
        const w = windowOf(samples);
        const sorted = [...samples].sort((a, b) => a - b);
        const exact = sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
        const est = quantileMs(w, q);
        assert.ok(est >= exact - 1e-9, `${est} < ${exact}`);
        assert.ok(est <= exact * Math.SQRT2 + 1e-9, `${est} > √2 × ${exact}`);
        assert.ok(est <= w.maxMs);
      },
    ),
  );
});

Deno.test("event-loop lag: bucket bounds are increasing and a delay lies in its bucket", () => {
  for (let i = 1; i < LAG_BUCKETS; i++) assert.ok(bucketBoundMs(i) > bucketBoundMs(i - 1));
  for (const ms of [0, 0.005, 0.01, 0.011, 1, 10, 123.4, 1e6]) {
    const i = bucketOf(ms);
    assert.ok(ms <= bucketBoundMs(i) || i === LAG_BUCKETS - 1, `${ms} in ${i}`);
    if (i > 0) assert.ok(ms > bucketBoundMs(i - 1) * (1 - 1e-12), `${ms} above ${i - 1}`);
  }
});
