/**
 * Event-loop delay gauges at O(1) a scrape, under prom-client's names
 * (`nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds`, and
 * `nodejs_eventloop_lag_seconds`: the delay of the latest sample).
 *
 * prom-client's own collector reads a `perf_hooks.monitorEventLoopDelay` histogram, whose
 * statistics cost milliseconds each on Deno (measured: 2.7 ms for one `stddev` over 20
 * samples; ~4 ms a scrape for the seven) — on the request loop, for every scrape of the public
 * `/metrics`. Here one process-wide timer samples the delay every {@link LAG_SAMPLE_MS}
 * (prom-client's default precision) into a fixed set of counters and {@link LAG_BUCKETS}
 * log-scale buckets; a scrape reads them and starts the next window (as prom-client's
 * `reset`). Percentiles are the upper bound of the bucket they fall in (within a factor of
 * √2, never above the window's max). The timer is unreferenced: it never keeps a process
 * alive. Every registry of the process reads the one window (the service has one registry).
 *
 * @module
 */
import { Gauge, type Registry } from "prom-client";

/** Sampling period, ms. */
export const LAG_SAMPLE_MS = 10;
/** Buckets of the percentile estimate: bucket i holds delays ≤ LAG_BUCKET_FIRST_MS·√2^i. */
export const LAG_BUCKETS = 64;
/** Upper bound of the first bucket, ms. */
const LAG_BUCKET_FIRST_MS = 0.01;

/** One window of samples. */
export interface LagWindow {
  count: number;
  minMs: number;
  maxMs: number;
  sumMs: number;
  sumSqMs: number;
  lastMs: number;
  buckets: Uint32Array;
}

function emptyWindow(lastMs = 0): LagWindow {
  return {
    count: 0,
    minMs: Infinity,
    maxMs: 0,
    sumMs: 0,
    sumSqMs: 0,
    lastMs,
    buckets: new Uint32Array(LAG_BUCKETS),
  };
}

/** The bucket of a delay, ms. */
export function bucketOf(ms: number): number {
  if (!(ms > LAG_BUCKET_FIRST_MS)) return 0;
  const i = Math.ceil(2 * Math.log2(ms / LAG_BUCKET_FIRST_MS));
  return Math.min(LAG_BUCKETS - 1, i);
}

/** Upper bound of bucket `i`, ms. */
export function bucketBoundMs(i: number): number {
  return LAG_BUCKET_FIRST_MS * Math.SQRT2 ** i;
}

/** Adds one sample to `w`. */
export function record(w: LagWindow, ms: number): void {
  w.count++;
  w.minMs = Math.min(w.minMs, ms);
  w.maxMs = Math.max(w.maxMs, ms);
  w.sumMs += ms;
  w.sumSqMs += ms * ms;
  w.lastMs = ms;
  w.buckets[bucketOf(ms)]!++;
}

/** The q-quantile (0..1) of `w`, ms: its bucket's upper bound, at most the max; 0 if empty. */
export function quantileMs(w: LagWindow, q: number): number {
  if (w.count === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * w.count));
  let seen = 0;
  for (let i = 0; i < LAG_BUCKETS; i++) {
    seen += w.buckets[i]!;
    if (seen >= rank) return Math.min(bucketBoundMs(i), w.maxMs);
  }
  return w.maxMs;
}

/** Statistics of `w`, seconds (0 for an empty window, as prom-client reports). */
export function statsOf(w: LagWindow) {
  const s = (ms: number) => ms / 1000;
  if (w.count === 0) {
    return { last: s(w.lastMs), min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 };
  }
  const mean = w.sumMs / w.count;
  const variance = Math.max(0, w.sumSqMs / w.count - mean * mean);
  return {
    last: s(w.lastMs),
    min: s(w.minMs),
    max: s(w.maxMs),
    mean: s(mean),
    stddev: s(Math.sqrt(variance)),
    p50: s(quantileMs(w, 0.5)),
    p90: s(quantileMs(w, 0.9)),
    p99: s(quantileMs(w, 0.99)),
  };
}

let current: LagWindow | undefined;

/** Starts the process-wide sampler once; returns a function that takes the window and resets it. */
function sampler(): () => LagWindow {
  if (current === undefined) {
    current = emptyWindow();
    let expected = performance.now() + LAG_SAMPLE_MS;
    const timer = setInterval(() => {
      const now = performance.now();
      record(current!, Math.max(0, now - expected));
      expected = now + LAG_SAMPLE_MS;
    }, LAG_SAMPLE_MS);
    if (typeof timer === "number") {
      (globalThis as { Deno?: { unrefTimer(id: number): void } }).Deno?.unrefTimer(timer);
    } else {
      (timer as { unref?: () => void }).unref?.();
    }
  }
  return () => {
    const taken = current!;
    current = emptyWindow(taken.lastMs);
    return taken;
  };
}

/** Registers the event-loop delay gauges on `registry`. */
export function registerEventLoopLag(registry: Registry): void {
  const take = sampler();
  const gauge = (suffix: string, help: string, collect?: () => void) =>
    new Gauge({
      name: `nodejs_eventloop_lag${suffix}_seconds`,
      help,
      registers: [registry],
      ...(collect === undefined ? {} : { collect }),
    });
  // Registered first, so its collect sets every gauge from one window before they render.
  const last = gauge("", "Lag of event loop in seconds (the latest sample).", () => {
    const w = statsOf(take());
    last.set(w.last);
    min.set(w.min);
    max.set(w.max);
    mean.set(w.mean);
    stddev.set(w.stddev);
    p50.set(w.p50);
    p90.set(w.p90);
    p99.set(w.p99);
  });
  const min = gauge("_min", "The minimum recorded event loop delay.");
  const max = gauge("_max", "The maximum recorded event loop delay.");
  const mean = gauge("_mean", "The mean of the recorded event loop delays.");
  const stddev = gauge("_stddev", "The standard deviation of the recorded event loop delays.");
  const p50 = gauge("_p50", "The 50th percentile of the recorded event loop delays.");
  const p90 = gauge("_p90", "The 90th percentile of the recorded event loop delays.");
  const p99 = gauge("_p99", "The 99th percentile of the recorded event loop delays.");
}
