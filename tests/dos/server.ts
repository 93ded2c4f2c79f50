/**
 * DoS suite support: start the real service (`main.ts`, embedded default) as a child process
 * on 127.0.0.1:0, read its address and development token from stdout, and watch it meanwhile:
 * a normal client's `/healthz` latency (p50/max) and the server's VmRSS.
 *
 * Runtimes: `deno` (Deno.serve, the default listener) and `bun` (Bun runs main.ts from source).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Longest the server may take to print its first request (ms). */
export const START_MS_MAX = 30_000;
/** Period of the healthz probe and the RSS sampler (ms). */
export const PROBE_PERIOD_MS = 50;
/** One healthz probe's own timeout (ms): a longer answer counts as this long, and as a miss. */
export const PROBE_TIMEOUT_MS = 3_000;

/** Runtimes the suite can start. */
export type DosRuntime = "deno" | "bun";

/** A running service. */
export interface DosServer {
  runtime: DosRuntime;
  host: string;
  port: number;
  pid: number;
  token: string;
  dataDir: string;
  /** The sample compute body printed by the embedded default. */
  sampleBody: { inputs_cid: string; policy_id: string; policy_hash: string };
  sampleEpoch: string;
  stop(): Promise<void>;
}

const ROOT = new URL("../../", import.meta.url).pathname;

/** Starts main.ts under `runtime` with extra env; resolves once the first request is printed. */
export async function startServer(
  runtime: DosRuntime,
  env: Record<string, string> = {},
): Promise<DosServer> {
  const dataDir = await mkdtemp(join(tmpdir(), "rewarder-dos-"));
  const cmd = runtime === "deno"
    ? [
      "deno",
      ["run", "--allow-all", "--unstable-no-legacy-abort", "main.ts"],
    ] as const
    : ["bun", ["main.ts"]] as const;
  const child: ChildProcess = spawn(cmd[0], [...cmd[1]], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      BIND_ADDR: "127.0.0.1:0",
      NO_COLOR: "1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
  child.stderr!.on("data", () => {});
  const started = Date.now();
  // Bounded: START_MS_MAX.
  while (!/curl -s http:\/\/[^\s]+\/rewarder\/epochs\/[^\s]+ -H/.test(out)) {
    if (Date.now() - started > START_MS_MAX || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`server did not start: ${out.slice(0, 500)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const addr = /listening tcp ([0-9.]+):(\d+)/.exec(out)!;
  const token = /TOKEN='([^']+)'/.exec(out)![1]!;
  const body = JSON.parse(/-d '(\{[^']+\})'/.exec(out)![1]!);
  const epoch = /\/rewarder\/epochs\/([^/\s]+)\/compute/.exec(out)![1]!;
  return {
    runtime,
    host: addr[1]!,
    port: Number(addr[2]),
    pid: child.pid!,
    token,
    dataDir,
    sampleBody: body,
    sampleEpoch: epoch,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 12_000);
        await exited;
        clearTimeout(t);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resident memory of a process (KiB), from /proc/<pid>/status; undefined once it is gone. */
export async function rssKib(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** What the watcher saw while an attack ran. */
export interface Watch {
  healthzCount: number;
  healthzFailed: number;
  healthzP50Ms: number;
  healthzMaxMs: number;
  rssStartMib: number;
  rssMaxMib: number;
}

/**
 * Runs `attack` while probing `/healthz` every PROBE_PERIOD_MS (one at a time, each bounded
 * by PROBE_TIMEOUT_MS) and sampling VmRSS. Returns the attack's value and what was seen.
 */
export async function watch<T>(
  srv: DosServer,
  attack: () => Promise<T>,
): Promise<{ value: T; watch: Watch }> {
  const latencies: number[] = [];
  let failed = 0;
  const rssStart = (await rssKib(srv.pid)) ?? 0;
  let rssMax = rssStart;
  let running = true;
  const prober = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(`http://${srv.host}:${srv.port}/healthz`, {
          signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
        });
        await res.body?.cancel();
        if (res.status !== 200) failed++;
      } catch {
        failed++;
      }
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, PROBE_PERIOD_MS));
    }
  })();
  const sampler = (async () => {
    while (running) {
      const kib = await rssKib(srv.pid);
      if (kib !== undefined) rssMax = Math.max(rssMax, kib);
      await new Promise((r) => setTimeout(r, PROBE_PERIOD_MS));
    }
  })();
  try {
    const value = await attack();
    return { value, watch: summary() };
  } finally {
    running = false;
    await Promise.all([prober, sampler]);
  }
  function summary(): Watch {
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      healthzCount: sorted.length,
      healthzFailed: failed,
      healthzP50Ms: round(sorted[Math.floor(sorted.length / 2)] ?? 0),
      healthzMaxMs: round(sorted[sorted.length - 1] ?? 0),
      rssStartMib: round(rssStart / 1024),
      rssMaxMib: round(rssMax / 1024),
    };
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
