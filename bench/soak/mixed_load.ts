/**
 * An open-loop mixed client for the chaos test and the soak (docs/RESULTS.md): requests leave on
 * a fixed schedule whatever the answers (a slow or restarting server cannot slow the offer),
 * mixing computes over fresh epochs, re-submissions of earlier computes (replays) and GETs of
 * acknowledged runs and epochs. Every answer is handed to `onSample`; computes answered 200
 * (sealed, not dry) are remembered as acknowledged commitments.
 *
 * The target URL is read per request (`baseUrl()`), so a test can point the load at a restarted
 * service while it keeps running. Deno-only (test and bench code).
 *
 * @module
 */

/** What a request did. */
export type RequestKind = "compute" | "replay" | "get_run" | "get_epoch" | "list_runs";

/** One request's outcome. */
export interface LoadSample {
  kind: RequestKind;
  /** Wall-clock send time (Date.now()). */
  sentAtMs: number;
  latencyMs: number;
  /** HTTP status, or `network` when no answer came (refused, reset, client timeout). */
  status: number | "network";
  /** The Retry-After header, if any. */
  retryAfter: string | null;
  /** The error code of a JSON error body, or the reason of a network error. */
  code: string | undefined;
  /** The request path (no secrets in it; for failure messages). */
  path: string;
}

/** A compute the load may send: fresh inputs already stored in the service's CAS. */
export interface ComputeJob {
  epochId: string;
  body: { inputs_cid: string; policy_id: string; policy_hash: string };
  /** The run key the service must derive (computed client-side). */
  runKey: string;
}

/** Relative weights of the request kinds (need not sum to 1). */
export interface LoadMix {
  compute: number;
  replay: number;
  getRun: number;
  getEpoch: number;
  listRuns: number;
}

/** Options of {@link startMixedLoad}. */
export interface MixedLoadOptions {
  baseUrl: () => string;
  /** Authorization token (a macaroon); called per request so a long soak can refresh it. */
  token: () => string;
  rateRps: number;
  mix: LoadMix;
  /** A fresh compute; its inputs must be stored before it resolves. */
  nextJob: () => Promise<ComputeJob>;
  /** Requests waiting for an answer beyond which a due request is dropped (and counted). */
  outstandingMax: number;
  /** Client-side deadline of one request, ms. */
  requestTimeoutMs: number;
  /** Seed of the request-kind choice. */
  seed: number;
  onSample: (sample: LoadSample) => void;
  /** Computes already answered 200 before the load starts (replayed and read like the others). */
  initialRuns?: readonly ComputeJob[];
}

/** Totals of a finished load. */
export interface LoadTotals {
  scheduled: number;
  /** Due requests not sent because `outstandingMax` were already waiting. */
  dropped: number;
  /** Computes sent (fresh epochs). */
  computesSent: number;
}

/** A running load. */
export interface MixedLoad {
  /** Run keys of computes answered 200 sealed and committed (not dry), → epoch id. */
  acknowledged(): ReadonlyMap<string, string>;
  /** Every compute job sent so far (including unanswered ones). */
  sentJobs(): readonly ComputeJob[];
  /** Stops scheduling, waits (bounded) for outstanding requests, returns the totals. */
  stop(): Promise<LoadTotals>;
}

/** Bound on the wait for outstanding requests when stopping, ms. */
export const STOP_WAIT_MS_MAX = 20_000;
/** Scheduler granularity, ms. */
const SCHEDULER_STEP_MS = 2;
/** Acknowledged runs / sent jobs kept for replays and GETs (oldest dropped beyond). */
export const REMEMBERED_RUNS_MAX = 100_000;

/** Mulberry32: a small seeded PRNG (uniform in [0, 1)). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Starts the load; it runs until `stop()`. */
export function startMixedLoad(o: MixedLoadOptions): MixedLoad {
  const rng = mulberry32(o.seed);
  const acked = new Map<string, string>();
  const ackedKeys: string[] = [];
  const jobs: ComputeJob[] = [];
  const pending = new Set<Promise<void>>();
  let scheduled = 0;
  let dropped = 0;
  let computesSent = 0;
  let running = true;
  for (const job of o.initialRuns ?? []) {
    jobs.push(job);
    acked.set(job.runKey, job.epochId);
    ackedKeys.push(job.runKey);
  }
  const weights = [o.mix.compute, o.mix.replay, o.mix.getRun, o.mix.getEpoch, o.mix.listRuns];
  const totalWeight = weights.reduce((a, b) => a + b, 0);

  function chooseKind(): RequestKind {
    let x = rng() * totalWeight;
    const kinds: RequestKind[] = ["compute", "replay", "get_run", "get_epoch", "list_runs"];
    for (const [i, w] of weights.entries()) {
      if (x < w) return kinds[i]!;
      x -= w;
    }
    return "list_runs";
  }
  const pickOf = <T>(list: readonly T[]): T | undefined =>
    list.length === 0 ? undefined : list[Math.floor(rng() * list.length)];

  async function send(kind: RequestKind): Promise<void> {
    let path: string;
    let init: RequestInit = { method: "GET" };
    let job: ComputeJob | undefined;
    // Fall back to a fresh compute while there is nothing to replay or read yet.
    const ackedKey = pickOf(ackedKeys);
    if (kind === "replay") job = pickOf(jobs);
    if ((kind === "get_run" || kind === "get_epoch") && ackedKey === undefined) kind = "compute";
    if (kind === "replay" && job === undefined) kind = "compute";
    if (kind === "compute") {
      job = await o.nextJob();
      computesSent += 1;
      if (jobs.length >= REMEMBERED_RUNS_MAX) jobs.shift();
      jobs.push(job);
    }
    if (job !== undefined) {
      path = `/rewarder/epochs/${job.epochId}/compute`;
      init = { method: "POST", body: JSON.stringify(job.body) };
    } else if (kind === "get_run") path = `/rewarder/runs/${ackedKey}`;
    else if (kind === "get_epoch") path = `/rewarder/epochs/${acked.get(ackedKey!)}`;
    else path = "/rewarder/runs?limit=20";

    const sentAtMs = Date.now();
    const t0 = performance.now();
    let status: number | "network" = "network";
    let retryAfter: string | null = null;
    let code: string | undefined;
    try {
      const res = await fetch(o.baseUrl() + path, {
        ...init,
        headers: {
          authorization: `Macaroon ${o.token()}`,
          ...(init.method === "POST" ? { "content-type": "application/json" } : {}),
        },
        signal: AbortSignal.timeout(o.requestTimeoutMs),
      });
      const text = await res.text();
      status = res.status;
      retryAfter = res.headers.get("retry-after");
      let doc: Record<string, unknown> | undefined;
      try {
        doc = JSON.parse(text);
      } catch {
        doc = undefined;
      }
      const err = doc?.["error"] as { code?: unknown } | undefined;
      if (typeof err?.code === "string") code = err.code;
      if (
        job !== undefined && status === 200 && doc?.["status"] === "sealed" &&
        doc["dry_run"] === false && doc["run_key"] === job.runKey && !acked.has(job.runKey)
      ) {
        acked.set(job.runKey, job.epochId);
        if (ackedKeys.length >= REMEMBERED_RUNS_MAX) acked.delete(ackedKeys.shift()!);
        ackedKeys.push(job.runKey);
      }
    } catch (err) {
      status = "network";
      code = networkReason(err);
    }
    o.onSample({
      kind,
      sentAtMs,
      latencyMs: performance.now() - t0,
      status,
      retryAfter,
      code,
      path,
    });
  }

  const t0 = performance.now();
  const loop = (async () => {
    while (running) {
      const due = Math.floor(((performance.now() - t0) * o.rateRps) / 1000) + 1;
      while (scheduled < due) {
        scheduled += 1;
        if (pending.size >= o.outstandingMax) {
          dropped += 1;
          continue;
        }
        const p: Promise<void> = send(chooseKind()).catch(() => undefined).finally(() =>
          pending.delete(p)
        );
        pending.add(p);
      }
      await new Promise((r) => setTimeout(r, SCHEDULER_STEP_MS));
    }
  })();

  return {
    acknowledged: () => acked,
    sentJobs: () => jobs,
    async stop() {
      running = false;
      await loop;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...pending]),
        new Promise((r) => {
          timer = setTimeout(r, STOP_WAIT_MS_MAX);
        }),
      ]);
      clearTimeout(timer);
      return { scheduled, dropped, computesSent };
    },
  };
}

/** A short reason for a failed fetch (timeout, refused, reset, …) without any header value. */
function networkReason(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown; cause?: { message?: unknown } };
  if (e?.name === "TimeoutError") return "timeout";
  const text = `${String(e?.message ?? "")} ${String(e?.cause?.message ?? "")}`;
  const m =
    /connection refused|connection reset|broken pipe|connection closed|unexpected eof|incomplete/i
      .exec(text);
  return m ? m[0].toLowerCase() : String(e?.name ?? "error");
}

/** The p-th percentile (0–100) of an ascending list, nearest rank; undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Rounds to 0.1. */
export function round1(x: number | undefined): number | null {
  return x === undefined ? null : Math.round(x * 10) / 10;
}
