// Chaos under load (issue 9 item 3): the real service (`main.ts`, file store) under an
// open-loop mixed load (computes over fresh epochs, replays and GETs) while the real dev ledger
// goes through latency spikes (some past the attempt deadline: committed at the ledger,
// acknowledgement lost) and an outage (refused connections, then 5xx), then a graceful restart
// (SIGTERM) and a hard one (SIGKILL) of the service under load on the same DATA_DIR. At the
// end, bounded:
// - every committed run's intent is applied exactly once at the ledger (/_stats), and every run
//   a client saw acknowledged is committed;
// - clients saw no 5xx other than 503 with Retry-After, no other 4xx than 429, and network
//   errors only around the restarts;
// - /readyz reported `dep_outage` during the outage and dropped it after (breaker cool-down);
// - the outbox drains.
//
// Nothing here depends on how fast the machine is (docs/RESULTS.md "Chaos and soak"):
// - the offered rate is a share of the compute capacity measured in the same run (closed-loop
//   calibration on the fresh service), capped just under MAX_RPS;
// - every phase lasts until what it is for has been observed (acknowledged computes, spike and
//   outage faults consumed by real deliveries, `dep_outage` reported, the breaker closed again),
//   each bounded by a generous maximum, instead of a fixed duration.
//
//   deno test --allow-all tests/chaos_test.ts        (≈ 1.5–2 minutes on a quiet machine)
//   CHAOS_SEED=<n> fixes the request mix (printed on failure).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devToken } from "../src/shell/keys/dev_bootstrap.ts";
import { BREAKER_COOL_DOWN_MS } from "../src/shell/outbox/limits.ts";
import {
  assertAppliedExactly,
  expectedRunKey,
  type Ledger,
  prepareDataDir,
  putInputs,
  type Service,
  sleep,
  startLedger,
  startService,
} from "./support/crash_harness.ts";
import {
  type ComputeJob,
  type LoadSample,
  type LoadTotals,
  type MixedLoad,
  type MixedLoadOptions,
  percentile,
  round1,
  startMixedLoad,
} from "../bench/soak/mixed_load.ts";

const SEED = Number(Deno.env.get("CHAOS_SEED") ?? String(Date.now() % 1_000_000_007));

/** The caps under test; the offered load stays under them. */
const MAX_RPS = 100;
const RATE_BURST = 50;
/**
 * Ledger attempt deadline of the service under test (DOWNSTREAM_ATTEMPT_MS), ms: this many
 * times the mean closed-loop compute time of the calibration, within the bounds (1 s on a quiet
 * machine). A busy machine slows the ledger's own answers as much as the computes, and a
 * deadline every delivery misses is not a latency spike. The calibration's service has the
 * contract's 10 s.
 */
const ATTEMPT_PER_COMPUTE = 6;
const ATTEMPT_MS_MIN = 1_000;
const ATTEMPT_MS_MAX = 10_000;
/** Connect budget: at most this (REQUEST_TIMEOUT_MS, 5 s, must exceed it), ms. */
const CONNECT_MS_MAX = 2_000;
/** Mix: about a third fresh computes, the rest replays and reads. */
const MIX = { compute: 0.35, replay: 0.1, getRun: 0.25, getEpoch: 0.2, listRuns: 0.1 };

/**
 * Calibration (the same-run baseline): one untimed compute warms the engine, then
 * CALIBRATION_COMPUTES sealed computes, CALIBRATION_WORKERS at a time, give the service's
 * closed-loop compute capacity on this machine right now.
 */
const CALIBRATION_COMPUTES = 24;
const CALIBRATION_WORKERS = 4;
/** Bound on one calibration request (the first one meets a cold engine worker), ms. */
const CALIBRATION_REQUEST_MS = 60_000;
/** Attempts of a calibration compute answered 503/429 with Retry-After. */
const CALIBRATION_ATTEMPTS_MAX = 20;
/**
 * Share of the measured capacity offered as fresh computes under load: the rest is for the
 * reads, the deliveries, the ledger, the restarts and this client (all on the same cores).
 */
const CAPACITY_SHARE = 0.25;
/**
 * The machine can get busier after the calibration (other work starting): when more than half of
 * the computes answered in the last SHED_WINDOW_MS were shed (503 with Retry-After), the client backs
 * off as a client honouring Retry-After would: the open-loop rate is halved (never below
 * LOAD_RPS_MIN; it is never raised again).
 */
const SHED_WINDOW_MS = 5_000;
const SHED_COMPUTES_MIN = 5;
/** Bounds of the offered rate, RPS (the upper one just under MAX_RPS, as on a quiet machine). */
const LOAD_RPS_MAX = 90;
const LOAD_RPS_MIN = 2;

/** Computes acknowledged (sent within the phase) that end the warm-up and each after-restart phase. */
const PHASE_ACKS = 15;
/** Bound on any phase that waits for an event (acknowledgements, faults consumed, readyz), ms. */
const PHASE_MS_MAX = 120_000;
/** Poll interval of those waits, ms. */
const PHASE_POLL_MS = 100;
/** The breaker stays open for its cool-down after the last failure: wait that plus margin. */
const RECOVERY_WAIT_MS_MAX = BREAKER_COOL_DOWN_MS + 60_000;
/** Bound on the outbox drain after the load stops, ms. */
const DRAIN_WAIT_MS_MAX = 120_000;
/** A network error is expected up to this long after the restarted service listens, ms. */
const NETWORK_GRACE_MS = 1_000;
/**
 * A graceful stop answers what it already received: a request sent this long before SIGTERM
 * must get an answer (closer to the signal it may still be in transit on a closing keep-alive
 * connection, which is the client's race, not the service's), ms.
 */
const GRACEFUL_RECEIVED_MS = 500;
/**
 * Bound on a graceful stop before the test's SIGKILL, ms: the listener drains up to 10 s, then
 * the dispatcher finishes its running delivery cycle (up to 3 attempts of the calibrated
 * deadline, up to 10 s each, with backoff), all slower on a busy machine.
 */
const GRACEFUL_STOP_MS_MAX = 90_000;

/** /readyz poll interval and one poll's bound, and the fault script top-up interval, ms. */
const READYZ_POLL_MS = 250;
const READYZ_TIMEOUT_MS = 10_000;
const FAULT_POLL_MS = 100;
/** Fault script length kept queued at the dev ledger during a fault window. */
const SPIKE_QUEUE = 16;
const OUTAGE_QUEUE = 6;
/**
 * Faults consumed by real deliveries that end a window: two turns of the spike script (two
 * deliveries past the attempt deadline); for the outage, two failures (and `dep_outage`
 * reported by /readyz, see below).
 */
const SPIKE_CONSUMED_MIN = 16;
const OUTAGE_CONSUMED_MIN = 2;
/**
 * Spike delays, as shares of the attempt deadline: all well under it except one in eight, which
 * is past it (the ledger commits, the acknowledgement is lost, the redelivery must be a
 * duplicate). Few enough consecutive timeouts that the breaker (5 in a row) stays closed:
 * spikes are not an outage.
 */
const SPIKE_SHARES = [1.5, 0.3, 0.6, 0.1, 0.5, 0.4, 0.2, 0.6];
/**
 * Outage: both kinds interleaved, because whichever comes first opens the breaker (5 failed
 * attempts in a row) and from then on nothing is delivered until its cool-down ends. A
 * `refuse` closes the ledger's listener for 400 ms (connects fail without consuming the script).
 */
const OUTAGE_SCRIPT = ["5xx", "refuse", "5xx", "5xx", "refuse", "5xx"];
/** Bound on flushing a fault script left over at the end of a window (junk deliveries). */
const FLUSH_ATTEMPTS_MAX = 400;

/** Open-loop client limits. */
const OUTSTANDING_MAX = 512;
const REQUEST_TIMEOUT_MS = 15_000;
/** Pages of 500 runs followed when listing every run. */
const LIST_PAGES_MAX = 100;
/** Unexpected answers quoted in a failure. */
const EXAMPLES_MAX = 15;

interface Phase {
  name: string;
  startMs: number;
  endMs: number;
}
interface ReadySample {
  atMs: number;
  status: number | "down";
  causes: string[];
}

/** Length of the dev ledger's fault script (an empty POST /_faults answers it). */
async function queuedFaults(ledger: Ledger): Promise<number | undefined> {
  try {
    const res = await fetch(`${ledger.url}/_faults`, {
      method: "POST",
      body: JSON.stringify({ faults: [] }),
      signal: AbortSignal.timeout(2_000),
    });
    return Number((await res.json()).queued);
  } catch {
    return undefined; // `refuse` has the listener closed for a moment
  }
}

/** What a fault window did: faults queued, consumed by real deliveries, and whether it ended on its condition. */
interface FaultWindowResult {
  queuedTotal: number;
  consumed: number;
  reached: boolean;
}

/**
 * Keeps the dev ledger's fault script topped up until `done(consumed)` holds (`consumed`: the
 * faults taken by real deliveries so far), bounded by PHASE_MS_MAX, then flushes what is left.
 */
async function faultWindow(
  ledger: Ledger,
  script: readonly string[],
  queueLength: number,
  done: (consumed: number) => boolean,
): Promise<FaultWindowResult> {
  const endMs = Date.now() + PHASE_MS_MAX;
  let next = 0;
  let queuedTotal = 0;
  let reached = false;
  while (Date.now() < endMs) {
    const queued = await queuedFaults(ledger);
    if (queued !== undefined && done(queuedTotal - queued)) {
      reached = true;
      break;
    }
    if (queued !== undefined && queued < queueLength) {
      const add = Array.from(
        { length: queueLength - queued },
        () => script[next++ % script.length]!,
      );
      try {
        await ledger.faults(add);
        queuedTotal += add.length;
      } catch {
        // closed by a `refuse` right now: the next poll tops up
      }
    }
    await sleep(FAULT_POLL_MS);
  }
  // A leftover fault would hit the first delivery after the window (e.g. the breaker's probe):
  // consume them with junk deliveries (refused by schema before any commit or delay).
  let leftAtEnd: number | undefined;
  for (let i = 0; i < FLUSH_ATTEMPTS_MAX; i++) {
    const queued = await queuedFaults(ledger);
    leftAtEnd ??= queued;
    if (queued === 0) return { queuedTotal, consumed: queuedTotal - (leftAtEnd ?? 0), reached };
    if (queued !== undefined) {
      try {
        const res = await fetch(`${ledger.url}/intents`, {
          method: "POST",
          headers: { "idempotency-key": "chaos-flush" },
          body: "{}",
          signal: AbortSignal.timeout(2_000),
        });
        await res.body?.cancel();
      } catch {
        // a `refuse` consumed by this very request, or the listener still closed
      }
    }
    await sleep(20);
  }
  throw new Error(`could not flush the fault script within ${FLUSH_ATTEMPTS_MAX} attempts`);
}

function statsOf(samples: LoadSample[]) {
  const byStatus: Record<string, number> = {};
  for (const s of samples) byStatus[String(s.status)] = (byStatus[String(s.status)] ?? 0) + 1;
  const ok = samples.filter((s) => s.status === 200).map((s) => s.latencyMs).sort((a, b) => a - b);
  return {
    n: samples.length,
    byStatus,
    p50Ms: round1(percentile(ok, 50)),
    p99Ms: round1(percentile(ok, 99)),
  };
}

/** Network errors per restart window: count by reason, and send times relative to it. */
function networkSummary(
  samples: LoadSample[],
  windows: { startMs: number; listeningMs: number }[],
) {
  return windows.map((w) => {
    const mine = samples.filter((s) =>
      s.status === "network" && s.sentAtMs + s.latencyMs >= w.startMs &&
      s.sentAtMs <= w.listeningMs + NETWORK_GRACE_MS
    );
    const reasons: Record<string, number> = {};
    for (const s of mine) reasons[s.code ?? "?"] = (reasons[s.code ?? "?"] ?? 0) + 1;
    const afterListening = mine.filter((s) => s.sentAtMs >= w.listeningMs)
      .map((s) => `${s.kind}+${s.sentAtMs - w.listeningMs}ms:${s.code}`);
    // Sent before the signal and never answered (a graceful drain should answer these).
    const inFlightAtSignal = mine.filter((s) => s.sentAtMs < w.startMs)
      .map((s) => `${s.kind}-${w.startMs - s.sentAtMs}ms:${s.code}`);
    return { downMs: w.listeningMs - w.startMs, reasons, inFlightAtSignal, afterListening };
  });
}

/** A Retry-After header (seconds) in ms, at least 100 ms and at most 5 s. */
function retryAfterMs(header: string | null): number {
  const seconds = Number(header ?? "0");
  return Math.min(5_000, Math.max(100, Number.isFinite(seconds) ? seconds * 1_000 : 0));
}

async function listAll(url: string, token: string) {
  const out: { run_key: string; epoch_id: string; dry_run: boolean; emission: string }[] = [];
  let cursor: string | null = null;
  let limited = 0;
  for (let page = 0; page < LIST_PAGES_MAX; page++) {
    const q: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const res = await fetch(`${url}/rewarder/runs?limit=500${q}`, {
      headers: { authorization: `Macaroon ${token}` },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    // 429, or 503 with Retry-After (shed under contention): the same page again, after the
    // Retry-After a client honours (bounded by `limited`).
    const retryAfter = res.headers.get("retry-after");
    if (
      (res.status === 429 || (res.status === 503 && retryAfter !== null)) &&
      limited < LIST_PAGES_MAX
    ) {
      await res.body?.cancel();
      limited += 1;
      page -= 1;
      await sleep(retryAfterMs(retryAfter));
      continue;
    }
    assert.equal(res.status, 200, `listing runs: ${res.status}`);
    const doc = await res.json();
    out.push(...doc.runs);
    cursor = doc.next_cursor;
    if (cursor === null) return out;
  }
  throw new Error("too many pages of runs");
}

/** What the calibration measured, and the offered rate chosen from it. */
interface Calibration {
  warmMs: number;
  computes: number;
  ms: number;
  computesPerS: number;
  sheddedAndRetried: number;
  loadRps: number;
  attemptMs: number;
}

/**
 * One sealed compute, closed-loop: 503/429 with Retry-After are retried as a client would;
 * anything else than 200 sealed with the expected run key fails the test.
 */
async function computeOnce(url: string, token: string, job: ComputeJob): Promise<number> {
  let retried = 0;
  for (let attempt = 0; attempt < CALIBRATION_ATTEMPTS_MAX; attempt++) {
    const res = await fetch(`${url}/rewarder/epochs/${job.epochId}/compute`, {
      method: "POST",
      headers: { authorization: `Macaroon ${token}`, "content-type": "application/json" },
      body: JSON.stringify(job.body),
      signal: AbortSignal.timeout(CALIBRATION_REQUEST_MS),
    });
    const text = await res.text();
    const retryAfter = res.headers.get("retry-after");
    if ((res.status === 503 || res.status === 429) && retryAfter !== null) {
      retried += 1;
      await sleep(retryAfterMs(retryAfter));
      continue;
    }
    assert.equal(res.status, 200, `calibration compute: ${res.status} ${text.slice(0, 300)}`);
    const doc = JSON.parse(text);
    assert.equal(doc.status, "sealed", `calibration compute: ${text.slice(0, 300)}`);
    assert.equal(doc.run_key, job.runKey, "calibration compute: the run key");
    return retried;
  }
  throw new Error(`calibration compute shed ${CALIBRATION_ATTEMPTS_MAX} times`);
}

/**
 * The same-run baseline: the service's closed-loop compute capacity now, on this machine, and
 * the open-loop rate that offers CAPACITY_SHARE of it as fresh computes.
 */
async function calibrate(url: string, token: string, jobs: ComputeJob[]): Promise<Calibration> {
  const [warm, ...timed] = jobs;
  const w0 = performance.now();
  let retried = await computeOnce(url, token, warm!);
  const warmMs = performance.now() - w0;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CALIBRATION_WORKERS }, async () => {
      while (next < timed.length) retried += await computeOnce(url, token, timed[next++]!);
    }),
  );
  const ms = performance.now() - t0;
  const computesPerS = timed.length / (ms / 1_000);
  const share = MIX.compute /
    (MIX.compute + MIX.replay + MIX.getRun + MIX.getEpoch + MIX.listRuns);
  const loadRps = Math.min(
    LOAD_RPS_MAX,
    Math.max(LOAD_RPS_MIN, Math.round((computesPerS * CAPACITY_SHARE) / share)),
  );
  const meanComputeMs = (ms * CALIBRATION_WORKERS) / timed.length;
  const attemptMs = Math.min(
    ATTEMPT_MS_MAX,
    Math.max(ATTEMPT_MS_MIN, Math.round(ATTEMPT_PER_COMPUTE * meanComputeMs)),
  );
  return {
    warmMs: Math.round(warmMs),
    computes: timed.length,
    ms: Math.round(ms),
    computesPerS: round1(computesPerS)!,
    sheddedAndRetried: retried,
    loadRps,
    attemptMs,
  };
}

/**
 * The open-loop load as segments of {@link startMixedLoad} at a falling rate: a new segment at
 * half the rate replaces the current one while most computes are being shed (see
 * SHED_WINDOW_MS). Acknowledged and sent computes are the union over the segments; each new
 * segment replays and reads what the earlier ones had acknowledged.
 */
function adaptiveLoad(
  base: Omit<MixedLoadOptions, "rateRps" | "seed" | "initialRuns">,
  rateRps: number,
  initialRuns: readonly ComputeJob[],
  samples: readonly LoadSample[],
): MixedLoad & { rates: { atMs: number; rps: number }[] } {
  const segments: MixedLoad[] = [];
  const stopping: Promise<LoadTotals>[] = [];
  const rates = [{ atMs: Date.now(), rps: rateRps }];
  const acknowledgedJobs = () => {
    const acked = new Map<string, ComputeJob>();
    for (const seg of segments) {
      const keys = seg.acknowledged();
      for (const job of seg.sentJobs()) if (keys.has(job.runKey)) acked.set(job.runKey, job);
    }
    return [...acked.values()];
  };
  const start = (rps: number, runs: readonly ComputeJob[]) =>
    segments.push(
      startMixedLoad({ ...base, rateRps: rps, seed: SEED + segments.length, initialRuns: runs }),
    );
  start(rateRps, initialRuns);
  let running = true;
  const guard = (async () => {
    let checkedAtMs = Date.now();
    while (running) {
      await sleep(PHASE_POLL_MS);
      const now = Date.now();
      if (now - checkedAtMs < SHED_WINDOW_MS) continue;
      checkedAtMs = now;
      // By answer time: a compute shed at its deadline was sent that long before.
      const computes = samples.filter((x) =>
        x.kind === "compute" && x.sentAtMs + x.latencyMs >= now - SHED_WINDOW_MS
      );
      const shed = computes.filter((x) => x.status === 503 && x.retryAfter !== null);
      const rps = rates.at(-1)!.rps;
      if (computes.length >= SHED_COMPUTES_MIN && shed.length * 2 > computes.length) {
        const next = Math.max(LOAD_RPS_MIN, Math.floor(rps / 2));
        if (next === rps) continue;
        rates.push({ atMs: now, rps: next });
        const old = segments.at(-1)!;
        start(next, acknowledgedJobs());
        stopping.push(old.stop());
      }
    }
  })();
  return {
    rates,
    acknowledged: () => new Map(acknowledgedJobs().map((j) => [j.runKey, j.epochId])),
    sentJobs: () => {
      const all = new Map<string, ComputeJob>();
      for (const seg of segments) for (const j of seg.sentJobs()) all.set(j.runKey, j);
      return [...all.values()];
    },
    async stop() {
      running = false;
      await guard;
      // Totals over every segment.
      const all = await Promise.all([...stopping, segments.at(-1)!.stop()]);
      return all.reduce((a, t) => ({
        scheduled: a.scheduled + t.scheduled,
        dropped: a.dropped + t.dropped,
        computesSent: a.computesSent + t.computesSent,
      }), { scheduled: 0, dropped: 0, computesSent: 0 });
    },
  };
}

/** Polls `cond` every PHASE_POLL_MS until it holds, at most PHASE_MS_MAX (or `maxMs`). */
async function until(cond: () => boolean, maxMs = PHASE_MS_MAX): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(PHASE_POLL_MS);
  }
  return true;
}

Deno.test({
  name:
    `chaos: ledger spikes and outage, SIGTERM and SIGKILL restarts under load (CHAOS_SEED=${SEED})`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await mkdtemp(join(tmpdir(), "rw-chaos-"));
    const dataDir = join(dir, "data");
    let ledger: Ledger | undefined;
    let service: Service | undefined;
    let stopPoller = false;
    let poller: Promise<void> = Promise.resolve();
    let load: MixedLoad | undefined;
    let loadStopped = false;
    const log: string[] = [];
    // What is known so far, printed whatever step fails.
    const progress: Record<string, unknown> = { seed: SEED };
    const samples: LoadSample[] = [];
    const phases: Phase[] = [];
    try {
      const d = await prepareDataDir(dataDir);
      ledger = await startLedger(dir, d.ledgerKeys);
      const baseEnv = {
        DATA_DIR: dataDir,
        LEDGER_URL: ledger.url,
        MAX_RPS: String(MAX_RPS),
        RATE_BURST: String(RATE_BURST),
        TENANT_RPS_MAX: String(MAX_RPS),
      };
      service = await startService(baseEnv);
      const token = await devToken(d.capsKeysPath, Date.now());
      const policy = d.sealedPolicy;
      let epochNo = 0;
      const nextJob = async (): Promise<ComputeJob> => {
        const epochId = `chaos-${SEED}-${epochNo++}`;
        const cid = await putInputs(dataDir, epochId, { poolMinor: 1000n, overflow: false });
        return {
          epochId,
          body: { inputs_cid: cid, policy_id: policy.policyId, policy_hash: policy.policyHash },
          runKey: expectedRunKey(epochId, policy.policyHash, cid),
        };
      };

      // /readyz, polled throughout against whichever service is current.
      const ready: ReadySample[] = [];
      poller = (async () => {
        while (!stopPoller) {
          const atMs = Date.now();
          try {
            const res = await fetch(`${service!.url}/readyz`, {
              signal: AbortSignal.timeout(READYZ_TIMEOUT_MS),
            });
            const doc = await res.json();
            ready.push({ atMs, status: res.status, causes: doc.causes ?? [] });
          } catch {
            ready.push({ atMs, status: "down", causes: [] });
          }
          await sleep(READYZ_POLL_MS);
        }
      })();

      // ---- calibration: the rate this machine can carry right now ----------------------------
      const calibrationJobs: ComputeJob[] = [];
      for (let i = 0; i <= CALIBRATION_COMPUTES; i++) calibrationJobs.push(await nextJob());
      const calibration = await calibrate(service.url, token, calibrationJobs);
      progress.calibration = calibration;
      // The service under test: the calibrated attempt deadline, on the same DATA_DIR.
      const env = {
        ...baseEnv,
        DOWNSTREAM_ATTEMPT_MS: String(calibration.attemptMs),
        // must not exceed the attempt budget
        DOWNSTREAM_CONNECT_MS: String(Math.min(calibration.attemptMs, CONNECT_MS_MAX)),
      };
      const calibrated = service;
      assert.equal(
        (await calibrated.child.stop(GRACEFUL_STOP_MS_MAX)).code,
        0,
        "the calibration service stops",
      );
      service = await startService(env);
      const spikeScript = SPIKE_SHARES.map((f) => `delay:${Math.round(f * calibration.attemptMs)}`);

      const restartWindows: { startMs: number; listeningMs: number }[] = [];
      const phaseEvents: Record<string, unknown> = {};
      progress.phaseEvents = phaseEvents;
      const phase = async (name: string, work: () => Promise<void>): Promise<void> => {
        const startMs = Date.now();
        try {
          await work();
        } finally {
          phases.push({ name, startMs, endMs: Date.now() });
          progress.phases = phases.map((p) => `${p.name}: ${p.endMs - p.startMs} ms`);
        }
      };
      /** Sealed computes sent at or after `fromMs` and answered 200 (acknowledged). */
      const acksSince = (fromMs: number) =>
        samples.filter((s) => s.kind === "compute" && s.status === 200 && s.sentAtMs >= fromMs)
          .length;
      /** Waits until PHASE_ACKS computes sent from `fromMs` on are acknowledged (bounded). */
      const acknowledgedPhase = async (name: string, fromMs: number) => {
        const reached = await until(() => acksSince(fromMs) >= PHASE_ACKS);
        phaseEvents[name] = { acknowledged: acksSince(fromMs) };
        assert.ok(
          reached,
          `${name}: only ${
            acksSince(fromMs)
          } of ${PHASE_ACKS} computes acknowledged within ${PHASE_MS_MAX} ms`,
        );
      };
      /** The last /readyz answer seen after `fromMs`, if any. */
      const lastReadyAfter = (fromMs: number) => {
        const last = ready.at(-1);
        return last !== undefined && last.atMs > fromMs && last.status !== "down"
          ? last
          : undefined;
      };

      const adaptive = adaptiveLoad(
        {
          baseUrl: () => service!.url,
          token: () => token,
          mix: MIX,
          nextJob,
          outstandingMax: OUTSTANDING_MAX,
          requestTimeoutMs: REQUEST_TIMEOUT_MS,
          onSample: (s) => samples.push(s),
        },
        calibration.loadRps,
        calibrationJobs,
        samples,
      );
      load = adaptive;
      progress.rates = adaptive.rates;

      await phase("warm", () => acknowledgedPhase("warm", Date.now()));

      let spike: FaultWindowResult = { queuedTotal: 0, consumed: 0, reached: false };
      await phase("ledger latency spikes", async () => {
        spike = await faultWindow(
          ledger!,
          spikeScript,
          SPIKE_QUEUE,
          (consumed) => consumed >= SPIKE_CONSUMED_MIN,
        );
        phaseEvents.spike = spike;
        assert.ok(
          spike.reached,
          `the spikes hit deliveries: ${spike.consumed} of ${SPIKE_CONSUMED_MIN} consumed within ${PHASE_MS_MAX} ms`,
        );
      });

      // The outage starts on a closed breaker, so that its faults meet deliveries (spikes are
      // not an outage, but a machine slow enough to push five in a row past the deadline opens
      // it: then its cool-down is waited out here, and that is reported).
      const spikesEndMs = Date.now();
      await phase("breaker closed before the outage", async () => {
        const closed = await until(
          () => {
            const last = lastReadyAfter(spikesEndMs);
            return last !== undefined && !last.causes.includes("dep_outage");
          },
          RECOVERY_WAIT_MS_MAX,
        );
        assert.ok(closed, "/readyz still reports dep_outage long after the spikes");
      });

      let outage: FaultWindowResult = { queuedTotal: 0, consumed: 0, reached: false };
      const outageStartMs = Date.now();
      const depOutageSeen = () =>
        ready.some((r) => r.atMs >= outageStartMs && r.causes.includes("dep_outage"));
      await phase("ledger outage (refused connections and 5xx)", async () => {
        outage = await faultWindow(
          ledger!,
          OUTAGE_SCRIPT,
          OUTAGE_QUEUE,
          (consumed) => consumed >= OUTAGE_CONSUMED_MIN && depOutageSeen(),
        );
        phaseEvents.outage = { ...outage, depOutageSeen: depOutageSeen() };
        assert.ok(
          outage.consumed >= OUTAGE_CONSUMED_MIN,
          `the outage hit deliveries: ${outage.consumed} of ${OUTAGE_CONSUMED_MIN} faults consumed within ${PHASE_MS_MAX} ms`,
        );
        assert.ok(
          depOutageSeen(),
          `/readyz never reported dep_outage during the outage (${PHASE_MS_MAX} ms)`,
        );
      });
      const outageEndMs = Date.now();
      let recoveredAtMs: number | undefined;
      await phase("recovery (breaker cool-down)", async () => {
        await until(() => {
          const last = lastReadyAfter(outageEndMs);
          if (last === undefined || last.causes.includes("dep_outage")) return false;
          recoveredAtMs = last.atMs;
          return true;
        }, RECOVERY_WAIT_MS_MAX);
        assert.ok(
          recoveredAtMs !== undefined,
          `/readyz still reports dep_outage ${RECOVERY_WAIT_MS_MAX} ms after the outage`,
        );
      });

      let gracefulExit: number | null = null;
      await phase("SIGTERM restart", async () => {
        const startMs = Date.now();
        const old = service!;
        gracefulExit = (await old.child.stop(GRACEFUL_STOP_MS_MAX)).code;
        service = await startService(env);
        restartWindows.push({ startMs, listeningMs: Date.now() });
      });
      await phase(
        "after SIGTERM restart",
        () => acknowledgedPhase("after SIGTERM restart", restartWindows[0]!.listeningMs),
      );

      let killedExit: number | null = null;
      await phase("SIGKILL restart", async () => {
        const startMs = Date.now();
        const old = service!;
        old.child.kill("SIGKILL");
        killedExit = (await old.child.exited).code;
        service = await startService(env);
        restartWindows.push({ startMs, listeningMs: Date.now() });
      });
      await phase(
        "after SIGKILL restart",
        () => acknowledgedPhase("after SIGKILL restart", restartWindows[1]!.listeningMs),
      );
      const totals = await load.stop();
      loadStopped = true;
      const loadEndMs = Date.now();

      // ---- the drain -------------------------------------------------------------------------
      const drainStartMs = Date.now();
      let runs = await listAll(service.url, token);
      while (runs.some((r) => r.emission === "pending")) {
        if (Date.now() - drainStartMs > DRAIN_WAIT_MS_MAX) break;
        await sleep(500);
        runs = await listAll(service.url, token);
      }
      const drainMs = Date.now() - drainStartMs;
      stopPoller = true;
      await poller;
      const stats = await ledger.stats();

      // ---- report ----------------------------------------------------------------------------
      const perPhase = phases.map((p) => ({
        phase: p.name,
        ms: p.endMs - p.startMs,
        ...statsOf(samples.filter((s) => s.sentAtMs >= p.startMs && s.sentAtMs < p.endMs)),
      }));
      const readyCauses = (from: number, to: number) =>
        [
          ...new Set(ready.filter((r) => r.atMs >= from && r.atMs < to).flatMap((r) => r.causes)),
        ].sort();
      const spikePhase = phases.find((p) => p.name === "ledger latency spikes")!;
      const summary = {
        seed: SEED,
        calibration,
        rates: adaptive.rates,
        totals: { ...totals, samples: samples.length, acknowledged: load.acknowledged().size },
        all: statsOf(samples),
        perPhase,
        readyz: {
          causesDuringSpikes: readyCauses(spikePhase.startMs, spikePhase.endMs),
          causesDuringOutage: readyCauses(outageStartMs, outageEndMs),
          recoveredAfterOutageMs: recoveredAtMs === undefined ? null : recoveredAtMs - outageEndMs,
        },
        faults: { spike, outage },
        exits: { graceful: gracefulExit, killed: killedExit },
        drainMs,
        ledger: {
          deliveries: stats.deliveries,
          applied: Object.keys(stats.applied).length,
          duplicates: Object.values(stats.duplicates).reduce((a, b) => a + b, 0),
        },
        loadSpanMs: loadEndMs - phases[0]!.startMs,
        networkErrors: networkSummary(samples, restartWindows),
      };
      log.push(JSON.stringify(summary, null, 2));

      // ---- verdict ---------------------------------------------------------------------------
      const inRestart = (s: LoadSample) =>
        restartWindows.some((w) =>
          s.sentAtMs <= w.listeningMs + NETWORK_GRACE_MS && s.sentAtMs + s.latencyMs >= w.startMs
        );
      const bad5xx = samples.filter((s) =>
        typeof s.status === "number" && s.status >= 500 &&
        !(s.status === 503 && s.retryAfter !== null)
      );
      const bad4xx = samples.filter((s) =>
        typeof s.status === "number" && s.status >= 400 && s.status < 500 && s.status !== 429
      );
      const badNetwork = samples.filter((s) => s.status === "network" && !inRestart(s));
      const quote = (xs: LoadSample[]) =>
        xs.slice(0, EXAMPLES_MAX).map((s) =>
          `${s.kind} ${s.path} → ${s.status} ${s.code ?? ""} after ${Math.round(s.latencyMs)} ms`
        ).join("\n");
      assert.equal(bad5xx.length, 0, `5xx other than 503+Retry-After:\n${quote(bad5xx)}`);
      assert.equal(bad4xx.length, 0, `4xx other than 429:\n${quote(bad4xx)}`);
      assert.equal(badNetwork.length, 0, `network errors outside restarts:\n${quote(badNetwork)}`);
      const graceful = restartWindows[0]!;
      const dropped = samples.filter((s) =>
        s.status === "network" && s.sentAtMs <= graceful.startMs - GRACEFUL_RECEIVED_MS &&
        s.sentAtMs + s.latencyMs >= graceful.startMs
      );
      assert.equal(dropped.length, 0, `SIGTERM dropped requests in flight:\n${quote(dropped)}`);

      assert.equal(gracefulExit, 0, "SIGTERM drains and exits 0");
      assert.equal(killedExit, 137, "SIGKILL");

      assert.ok(
        summary.readyz.causesDuringOutage.includes("dep_outage"),
        `/readyz never reported dep_outage during the outage: ${
          JSON.stringify(summary.readyz.causesDuringOutage)
        }`,
      );
      assert.ok(recoveredAtMs !== undefined, "/readyz still reports dep_outage after the outage");

      assert.ok(
        !runs.some((r) => r.emission === "pending"),
        `outbox not drained within ${DRAIN_WAIT_MS_MAX} ms`,
      );
      const committed = new Set(runs.filter((r) => !r.dry_run).map((r) => r.run_key));
      const sent = new Set(load.sentJobs().map((j) => j.runKey));
      for (const r of runs) {
        assert.ok(sent.has(r.run_key), `run ${r.run_key} was never requested`);
        assert.ok(["accepted", "duplicate"].includes(r.emission), JSON.stringify(r));
      }
      for (const key of load.acknowledged().keys()) {
        assert.ok(committed.has(key), `acknowledged run ${key} lost its commitment`);
      }
      // Exactly once: the ledger applied precisely the committed runs, each under its intent
      // key (one entry per key; a second body for a key would have been a 409 and left the
      // run `failed`).
      assertAppliedExactly(stats, committed);

      // The chaos really happened: every phase saw its acknowledged computes (checked as it
      // ended), and the faults were consumed by real deliveries (what was left was flushed by
      // junk ones).
      assert.ok(
        committed.size >= CALIBRATION_COMPUTES + 3 * PHASE_ACKS,
        `only ${committed.size} commits: load too thin`,
      );
      assert.ok(spike.consumed >= SPIKE_CONSUMED_MIN, "the spikes hit deliveries");
      assert.ok(outage.consumed >= OUTAGE_CONSUMED_MIN, "the outage hit deliveries");
      assert.ok(summary.ledger.duplicates >= 1, "a lost acknowledgement was redelivered");
      assert.ok(stats.deliveries > committed.size, "failed deliveries were retried");
      console.log(log.join("\n"));
    } catch (err) {
      // Answers per phase so far (the failing phase included), by status and error code.
      progress.answers = [...phases, { name: "(after the last phase)", startMs: 0, endMs: 0 }]
        .map((p, i, all) => {
          const from = p.startMs || (all[i - 1]?.endMs ?? 0);
          const to = p.endMs || Infinity;
          const mine = samples.filter((x) => x.sentAtMs >= from && x.sentAtMs < to);
          const by: Record<string, number> = {};
          for (const x of mine) {
            const k = `${x.kind} ${x.status}${x.code ? ` ${x.code}` : ""}`;
            by[k] = (by[k] ?? 0) + 1;
          }
          return { phase: p.name, by };
        });
      console.error(
        `chaos failed — CHAOS_SEED=${SEED}\n${JSON.stringify(progress, null, 2)}\n${
          log.join("\n")
        }\n--- service output ---\n${service?.child.output() ?? ""}`,
      );
      throw err;
    } finally {
      if (load !== undefined && !loadStopped) await load.stop();
      stopPoller = true;
      await poller;
      if (service && !service.child.exitedYet()) await service.child.stop();
      if (ledger) await ledger.child.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
});
