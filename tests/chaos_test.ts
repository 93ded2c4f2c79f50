// Chaos under load (issue 9 item 3): the real service (`main.ts`, file store) under an
// open-loop mixed load near its rate cap (MAX_RPS=100, RATE_BURST=50, ~90 RPS of computes over
// fresh epochs, replays and GETs) while the real dev ledger goes through latency spikes (some
// past the attempt deadline: committed at the ledger, acknowledgement lost) and an outage
// (refused connections, then 5xx), then a graceful restart (SIGTERM) and a hard one (SIGKILL)
// of the service under load on the same DATA_DIR. At the end, bounded:
// - every committed run's intent is applied exactly once at the ledger (/_stats), and every run
//   a client saw acknowledged is committed;
// - clients saw no 5xx other than 503 with Retry-After, no other 4xx than 429, and network
//   errors only around the restarts;
// - /readyz reported `dep_outage` during the outage and dropped it after (breaker cool-down);
// - the outbox drains.
//
//   deno test --allow-all tests/chaos_test.ts        (≈ 1.5–2 minutes)
//   CHAOS_SEED=<n> fixes the request mix (printed on failure).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devToken } from "../src/shell/dev_bootstrap.ts";
import { BREAKER_COOL_DOWN_MS } from "../src/shell/outbox/dispatcher.ts";
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
  percentile,
  round1,
  startMixedLoad,
} from "../bench/soak/mixed_load.ts";

const SEED = Number(Deno.env.get("CHAOS_SEED") ?? String(Date.now() % 1_000_000_007));

/** The caps under test and the offered load just under them. */
const MAX_RPS = 100;
const RATE_BURST = 50;
const LOAD_RPS = 90;
/** Ledger attempt deadline of the service (DOWNSTREAM_ATTEMPT_MS), ms. */
const ATTEMPT_MS = 1_000;
/** Mix: about a third fresh computes (≈ 30 commits/s), the rest replays and reads. */
const MIX = { compute: 0.35, replay: 0.1, getRun: 0.25, getEpoch: 0.2, listRuns: 0.1 };

/** Phase lengths, ms. */
const WARM_MS = 4_000;
const SPIKE_MS = 8_000;
const OUTAGE_MS = 6_000;
const AFTER_RESTART_MS = 6_000;
/** The breaker stays open for its cool-down after the last failure: wait that plus margin. */
const RECOVERY_WAIT_MS_MAX = BREAKER_COOL_DOWN_MS + 20_000;
/** Bound on the outbox drain after the load stops, ms. */
const DRAIN_WAIT_MS_MAX = 60_000;
/** A network error is expected up to this long after the restarted service listens, ms. */
const NETWORK_GRACE_MS = 1_000;
/**
 * A graceful stop answers what it already received: a request sent this long before SIGTERM
 * must get an answer (closer to the signal it may still be in transit on a closing keep-alive
 * connection, which is the client's race, not the service's), ms.
 */
const GRACEFUL_RECEIVED_MS = 500;

/** /readyz poll interval, and the fault script top-up interval, ms. */
const READYZ_POLL_MS = 250;
const FAULT_POLL_MS = 100;
/** Fault script length kept queued at the dev ledger during a fault window. */
const SPIKE_QUEUE = 16;
const OUTAGE_QUEUE = 6;
/**
 * Spike delays: all under the attempt deadline except one in eight, which is past it (the
 * ledger commits, the acknowledgement is lost, the redelivery must be a duplicate). Few enough
 * consecutive timeouts that the breaker (5 in a row) stays closed: spikes are not an outage.
 */
const SPIKE_SCRIPT = [
  "delay:1500",
  "delay:300",
  "delay:600",
  "delay:100",
  "delay:900",
  "delay:400",
  "delay:200",
  "delay:700",
];
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

/** Keeps the dev ledger's fault script topped up for `durationMs`, then flushes what is left. */
async function faultWindow(
  ledger: Ledger,
  script: readonly string[],
  queueLength: number,
  durationMs: number,
): Promise<{ queuedTotal: number; consumed: number }> {
  const endMs = Date.now() + durationMs;
  let next = 0;
  let queuedTotal = 0;
  while (Date.now() < endMs) {
    const queued = await queuedFaults(ledger);
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
    if (queued === 0) return { queuedTotal, consumed: queuedTotal - (leftAtEnd ?? 0) };
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
    if (res.status === 429 && limited < LIST_PAGES_MAX) {
      await res.body?.cancel();
      limited += 1;
      page -= 1; // the same page again (bounded by `limited`)
      await sleep(500);
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
    const log: string[] = [];
    try {
      const d = await prepareDataDir(dataDir);
      ledger = await startLedger(dir, d.ledgerKeys);
      const env = {
        DATA_DIR: dataDir,
        LEDGER_URL: ledger.url,
        MAX_RPS: String(MAX_RPS),
        RATE_BURST: String(RATE_BURST),
        TENANT_RPS_MAX: String(MAX_RPS),
        DOWNSTREAM_ATTEMPT_MS: String(ATTEMPT_MS),
        DOWNSTREAM_CONNECT_MS: String(ATTEMPT_MS), // must not exceed the attempt budget
      };
      service = await startService(env);
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
              signal: AbortSignal.timeout(2_000),
            });
            const doc = await res.json();
            ready.push({ atMs, status: res.status, causes: doc.causes ?? [] });
          } catch {
            ready.push({ atMs, status: "down", causes: [] });
          }
          await sleep(READYZ_POLL_MS);
        }
      })();

      const samples: LoadSample[] = [];
      const load = startMixedLoad({
        baseUrl: () => service!.url,
        token: () => token,
        rateRps: LOAD_RPS,
        mix: MIX,
        nextJob,
        outstandingMax: OUTSTANDING_MAX,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        seed: SEED,
        onSample: (s) => samples.push(s),
      });
      const phases: Phase[] = [];
      const restartWindows: { startMs: number; listeningMs: number }[] = [];
      const phase = async (name: string, work: () => Promise<void>): Promise<void> => {
        const startMs = Date.now();
        await work();
        phases.push({ name, startMs, endMs: Date.now() });
      };

      await phase("warm", () => sleep(WARM_MS));
      let spike = { queuedTotal: 0, consumed: 0 };
      await phase("ledger latency spikes", async () => {
        spike = await faultWindow(ledger!, SPIKE_SCRIPT, SPIKE_QUEUE, SPIKE_MS);
      });
      let outage = { queuedTotal: 0, consumed: 0 };
      await phase("ledger outage (refused connections and 5xx)", async () => {
        outage = await faultWindow(ledger!, OUTAGE_SCRIPT, OUTAGE_QUEUE, OUTAGE_MS);
      });
      const outageEndMs = Date.now();
      let recoveredAtMs: number | undefined;
      await phase("recovery (breaker cool-down)", async () => {
        const deadline = Date.now() + RECOVERY_WAIT_MS_MAX;
        while (Date.now() < deadline) {
          const last = ready.at(-1);
          if (
            last !== undefined && last.atMs > outageEndMs && last.status !== "down" &&
            !last.causes.includes("dep_outage")
          ) {
            recoveredAtMs = last.atMs;
            return;
          }
          await sleep(READYZ_POLL_MS);
        }
      });

      let gracefulExit: number | null = null;
      await phase("SIGTERM restart", async () => {
        const startMs = Date.now();
        const old = service!;
        gracefulExit = (await old.child.stop()).code;
        service = await startService(env);
        restartWindows.push({ startMs, listeningMs: Date.now() });
      });
      await phase("after SIGTERM restart", () => sleep(AFTER_RESTART_MS));

      let killedExit: number | null = null;
      await phase("SIGKILL restart", async () => {
        const startMs = Date.now();
        const old = service!;
        old.child.kill("SIGKILL");
        killedExit = (await old.child.exited).code;
        service = await startService(env);
        restartWindows.push({ startMs, listeningMs: Date.now() });
      });
      await phase("after SIGKILL restart", () => sleep(AFTER_RESTART_MS));
      const totals = await load.stop();
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
      const outagePhase = phases.find((p) => p.name.startsWith("ledger outage"))!;
      const summary = {
        seed: SEED,
        totals: { ...totals, samples: samples.length, acknowledged: load.acknowledged().size },
        all: statsOf(samples),
        perPhase,
        readyz: {
          causesDuringSpikes: readyCauses(phases[1]!.startMs, phases[1]!.endMs),
          causesDuringOutage: readyCauses(outagePhase.startMs, outageEndMs),
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

      // The chaos really happened.
      assert.ok(committed.size >= 200, `only ${committed.size} commits: load too thin`);
      // Faults consumed by real deliveries (what was left was flushed by junk ones).
      assert.ok(spike.consumed >= SPIKE_QUEUE, "the spikes hit deliveries");
      assert.ok(outage.consumed >= 2, "the outage hit deliveries");
      assert.ok(summary.ledger.duplicates >= 1, "a lost acknowledgement was redelivered");
      assert.ok(stats.deliveries > committed.size, "failed deliveries were retried");
      console.log(log.join("\n"));
    } catch (err) {
      console.error(
        `chaos failed — CHAOS_SEED=${SEED}\n${log.join("\n")}\n--- service output ---\n${
          service?.child.output() ?? ""
        }`,
      );
      throw err;
    } finally {
      stopPoller = true;
      await poller;
      if (service && !service.child.exitedYet()) await service.child.stop();
      if (ledger) await ledger.child.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
});
