/**
 * Soak (nightly, docs/RESULTS.md): steady mixed load against the real service (`main.ts`, file
 * store, real dev ledger on loopback) for N minutes, sampling the service process's resident
 * memory (VmRSS of /proc/<pid>/status) and open file descriptors (/proc/<pid>/fd) every few
 * seconds and the client-side p50/p99 latency per window. Reports drift (first steady window vs
 * last window) and exits 1 when a bound below is crossed. Linux only (/proc).
 *
 *   deno run --allow-all bench/soak/soak.ts [--minutes 10] [--rps 50] [--sample-s 5]
 *                                           [--window-s 60] [--out <file.json>] [--seed n]
 *                                           [--new-share 0.1] [--preload-runs 0]
 *
 * `--new-share` is the fraction of requests that compute a fresh epoch (the store grows by one
 * committed run each; RSS grows with it by design); `--new-share 0 --preload-runs 500` is a
 * plateau check: a fixed working set of runs, only replays and reads.
 *
 * Writes bench/results/soak-<UTC date>.json (or --out). The first window is warm-up (JIT,
 * heap growth to its working size) and is not compared.
 *
 * @module
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devToken } from "../../src/shell/keys/dev_bootstrap.ts";
import {
  expectedRunKey,
  type Ledger,
  prepareDataDir,
  putInputs,
  type Service,
  sleep,
  startLedger,
  startService,
} from "../../tests/support/crash_harness.ts";
import {
  type ComputeJob,
  type LoadSample,
  percentile,
  round1,
  startMixedLoad,
} from "./mixed_load.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

// ---- bounds (the verdict) ------------------------------------------------------------------

/** Largest growth of the median RSS, last window vs first steady window, MiB. */
export const RSS_GROWTH_MIB_MAX = 64;
/** Largest growth of the median open-fd count, last window vs first steady window. */
export const FD_GROWTH_MAX = 16;
/** p50 may grow to first × factor + slack (slack absorbs sub-millisecond noise). */
export const P50_FACTOR_MAX = 2;
export const P50_SLACK_MS = 5;
/** p99 may grow to first × factor + slack. */
export const P99_FACTOR_MAX = 3;
export const P99_SLACK_MS = 25;
/** Bound on the outbox drain after the load stops, ms. */
export const DRAIN_WAIT_MS_MAX = 120_000;

// ---- load shape ----------------------------------------------------------------------------

/** Default minutes (nightly: at least 10). */
const MINUTES_DEFAULT = 10;
const RPS_DEFAULT = 50;
const SAMPLE_S_DEFAULT = 5;
const WINDOW_S_DEFAULT = 60;
/** Shortest window, s (short runs shrink the window so there are ≥ 3). */
const WINDOW_S_MIN = 10;
/** Requests waiting for an answer beyond which due requests are dropped (and reported). */
const OUTSTANDING_MAX = 256;
/** Client deadline of one request, ms. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Token lifetime is 1 h: re-mint after this, ms. */
const TOKEN_REFRESH_MS = 30 * 60_000;
/** Pages followed when listing every run (500 each). */
const LIST_PAGES_MAX = 1_000;
/** Unexpected answers kept verbatim in the report. */
const EXAMPLES_MAX = 20;
/**
 * Mix of the non-compute requests (replays and reads over what was computed); fresh computes
 * take `--new-share` of all requests (default 10 %: the store grows by design, the RSS bound
 * above includes that growth).
 */
const READ_MIX = { replay: 0.15, getRun: 0.35, getEpoch: 0.3, listRuns: 0.1 };
const NEW_SHARE_DEFAULT = 0.1;
/** Largest preloaded working set (sequential computes before the load starts). */
const PRELOAD_RUNS_MAX = 100_000;

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Deno.args[i + 1] : undefined;
  return v ?? fallback;
}
function positive(name: string, fallback: number): number {
  const n = Number(flag(name, String(fallback)));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
}

/** One /proc sample. */
interface ProcSample {
  tS: number;
  rssMiB: number;
  fds: number;
  threads: number;
}

async function procSample(pid: number, t0: number): Promise<ProcSample> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return {
    tS: Math.round((Date.now() - t0) / 100) / 10,
    rssMiB: Math.round((kb("VmRSS") / 1024) * 10) / 10,
    fds,
    threads: kb("Threads"),
  };
}

/** Latency and answers of one window. */
interface Window {
  index: number;
  fromS: number;
  toS: number;
  requests: number;
  byStatus: Record<string, number>;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  computeP99Ms: number | null;
  rssMiBMedian: number | null;
  fdsMedian: number | null;
  /** Runs acknowledged so far (the store's size, roughly) when the window closed. */
  runsAtClose: number;
}

function median(xs: number[]): number | undefined {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

async function main(): Promise<number> {
  const minutes = positive("minutes", MINUTES_DEFAULT);
  const rps = positive("rps", RPS_DEFAULT);
  const sampleS = positive("sample-s", SAMPLE_S_DEFAULT);
  const totalS = minutes * 60;
  const windowS = Math.max(
    WINDOW_S_MIN,
    Math.min(positive("window-s", WINDOW_S_DEFAULT), Math.floor(totalS / 4)),
  );
  const seed = Number(flag("seed", String(Date.now() % 1_000_000_007)));
  const newShare = Number(flag("new-share", String(NEW_SHARE_DEFAULT)));
  if (!(newShare >= 0 && newShare <= 1)) throw new Error("--new-share must be in [0, 1]");
  const preloadRuns = Number(flag("preload-runs", "0"));
  if (!Number.isInteger(preloadRuns) || preloadRuns < 0 || preloadRuns > PRELOAD_RUNS_MAX) {
    throw new Error(`--preload-runs must be an integer in [0, ${PRELOAD_RUNS_MAX}]`);
  }
  const readWeight = Object.values(READ_MIX).reduce((a, b) => a + b, 0);
  const mix = {
    compute: newShare,
    ...Object.fromEntries(
      Object.entries(READ_MIX).map(([k, v]) => [k, ((1 - newShare) * v) / readWeight]),
    ) as typeof READ_MIX,
  };
  const stamp = new Date().toISOString().replace(/[:]/g, "").replace(/\.\d{3}Z$/, "Z");
  const out = flag("out", join(ROOT, "bench", "results", `soak-${stamp}.json`));
  const command = `deno run --allow-all bench/soak/soak.ts ${Deno.args.join(" ")}`.trim();

  const dir = await mkdtemp(join(tmpdir(), "rw-soak-"));
  const dataDir = join(dir, "data");
  let ledger: Ledger | undefined;
  let service: Service | undefined;
  const failures: string[] = [];
  try {
    const d = await prepareDataDir(dataDir);
    ledger = await startLedger(dir, d.ledgerKeys);
    service = await startService({ DATA_DIR: dataDir, LEDGER_URL: ledger.url });
    const pid = service.child.pid;
    let token = await devToken(d.capsKeysPath, Date.now());
    let tokenAtMs = Date.now();
    const policy = d.sealedPolicy;
    let epochNo = 0;
    const nextJob = async (): Promise<ComputeJob> => {
      const epochId = `soak-${seed}-${epochNo++}`;
      const cid = await putInputs(dataDir, epochId, { poolMinor: 1000n, overflow: false });
      return {
        epochId,
        body: { inputs_cid: cid, policy_id: policy.policyId, policy_hash: policy.policyHash },
        runKey: expectedRunKey(epochId, policy.policyHash, cid),
      };
    };

    // A working set computed before the clock starts (sequential; each must be acknowledged).
    const initialRuns: ComputeJob[] = [];
    for (let i = 0; i < preloadRuns; i++) {
      const job = await nextJob();
      const res = await fetch(`${service.url}/rewarder/epochs/${job.epochId}/compute`, {
        method: "POST",
        headers: { authorization: `Macaroon ${token}`, "content-type": "application/json" },
        body: JSON.stringify(job.body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const doc = await res.json();
      if (res.status !== 200 || doc.run_key !== job.runKey) {
        throw new Error(`preload compute failed: ${res.status}`);
      }
      initialRuns.push(job);
    }

    const t0 = Date.now();
    const proc: ProcSample[] = [await procSample(pid, t0)];
    const windows: Window[] = [];
    let current: LoadSample[] = [];
    const examples: string[] = [];
    const unexpected = { network: 0, status5xx: 0, other4xx: 0 };
    const load = startMixedLoad({
      baseUrl: () => service!.url,
      token: () => {
        if (Date.now() - tokenAtMs > TOKEN_REFRESH_MS) {
          tokenAtMs = Date.now();
          devToken(d.capsKeysPath, Date.now()).then((t) => (token = t));
        }
        return token;
      },
      rateRps: rps,
      mix,
      nextJob,
      initialRuns,
      outstandingMax: OUTSTANDING_MAX,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      seed,
      onSample(s) {
        current.push(s);
        const ok = s.status === 200 || s.status === 429 ||
          (s.status === 503 && s.retryAfter !== null);
        if (ok) return;
        if (s.status === "network") unexpected.network += 1;
        else if (s.status >= 500) unexpected.status5xx += 1;
        else unexpected.other4xx += 1;
        if (examples.length < EXAMPLES_MAX) {
          examples.push(`${s.kind} ${s.path} → ${s.status} ${s.code ?? ""}`);
        }
      },
    });

    const closeWindow = (index: number, fromMs: number, toMs: number): void => {
      const samples = current;
      current = [];
      const byStatus: Record<string, number> = {};
      for (const s of samples) byStatus[String(s.status)] = (byStatus[String(s.status)] ?? 0) + 1;
      const ok = samples.filter((s) => s.status === 200);
      const lat = ok.map((s) => s.latencyMs).sort((a, b) => a - b);
      const computeLat = ok.filter((s) => s.kind === "compute").map((s) => s.latencyMs)
        .sort((a, b) => a - b);
      const inWindow = proc.filter((p) => p.tS * 1000 >= fromMs && p.tS * 1000 <= toMs);
      const w: Window = {
        index,
        fromS: Math.round(fromMs / 1000),
        toS: Math.round(toMs / 1000),
        requests: samples.length,
        byStatus,
        p50Ms: round1(percentile(lat, 50)),
        p99Ms: round1(percentile(lat, 99)),
        maxMs: round1(lat.at(-1)),
        computeP99Ms: round1(percentile(computeLat, 99)),
        rssMiBMedian: round1(median(inWindow.map((p) => p.rssMiB))),
        fdsMedian: median(inWindow.map((p) => p.fds)) ?? null,
        runsAtClose: load.acknowledged().size,
      };
      windows.push(w);
      const last = proc.at(-1)!;
      console.log(
        `window ${index} [${w.fromS}-${w.toS}s] n=${w.requests} p50=${w.p50Ms} p99=${w.p99Ms} ` +
          `ms rss=${last.rssMiB} MiB fds=${last.fds} ${JSON.stringify(byStatus)}`,
      );
    };

    let nextSampleMs = sampleS * 1000;
    let windowStartMs = 0;
    let windowIndex = 0;
    for (;;) {
      const elapsedMs = Date.now() - t0;
      if (elapsedMs >= totalS * 1000) break;
      if (elapsedMs >= nextSampleMs) {
        proc.push(await procSample(pid, t0));
        nextSampleMs += sampleS * 1000;
      }
      if (elapsedMs - windowStartMs >= windowS * 1000) {
        closeWindow(windowIndex++, windowStartMs, elapsedMs);
        windowStartMs = elapsedMs;
      }
      if (service.child.exitedYet()) {
        failures.push(`the service exited during the soak:\n${service.child.output()}`);
        break;
      }
      await sleep(200);
    }
    const totals = await load.stop();
    proc.push(await procSample(pid, t0));
    if (current.length > 0 && Date.now() - t0 - windowStartMs >= (windowS * 1000) / 2) {
      closeWindow(windowIndex++, windowStartMs, Date.now() - t0);
    }

    // Drift: the first window is warm-up; compare the second with the last.
    const first = windows[1] ?? windows[0];
    const last = windows.at(-1);
    let drift: Record<string, unknown> = {};
    if (first === undefined || last === undefined || first === last) {
      failures.push("too few windows to compare (run longer or lower --window-s)");
    } else {
      const rssGrowth = (last.rssMiBMedian ?? 0) - (first.rssMiBMedian ?? 0);
      const fdGrowth = (last.fdsMedian ?? 0) - (first.fdsMedian ?? 0);
      const spanMin = (last.toS - first.fromS) / 60;
      drift = {
        compared: [first.index, last.index],
        rssMiB: { first: first.rssMiBMedian, last: last.rssMiBMedian, growth: round1(rssGrowth) },
        rssMiBPerMinute: round1(rssGrowth / Math.max(spanMin, 1 / 60)),
        runsAdded: last.runsAtClose - first.runsAtClose,
        rssKiBPerRunAdded: last.runsAtClose > first.runsAtClose
          ? round1((rssGrowth * 1024) / (last.runsAtClose - first.runsAtClose))
          : null,
        fds: { first: first.fdsMedian, last: last.fdsMedian, growth: fdGrowth },
        p50Ms: { first: first.p50Ms, last: last.p50Ms },
        p99Ms: { first: first.p99Ms, last: last.p99Ms },
        rssMiBPeak: Math.max(...proc.map((p) => p.rssMiB)),
        fdsPeak: Math.max(...proc.map((p) => p.fds)),
      };
      if (rssGrowth > RSS_GROWTH_MIB_MAX) {
        failures.push(`RSS grew ${round1(rssGrowth)} MiB > ${RSS_GROWTH_MIB_MAX} MiB`);
      }
      if (fdGrowth > FD_GROWTH_MAX) failures.push(`open fds grew ${fdGrowth} > ${FD_GROWTH_MAX}`);
      const worse = (a: number | null, b: number | null, f: number, slack: number) =>
        a !== null && b !== null && b > a * f + slack;
      if (worse(first.p50Ms, last.p50Ms, P50_FACTOR_MAX, P50_SLACK_MS)) {
        failures.push(
          `p50 ${first.p50Ms} → ${last.p50Ms} ms (> ×${P50_FACTOR_MAX} + ${P50_SLACK_MS})`,
        );
      }
      if (worse(first.p99Ms, last.p99Ms, P99_FACTOR_MAX, P99_SLACK_MS)) {
        failures.push(
          `p99 ${first.p99Ms} → ${last.p99Ms} ms (> ×${P99_FACTOR_MAX} + ${P99_SLACK_MS})`,
        );
      }
    }
    if (unexpected.network + unexpected.status5xx + unexpected.other4xx > 0) {
      failures.push(`unexpected answers ${JSON.stringify(unexpected)}: ${examples.join("; ")}`);
    }

    // Nothing lost: the outbox drains and the ledger applied exactly the committed runs.
    const drain = await drainAndReconcile(service.url, token, ledger, load.acknowledged());
    failures.push(...drain.failures);

    const report = {
      command,
      date: new Date(t0).toISOString(),
      machine: {
        cores: navigator.hardwareConcurrency,
        loadavgAtEnd: Deno.loadavg(),
        deno: Deno.version.deno,
      },
      config: {
        minutes,
        rps,
        sampleS,
        windowS,
        seed,
        newShare,
        preloadRuns,
        mix,
        service: "main.ts embedded default (file store), LEDGER_URL = tools/dev_ledger.ts",
      },
      bounds: {
        rssGrowthMiBMax: RSS_GROWTH_MIB_MAX,
        fdGrowthMax: FD_GROWTH_MAX,
        p50: `last ≤ first × ${P50_FACTOR_MAX} + ${P50_SLACK_MS} ms`,
        p99: `last ≤ first × ${P99_FACTOR_MAX} + ${P99_SLACK_MS} ms`,
      },
      totals: { ...totals, acknowledgedRuns: load.acknowledged().size, unexpected },
      drift,
      drain: drain.summary,
      windows,
      samples: proc,
      verdict: failures.length === 0 ? "pass" : "fail",
      failures,
    };
    await writeFile(out, JSON.stringify(report, null, 2) + "\n");
    console.log(JSON.stringify({ drift, drain: drain.summary, verdict: report.verdict }, null, 2));
    console.log(`wrote ${out}`);
    for (const f of failures) console.error(`FAIL: ${f}`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    if (service && !service.child.exitedYet()) await service.child.stop();
    if (ledger) await ledger.child.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Waits for the outbox to drain, then compares the committed runs with the ledger. */
async function drainAndReconcile(
  url: string,
  token: string,
  ledger: Ledger,
  acknowledged: ReadonlyMap<string, string>,
): Promise<{ failures: string[]; summary: Record<string, unknown> }> {
  const failures: string[] = [];
  const startedMs = Date.now();
  let runs: { run_key: string; dry_run: boolean; emission: string }[] = [];
  for (;;) {
    runs = await listAll(url, token);
    if (!runs.some((r) => r.emission === "pending")) break;
    if (Date.now() - startedMs > DRAIN_WAIT_MS_MAX) {
      failures.push(`outbox not drained within ${DRAIN_WAIT_MS_MAX} ms`);
      break;
    }
    await sleep(500);
  }
  const drainMs = Date.now() - startedMs;
  const committed = new Set(runs.filter((r) => !r.dry_run).map((r) => r.run_key));
  const stats = await ledger.stats();
  // The ledger keys what it applied by intent key (contract §7); each entry names its run.
  const applied = stats.entries.map((e) => e.run_key);
  const appliedRuns = new Set(applied);
  const missing = [...committed].filter((k) => !appliedRuns.has(k));
  const extra = applied.filter((k) => !committed.has(k));
  const twice = Object.values(stats.applied).filter((n) => n !== 1).length;
  if (twice > 0) failures.push(`${twice} intent keys applied more than once`);
  const lost = [...acknowledged.keys()].filter((k) => !committed.has(k));
  if (missing.length > 0) failures.push(`${missing.length} committed runs never applied`);
  if (extra.length > 0) failures.push(`${extra.length} applied intents without a committed run`);
  if (lost.length > 0) failures.push(`${lost.length} acknowledged runs are not committed`);
  const failed = runs.filter((r) => r.emission === "failed").length;
  if (failed > 0) failures.push(`${failed} runs ended in emission=failed`);
  return {
    failures,
    summary: {
      drainMs,
      committedRuns: committed.size,
      ledgerApplied: applied.length,
      ledgerDeliveries: stats.deliveries,
      ledgerDuplicates: Object.values(stats.duplicates).reduce((a, b) => a + b, 0),
    },
  };
}

async function listAll(
  url: string,
  token: string,
): Promise<{ run_key: string; dry_run: boolean; emission: string }[]> {
  const out: { run_key: string; dry_run: boolean; emission: string }[] = [];
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
      await sleep(1000);
      limited += 1;
      page -= 1; // the same page again (bounded by `limited`)
      continue;
    }
    if (res.status !== 200) throw new Error(`listing runs failed: ${res.status}`);
    const doc = await res.json();
    out.push(...doc.runs);
    cursor = doc.next_cursor;
    if (cursor === null) return out;
  }
  throw new Error("too many pages of runs");
}

if (import.meta.main) Deno.exit(await main());
