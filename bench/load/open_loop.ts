/**
 * A small open-loop HTTP client: requests are sent on a fixed schedule whatever the answers
 * (new connections open as needed), so a slow or rejecting server cannot slow the offer.
 *
 * @module
 */

/** One answered request. */
export interface Sample {
  /** Send time since start (ms). */
  sentMs: number;
  status: number;
  latencyMs: number;
  retryAfter: string | null;
}

/** Raw result of {@link openLoop}. */
export interface OpenLoopResult {
  samples: Sample[];
  sent: number;
  /** Not sent because `outstandingMax` requests were already waiting. */
  dropped: number;
  /** Network errors (no HTTP answer). */
  errors: number;
  /** Wall time over which the requests were sent (ms). */
  sendSpanMs: number;
}

/** Wait for stragglers after the last send (ms). */
const STRAGGLER_WAIT_MS = 10_000;

/** Sends `method` (GET unless given) `url` at `rateRps` for `durationMs`. */
export async function openLoop(o: {
  url: string;
  method?: string;
  /** Request body, sent with every request. */
  body?: string;
  rateRps: number;
  durationMs: number;
  outstandingMax: number;
  headers?: Record<string, string>;
}): Promise<OpenLoopResult> {
  const samples: Sample[] = [];
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let dropped = 0;
  let errors = 0;
  let lastSendMs = 0;
  const t0 = performance.now();
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= o.durationMs) break;
    const due = Math.floor((elapsed * o.rateRps) / 1000) + 1;
    while (sent < due) {
      sent++;
      if (pending.size >= o.outstandingMax) {
        dropped++;
        continue;
      }
      const sentMs = performance.now() - t0;
      lastSendMs = sentMs;
      const p: Promise<void> = fetch(o.url, {
        ...(o.method ? { method: o.method } : {}),
        ...(o.body !== undefined ? { body: o.body } : {}),
        ...(o.headers ? { headers: o.headers } : {}),
      })
        .then(async (r) => {
          await r.arrayBuffer();
          samples.push({
            sentMs,
            status: r.status,
            latencyMs: performance.now() - t0 - sentMs,
            retryAfter: r.headers.get("retry-after"),
          });
        })
        .catch(() => {
          errors++;
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.race([
    Promise.allSettled([...pending]),
    new Promise((r) => setTimeout(r, STRAGGLER_WAIT_MS)),
  ]);
  return { samples, sent, dropped, errors, sendSpanMs: lastSendMs };
}

/** Counts, rates and the per-second admitted series of an open-loop run. */
export function summarizeOpenLoop(
  r: OpenLoopResult,
  durationMs: number,
  expected: { rateRps: number; burst: number },
) {
  const byStatus: Record<string, number> = {};
  for (const s of r.samples) byStatus[s.status] = (byStatus[s.status] ?? 0) + 1;
  const seconds = Math.ceil(durationMs / 1000);
  const admittedPerS = Array.from({ length: seconds }, () => 0);
  const rejectedPerS = Array.from({ length: seconds }, () => 0);
  for (const s of r.samples) {
    const i = Math.min(seconds - 1, Math.floor(s.sentMs / 1000));
    if (s.status === 200) admittedPerS[i]!++;
    else if (s.status === 429) rejectedPerS[i]!++;
  }
  const admitted = byStatus["200"] ?? 0;
  const rejected429 = byStatus["429"] ?? 0;
  const steady = admittedPerS.slice(1);
  const lat = (status: number) => {
    const xs = r.samples.filter((s) => s.status === status).map((s) => s.latencyMs)
      .sort((a, b) => a - b);
    const at = (p: number) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
    return xs.length === 0 ? null : {
      p50Ms: Math.round(at(50)! * 10) / 10,
      p99Ms: Math.round(at(99)! * 10) / 10,
    };
  };
  const retryAfter = [
    ...new Set(r.samples.filter((s) => s.status === 429).map((s) => s.retryAfter)),
  ];
  // The server admits by arrival time; under load answers lag the sends, so the span over
  // which the limiter admitted is up to the last answer, not the send window.
  const lastAnswerMs = Math.max(0, ...r.samples.map((s) => s.sentMs + s.latencyMs));
  return {
    sent: r.sent,
    lastAnswerS: Math.round(lastAnswerMs) / 1000,
    expectedAdmittedOverAnswerSpan: Math.round((expected.rateRps * lastAnswerMs) / 1000) +
      expected.burst,
    offeredRps: Math.round((r.sent / Math.max(r.sendSpanMs, 1)) * 1000),
    dropped: r.dropped,
    networkErrors: r.errors,
    byStatus,
    admitted,
    rejected429,
    expectedAdmitted: Math.round((expected.rateRps * durationMs) / 1000) + expected.burst,
    admittedPerSecond: admittedPerS,
    rejectedPerSecond: rejectedPerS,
    steadyAdmittedRps: Math.round(steady.reduce((a, b) => a + b, 0) / Math.max(steady.length, 1)),
    latencyAdmitted: lat(200),
    latencyRejected: lat(429),
    retryAfterValues: retryAfter,
  };
}
