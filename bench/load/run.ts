/**
 * Load checks and the service performance report (docs/RESULTS.md), in one
 * run against the real service process on loopback. A bench, not a test: nothing here runs in
 * CI. Needs `wrk` (Debian package) for the throughput points; Deno drives everything else.
 *
 *   deno run --allow-all bench/load/run.ts [--runtimes deno,bun,node] [--checks deno]
 *                                          [--skip-checks] [--skip-perf] [--skip-compute]
 *                                          [--no-docs]
 *
 * The throughput points (GET of a committed epoch, replayed compute; service and bare Hono on
 * the same runtime) use the workload of the performance goals: a 300-recipient epoch, wrk
 * -t1 -c16 for 4 s after a 1 s warm-up, rate caps lifted. `--skip-compute` leaves out the
 * per-runtime compute latency samples (the 10k compute p95 and the replay open loop are
 * bench/load/compute_latency.ts's).
 *
 * Writes bench/results/load.json and the "Load" and "Service performance" sections of
 * docs/RESULTS.md (between the load-bench markers). Whole run < 5 minutes.
 *
 * @module
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { casPut } from "../../src/shell/sources/cas.ts";
import { devToken } from "../../src/shell/keys/dev_bootstrap.ts";
import { prepareBenchData, runIn } from "./bench_data.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../../vectors/generate_epoch.ts";
import { renderDocs } from "./report.ts";
import { type Runtime, type Server, startServer } from "./servers.ts";
import { openLoop, summarizeOpenLoop } from "./open_loop.ts";
import { concurrencyCheck } from "./concurrency_check.ts";
import { wrk, type WrkResult } from "./wrk.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DATA_DIR = Deno.env.get("BENCH_DATA_DIR") ?? "/tmp/svc-rewarder-loadbench";

/** Rate check: offered load, duration and the caps under test. */
export const RATE_CHECK = {
  offeredRps: 1_000,
  durationMs: 10_000,
  maxRps: 500,
  burst: 200,
  /** Must not exceed MAX_RPS (config relation); the tenant bucket is not under test. */
  tenantRpsMax: 500,
  outstandingMax: 2_000,
};
/** Compute latency samples per size and runtime (sequential requests, distinct epochs). */
export const COMPUTE_SIZES = [
  { name: "S", recipients: 1_000, samples: 30 },
  { name: "M", recipients: 10_000, samples: 12 },
  { name: "L", recipients: 50_000, samples: 5 },
] as const;
/** Consecutive failed computes of one size after which that size is abandoned. */
const COMPUTE_FAILURES_MAX = 2;
/** Throughput points: wrk threads, connections, warm-up and measured seconds. */
export const WRK = { threads: 1, connections: 16, warmS: 1, measureS: 4 };
/** Recipients of the epoch the GET and replay points serve (the performance goals' workload). */
export const TARGET_RECIPIENTS = 300;
/** Caps lifted for the performance runs so the limiters are not what is measured. */
const UNCAPPED = {
  MAX_RPS: "1000000",
  RATE_BURST: "1000000",
  TENANT_RPS_MAX: "1000000",
  MAX_INFLIGHT: "512",
};

interface Epoch {
  epochId: string;
  inputsCid: string;
  recipients: number;
  bytes: number;
}

function args() {
  const a = Deno.args;
  const val = (name: string, dflt: string) => {
    const i = a.indexOf(name);
    return i >= 0 && a[i + 1] !== undefined ? a[i + 1]! : dflt;
  };
  const runtimes = val("--runtimes", "deno,bun,node").split(",").filter(Boolean) as Runtime[];
  const checks = val("--checks", "deno").split(",").filter(Boolean) as Runtime[];
  return {
    runtimes,
    checks: a.includes("--skip-checks") ? [] : checks,
    perf: !a.includes("--skip-perf"),
    compute: !a.includes("--skip-compute"),
    docs: !a.includes("--no-docs"),
  };
}

const sh = runIn;

async function machine() {
  const cpu = (await readFile("/proc/cpuinfo", "utf8")).match(/model name\s*:\s*(.*)/)?.[1];
  const mem = Deno.systemMemoryInfo();
  const v = async (c: string[]) => (await sh(c).catch(() => "absent")).split("\n")[0]!;
  return {
    date: new Date().toISOString(),
    cores: navigator.hardwareConcurrency,
    cpu: cpu ?? "unknown",
    memGiB: Math.round(mem.total / 2 ** 30),
    loadavgAtStart: Deno.loadavg(),
    deno: await v(["deno", "--version"]),
    bun: await v(["bun", "--version"]),
    node: await v(["node", "--version"]),
    wrk: await v(["sh", "-c", "wrk -v 2>&1 | head -1"]),
  };
}

async function prepare(runtimes: Runtime[], a: { compute: boolean }) {
  const { paths, samples, policyHash } = await prepareBenchData(DATA_DIR);
  const tag = Date.now().toString(36);
  const put = async (epochId: string, recipients: number): Promise<Epoch> => {
    const bytes = new TextEncoder().encode(generateEpochInputs(epochId, recipients));
    return { epochId, inputsCid: await casPut(DATA_DIR, bytes), recipients, bytes: bytes.length };
  };
  const target = await put(`bench-${tag}-target`, TARGET_RECIPIENTS);
  const perRuntime: Record<string, Record<string, Epoch[]>> = {};
  for (const rt of runtimes) {
    perRuntime[rt] = {};
    for (const size of a.compute ? COMPUTE_SIZES : []) {
      const list: Epoch[] = [];
      for (let i = 0; i < size.samples; i++) {
        list.push(await put(`bench-${tag}-${rt}-${size.name}-${i}`, size.recipients));
      }
      perRuntime[rt]![size.name] = list;
    }
  }
  const token = await devToken(paths.capsKeysPath, Date.now());
  return {
    token,
    sample: samples[0]!,
    policy: { id: GENERATED_POLICY.policy_id, hash: policyHash },
    target,
    perRuntime,
  };
}

type Prepared = Awaited<ReturnType<typeof prepare>>;

function computeBody(p: Prepared, e: Epoch): string {
  return JSON.stringify({
    inputs_cid: e.inputsCid,
    policy_id: p.policy.id,
    policy_hash: p.policy.hash,
  });
}

async function compute(server: Server, p: Prepared, e: Epoch) {
  const started = performance.now();
  const r = await fetch(`${server.url}/rewarder/epochs/${e.epochId}/compute`, {
    method: "POST",
    headers: { Authorization: `Macaroon ${p.token}`, "Content-Type": "application/json" },
    body: computeBody(p, e),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await r.text();
  const ms = performance.now() - started;
  let code: string | undefined;
  if (r.status !== 200) {
    try {
      const err = JSON.parse(text).error;
      code = `${err.code}/${err.reason}`;
    } catch {
      code = "unparsed";
    }
  }
  return { status: r.status, ms, code, text };
}

/** Nearest-rank percentile of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * The route the rate check offers load to: authenticated and cheap. An anonymous request is
 * charged to its peer's own bucket (docs/RUNBOOK.md), so an unauthenticated route would
 * measure that bucket, not the instance's; the tenant's bucket (TENANT_RPS_MAX per second, one
 * second of burst) is looser than the instance's here, so the instance's is the one that acts.
 */
export const RATE_CHECK_ROUTE = "/rewarder/runs?limit=1";

async function rateCheck(rt: Runtime, token: string) {
  const server = await startServer("service", rt, {
    DATA_DIR,
    MAX_RPS: String(RATE_CHECK.maxRps),
    RATE_BURST: String(RATE_CHECK.burst),
    TENANT_RPS_MAX: String(RATE_CHECK.tenantRpsMax),
  });
  try {
    // Wait out the start (the bucket is full at start: burst tokens).
    await fetch(`${server.url}/healthz`).then((r) => r.arrayBuffer());
    const keys = await openLoop({
      url: `${server.url}${RATE_CHECK_ROUTE}`,
      headers: { Authorization: `Macaroon ${token}` },
      rateRps: RATE_CHECK.offeredRps,
      durationMs: RATE_CHECK.durationMs,
      outstandingMax: RATE_CHECK.outstandingMax,
    });
    const healthz = await fetch(`${server.url}/healthz`).then((r) => r.status);
    return {
      runtime: rt,
      route: `GET ${RATE_CHECK_ROUTE} (instance bucket; a tenant's token)`,
      config: RATE_CHECK,
      ...summarizeOpenLoop(keys, RATE_CHECK.durationMs, {
        rateRps: RATE_CHECK.maxRps,
        burst: RATE_CHECK.burst,
      }),
      healthzAfter: healthz,
      command: `deno run --allow-all bench/load/run.ts --runtimes ${rt} --checks ${rt} --skip-perf`,
    };
  } finally {
    await server.stop();
  }
}

async function perfRuntime(
  rt: Runtime,
  p: Prepared,
  bare: { ready: boolean },
  withCompute: boolean,
) {
  const out: Record<string, unknown> = { runtime: rt };
  const server = await startServer("service", rt, { DATA_DIR, ...UNCAPPED });
  out.serviceCommand = server.command;
  try {
    await fetch(`${server.url}/healthz`).then((r) => r.arrayBuffer());
    // The GET/replay target: computed by the first runtime that can.
    if (!bare.ready) {
      const r = await compute(server, p, p.target);
      if (r.status === 200) {
        const env = await fetch(`${server.url}/rewarder/epochs/${p.target.epochId}`, {
          headers: { Authorization: `Macaroon ${p.token}` },
        });
        const envelopeBytes = new Uint8Array(await env.arrayBuffer());
        await writeFile(join(DATA_DIR, "bare-envelope.json"), envelopeBytes);
        await writeFile(join(DATA_DIR, "bare-record.json"), r.text);
        bare.ready = true;
        out.targetComputedHere = true;
      } else {
        out.targetError = `${r.status} ${r.code}`;
      }
    }
    const computes: Record<string, unknown> = {};
    for (const size of withCompute ? COMPUTE_SIZES : []) {
      const ms: number[] = [];
      const errors: Record<string, number> = {};
      let failuresInRow = 0;
      for (const e of p.perRuntime[rt]![size.name]!) {
        const r = await compute(server, p, e);
        if (r.status === 200 && JSON.parse(r.text).emission !== undefined) {
          ms.push(r.ms);
          failuresInRow = 0;
        } else {
          const k = `${r.status} ${r.code}`;
          errors[k] = (errors[k] ?? 0) + 1;
          if (++failuresInRow >= COMPUTE_FAILURES_MAX) break;
        }
      }
      ms.sort((a, b) => a - b);
      computes[size.name] = {
        recipients: size.recipients,
        inputsBytes: p.perRuntime[rt]![size.name]![0]!.bytes,
        n: ms.length,
        p50Ms: round1(percentile(ms, 50)),
        p99Ms: round1(percentile(ms, 99)),
        maxMs: round1(ms.at(-1) ?? NaN),
        errors,
      };
    }
    out.compute = computes;
    if (bare.ready) {
      const auth = `Macaroon ${p.token}`;
      out.serviceGet = await wrk(`${server.url}/rewarder/epochs/${p.target.epochId}`, {
        auth,
      }, WRK);
      out.serviceReplay = await wrk(`${server.url}/rewarder/epochs/${p.target.epochId}/compute`, {
        method: "POST",
        body: computeBody(p, p.target),
        auth,
      }, WRK);
    }
  } finally {
    out.serviceRssMiB = await server.rssMiB();
    await server.stop();
  }
  if (bare.ready) {
    const b = await startServer("bare", rt, {
      BARE_ENVELOPE_PATH: join(DATA_DIR, "bare-envelope.json"),
      BARE_RECORD_PATH: join(DATA_DIR, "bare-record.json"),
    });
    out.bareCommand = b.command;
    try {
      out.bareGet = await wrk(`${b.url}/rewarder/epochs/${p.target.epochId}`, {}, WRK);
      out.bareReplay = await wrk(`${b.url}/rewarder/epochs/${p.target.epochId}/compute`, {
        method: "POST",
        body: computeBody(p, p.target),
      }, WRK);
    } finally {
      await b.stop();
    }
  }
  return out;
}

async function main() {
  const a = args();
  const startedMs = performance.now();
  const m = await machine();
  console.error(`load bench: ${m.cores} cores, ${m.cpu}; runtimes ${a.runtimes.join(",")}`);
  if (a.runtimes.includes("node") || a.checks.includes("node")) {
    await sh(["bash", "scripts/bundle.sh", "bench/load/bare_hono.ts"]);
  }
  const p = await prepare(a.runtimes, a);
  console.error(`prepared ${DATA_DIR} in ${Math.round(performance.now() - startedMs)} ms`);
  const results: Record<string, unknown> = { machine: m };
  const checks: unknown[] = [];
  for (const rt of a.checks) {
    console.error(`rate check on ${rt}…`);
    checks.push({ rate: await rateCheck(rt, p.token) });
    console.error(`concurrency check on ${rt}…`);
    checks.push({ concurrency: await concurrencyCheck(rt, DATA_DIR, p.token, p.sample) });
  }
  // A partial run keeps the other part of the previous results (with its own machine line).
  const previous = JSON.parse(
    await readFile(join(ROOT, "bench/results/load.json"), "utf8").catch(() => "{}"),
  );
  results.checks = a.checks.length > 0 ? checks : previous.checks ?? [];
  results.checksMachine = a.checks.length > 0 ? m : previous.checksMachine ?? previous.machine;
  const perf: unknown[] = [];
  if (a.perf) {
    const bare = { ready: false };
    for (const rt of a.runtimes) {
      console.error(`performance on ${rt}…`);
      perf.push(await perfRuntime(rt, p, bare, a.compute));
    }
  }
  results.perf = a.perf ? perf : previous.perf ?? [];
  results.perfMachine = a.perf ? m : previous.perfMachine ?? previous.machine;
  results.loadavgAtEnd = Deno.loadavg();
  results.params = {
    RATE_CHECK,
    COMPUTE_SIZES: a.compute ? COMPUTE_SIZES : [],
    WRK,
    TARGET_RECIPIENTS,
    UNCAPPED,
  };
  results.elapsedS = Math.round((performance.now() - startedMs) / 1000);
  results.targetEpoch = p.target;
  await mkdir(join(ROOT, "bench/results"), { recursive: true });
  await writeFile(
    join(ROOT, "bench/results/load.json"),
    JSON.stringify(results, null, 2) + "\n",
  );
  if (a.docs) {
    const docsPath = join(ROOT, "docs/RESULTS.md");
    const doc = await readFile(docsPath, "utf8").catch(() => "# Results\n");
    await writeFile(docsPath, renderDocs(doc, results));
  }
  console.error(`done in ${results.elapsedS} s: bench/results/load.json`);
}

export type { WrkResult };

if (import.meta.main) await main();
