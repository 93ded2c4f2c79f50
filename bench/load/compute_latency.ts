/**
 * Compute latency over HTTP and replay latency under an open loop, against the real service
 * (`main.ts`) on TCP loopback. A bench, not a test: nothing here runs in CI.
 *
 *   deno run --allow-all bench/load/compute_latency.ts [--epochs 120] [--recipients 10000]
 *       [--warmup 3] [--replay-rps 500] [--replay-seconds 10] [--skip-replay]
 *       [--baseline-dir <checkout>] [--service-dir <checkout>] [--service-flags "<deno flags>"]
 *       [--no-write]
 *
 * Workload (pinned by the defaults): one tenant (the dev token), rate caps lifted, a file store
 * under a fresh DATA_DIR, the embedded default configuration otherwise.
 *
 * - **Compute**: `--epochs` distinct fresh epochs of `--recipients` recipients each (generated
 *   inputs in the content store, the generated policy), sent one after another; each is a real
 *   compute (new run key: engine, seal, commit and its intent, audit line), never a replay.
 *   `--warmup` computes of other fresh epochs go first and are not counted. Prints p50/p95/p99
 *   and the service's own split of the mean: queue wait (`engine_queue_wait_seconds`), engine +
 *   seal (`reward_compute_latency_seconds`), and the rest (HTTP, policy, commitments, store
 *   write, audit), from /metrics before and after.
 * - **Replay** (open loop, bench/load/open_loop.ts): the same compute body of one committed
 *   epoch at `--replay-rps` for `--replay-seconds`, after a 1 s warm-up at the same rate; p50 /
 *   p99 / max and every non-200 answer.
 *
 * With `--baseline-dir` (another checkout, e.g. `git archive <commit> | tar -x -C /tmp/prev`
 * with `node_modules` linked in) the same workload also runs against that checkout's service,
 * INTERLEAVED: the computes alternate between the two services (each its own DATA_DIR and
 * epochs), and the replay loops alternate too (A, B, A, B); so a machine that gets busier
 * during the run moves both sides alike. `--service-dir` runs the "current" side from another
 * checkout too (default: this one). Writes bench/results/compute_latency.json.
 *
 * @module
 */
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { casPut } from "../../src/shell/sources/cas.ts";
import { devToken } from "../../src/shell/keys/dev_bootstrap.ts";
import { prepareBenchData } from "./bench_data.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../../vectors/generate_epoch.ts";
import { type Server, startServer } from "./servers.ts";
import { openLoop } from "./open_loop.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DATA_ROOT = Deno.env.get("BENCH_DATA_DIR") ?? "/tmp/svc-rewarder-computebench";
/** Caps lifted so the limiters are not what is measured (as bench/load/run.ts). */
export const UNCAPPED = {
  MAX_RPS: "1000000",
  RATE_BURST: "1000000",
  TENANT_RPS_MAX: "1000000",
  MAX_INFLIGHT: "512",
};
/** Fewest measured computes the p95 is taken over. */
export const COMPUTE_SAMPLES_MIN = 100;
/** Bound on one compute request (ms): a sample over it counts as an error. */
const COMPUTE_TIMEOUT_MS = 60_000;
/** Outstanding replay requests beyond which the open loop drops (counts them). */
const REPLAY_OUTSTANDING_MAX = 2_000;

function args() {
  const a = Deno.args;
  const val = (name: string, dflt: string) => {
    const i = a.indexOf(name);
    return i >= 0 && a[i + 1] !== undefined ? a[i + 1]! : dflt;
  };
  const epochs = Number(val("--epochs", "120"));
  if (!Number.isInteger(epochs) || epochs < 1) throw new Error("--epochs: a positive integer");
  return {
    epochs,
    recipients: Number(val("--recipients", "10000")),
    warmup: Number(val("--warmup", "3")),
    replayRps: Number(val("--replay-rps", "500")),
    replaySeconds: Number(val("--replay-seconds", "10")),
    replay: !a.includes("--skip-replay"),
    baselineDir: a.includes("--baseline-dir") ? val("--baseline-dir", "") : undefined,
    serviceDir: val("--service-dir", ROOT),
    /** Extra `deno run` flags of the measured side only (e.g. a V8 flag under test). */
    serviceFlags: val("--service-flags", "").split(" ").filter(Boolean),
    write: !a.includes("--no-write"),
  };
}

interface Epoch {
  epochId: string;
  body: string;
}

/** A data directory with dev keys, the signed generated policy and `count` epochs' inputs. */
async function prepare(dataDir: string, tag: string, count: number, recipients: number) {
  const { paths, policyHash } = await prepareBenchData(dataDir);
  const epochs: Epoch[] = [];
  for (let i = 0; i < count; i++) {
    const epochId = `lat-${tag}-${i}`;
    const bytes = new TextEncoder().encode(generateEpochInputs(epochId, recipients));
    const cid = await casPut(dataDir, bytes);
    epochs.push({
      epochId,
      body: JSON.stringify({
        inputs_cid: cid,
        policy_id: GENERATED_POLICY.policy_id,
        policy_hash: policyHash,
      }),
    });
  }
  return { token: await devToken(paths.capsKeysPath, Date.now()), epochs };
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** Sum and count of a Prometheus histogram (no labels) from the text exposition. */
function histogram(text: string, name: string): { sum: number; count: number } {
  const get = (suffix: string) =>
    Number(new RegExp(`^${name}_${suffix}(?:\\{\\})? (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  return { sum: get("sum"), count: get("count") };
}

async function scrape(server: Server) {
  const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
  return {
    queue: histogram(text, "engine_queue_wait_seconds"),
    compute: histogram(text, "reward_compute_latency_seconds"),
  };
}

async function compute(server: Server, token: string, e: Epoch) {
  const started = performance.now();
  const r = await fetch(`${server.url}/rewarder/epochs/${e.epochId}/compute`, {
    method: "POST",
    headers: { Authorization: `Macaroon ${token}`, "Content-Type": "application/json" },
    body: e.body,
    signal: AbortSignal.timeout(COMPUTE_TIMEOUT_MS),
  });
  const text = await r.text();
  const ms = performance.now() - started;
  const fresh = r.status === 200 && JSON.parse(text).replayed !== true;
  return { ok: fresh, ms, status: r.status, text: r.status === 200 ? "" : text.slice(0, 200) };
}

interface Side {
  name: string;
  dir: string;
  dataDir: string;
  server: Server;
  token: string;
  epochs: Epoch[];
  ms: number[];
  errors: Record<string, number>;
  before?: Awaited<ReturnType<typeof scrape>>;
  replays: unknown[];
}

function summary(s: Side) {
  const ms = [...s.ms].sort((a, b) => a - b);
  return {
    n: ms.length,
    p50Ms: r1(percentile(ms, 50)),
    p95Ms: r1(percentile(ms, 95)),
    p99Ms: r1(percentile(ms, 99)),
    maxMs: r1(ms.at(-1) ?? NaN),
    meanMs: r1(ms.reduce((a, b) => a + b, 0) / Math.max(ms.length, 1)),
    errors: s.errors,
  };
}

async function replayLoop(s: Side, rps: number, seconds: number) {
  const e = s.epochs[0]!;
  const url = `${s.server.url}/rewarder/epochs/${e.epochId}/compute`;
  const headers = { Authorization: `Macaroon ${s.token}`, "Content-Type": "application/json" };
  const run = (durationMs: number) =>
    openLoop({
      url,
      method: "POST",
      body: e.body,
      headers,
      rateRps: rps,
      durationMs,
      outstandingMax: REPLAY_OUTSTANDING_MAX,
    });
  await run(1_000); // warm-up: connections and caches
  const loadavg = Deno.loadavg();
  const r = await run(seconds * 1_000);
  const lat = r.samples.filter((x) => x.status === 200).map((x) => x.latencyMs)
    .sort((a, b) => a - b);
  const byStatus: Record<string, number> = {};
  for (const x of r.samples) byStatus[x.status] = (byStatus[x.status] ?? 0) + 1;
  // Anything sent that did not come back 200: other statuses, network errors, drops and
  // requests still unanswered after the straggler wait.
  const non200 = r.sent - (byStatus["200"] ?? 0);
  return {
    side: s.name,
    rateRps: rps,
    seconds,
    loadavg,
    sent: r.sent,
    achievedRps: Math.round((r.samples.length / Math.max(r.sendSpanMs, 1)) * 1000),
    byStatus,
    networkErrors: r.errors,
    dropped: r.dropped,
    non200,
    p50Ms: r1(percentile(lat, 50)),
    p99Ms: r1(percentile(lat, 99)),
    maxMs: r1(lat.at(-1) ?? NaN),
  };
}

async function main() {
  const a = args();
  const t0 = performance.now();
  const tag = Date.now().toString(36);
  const total = a.warmup + a.epochs;
  const dirs = [{ name: "current", dir: a.serviceDir }];
  if (a.baselineDir !== undefined) dirs.unshift({ name: "baseline", dir: a.baselineDir });
  const sides: Side[] = [];
  for (const [i, d] of dirs.entries()) {
    const dataDir = `${DATA_ROOT}-${d.name}`;
    if (i === 0) {
      const p = await prepare(dataDir, tag, total, a.recipients);
      sides.push({ ...d, dataDir, token: p.token, epochs: p.epochs } as Side);
    } else {
      // The same keys, policy and content store; other epoch ids are not needed: each side
      // commits in its own store.
      await rm(dataDir, { recursive: true, force: true });
      await cp(sides[0]!.dataDir, dataDir, { recursive: true });
      sides.push({ ...d, dataDir, token: sides[0]!.token, epochs: sides[0]!.epochs } as Side);
    }
  }
  console.error(
    `prepared ${total} epochs × ${a.recipients} in ${Math.round(performance.now() - t0)} ms`,
  );
  for (const s of sides) {
    s.server = await startServer("service", "deno", { DATA_DIR: s.dataDir, ...UNCAPPED }, {
      cwd: s.dir,
      denoFlags: s.name === "current" ? a.serviceFlags : [],
    });
    s.ms = [];
    s.errors = {};
    s.replays = [];
    await fetch(`${s.server.url}/healthz`).then((r) => r.arrayBuffer());
  }
  const loadavgStart = Deno.loadavg();
  try {
    for (let i = 0; i < total; i++) {
      if (i === a.warmup) { for (const s of sides) s.before = await scrape(s.server); }
      // Alternate which side goes first, so neither always follows the other's compute.
      const order = i % 2 === 0 ? sides : [...sides].reverse();
      for (const s of order) {
        const r = await compute(s.server, s.token, s.epochs[i]!);
        if (i < a.warmup) continue;
        if (r.ok) s.ms.push(r.ms);
        else {
          const k = `${r.status} ${r.text}`;
          s.errors[k] = (s.errors[k] ?? 0) + 1;
        }
      }
    }
    const loadavgAfterCompute = Deno.loadavg();
    const results: Record<string, unknown> = {};
    for (const s of sides) {
      const after = await scrape(s.server);
      const b = s.before!;
      const n = after.compute.count - b.compute.count;
      const sum = summary(s);
      const queueMs = ((after.queue.sum - b.queue.sum) / Math.max(n, 1)) * 1000;
      const engineSealMs = ((after.compute.sum - b.compute.sum) / Math.max(n, 1)) * 1000;
      results[s.name] = {
        compute: {
          ...sum,
          split: {
            meanQueueWaitMs: r1(queueMs),
            meanEngineAndSealMs: r1(engineSealMs - queueMs),
            meanRestMs: r1(sum.meanMs - engineSealMs),
          },
        },
      };
      console.log(
        `${s.name}: compute ${a.recipients} recipients, n=${sum.n}: p50 ${sum.p50Ms} / p95 ${sum.p95Ms} / p99 ${sum.p99Ms} / max ${sum.maxMs} ms (mean ${sum.meanMs}: queue ${
          r1(queueMs)
        }, engine+seal ${r1(engineSealMs - queueMs)}, rest ${
          r1(sum.meanMs - engineSealMs)
        }); errors ${JSON.stringify(s.errors)}`,
      );
    }
    console.log(
      `load average at start ${loadavgStart.join(" ")}, after computes ${
        loadavgAfterCompute.join(" ")
      }`,
    );
    if (a.replay) {
      for (let round = 0; round < 2; round++) {
        for (const s of sides) {
          const r = await replayLoop(s, a.replayRps, a.replaySeconds);
          s.replays.push(r);
          console.log(
            `${s.name}: replay open loop ${r.rateRps} RPS × ${r.seconds} s: p50 ${r.p50Ms} / p99 ${r.p99Ms} / max ${r.maxMs} ms, achieved ${r.achievedRps} req/s, non-200 ${r.non200} ${
              JSON.stringify(r.byStatus)
            }, network errors ${r.networkErrors}, dropped ${r.dropped} (load ${
              r.loadavg.join(" ")
            })`,
          );
        }
      }
      for (const s of sides) (results[s.name] as Record<string, unknown>).replay = s.replays;
    }
    const out = {
      date: new Date().toISOString(),
      command: `deno run --allow-all bench/load/compute_latency.ts ${Deno.args.join(" ")}`.trim(),
      workload: {
        recipients: a.recipients,
        epochs: a.epochs,
        warmup: a.warmup,
        replayRps: a.replayRps,
        replaySeconds: a.replaySeconds,
        runtime: "deno",
        listener: "TCP loopback 127.0.0.1",
        env: UNCAPPED,
        services: Object.fromEntries(sides.map((s) => [s.name, s.server.command])),
      },
      loadavgStart,
      loadavgAfterCompute,
      loadavgEnd: Deno.loadavg(),
      cores: navigator.hardwareConcurrency,
      results,
    };
    if (a.write) {
      await mkdir(join(ROOT, "bench/results"), { recursive: true });
      await writeFile(
        join(ROOT, "bench/results/compute_latency.json"),
        JSON.stringify(out, null, 2) + "\n",
      );
    }
  } finally {
    for (const s of sides) await s.server.stop();
  }
  console.error(`done in ${Math.round((performance.now() - t0) / 1000)} s`);
}

if (import.meta.main) await main();
