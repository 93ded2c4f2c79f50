/**
 * DoS suite support: start the real service (`main.ts`, embedded default) as a child process
 * on 127.0.0.1:0, read its address and development token from stdout, and watch it meanwhile:
 * a normal client's `/healthz` latency (p50/max) and the server's VmRSS.
 *
 * The latency is measured against its own baseline: each `/healthz` probe goes out together
 * with a probe of a control server (a bare `Deno.serve` in its own process, no app). On a quiet
 * machine the control answers in a millisecond or two; on a busy one both wait for a core, and
 * that wait is not the attack's. What the attack costs the service's own event loop is read
 * from the kernel: the CPU time its main (JS) thread used while each probe was out
 * (`/proc/<pid>/task/<pid>/stat`, utime + stime). On a quiet machine a probe that waits for a
 * busy loop takes as long as the loop's CPU time; on a busy one it also waits for a core, and
 * only the first is the attack's.
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
export const START_MS_MAX = 60_000;
/** Period of the healthz probe and the RSS sampler (ms). */
export const PROBE_PERIOD_MS = 50;
/**
 * One probe's own bound (ms): no answer within it is a miss. Generous, because a busy machine
 * delays the control as much; how long a probe took is judged against the control's time.
 */
export const PROBE_TIMEOUT_MS = 10_000;

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
  /** The control server probed next to `/healthz` (see the module doc). */
  controlUrl: string;
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
  let control: Awaited<ReturnType<typeof startControl>>;
  try {
    control = await startControl();
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
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
    controlUrl: control.url,
    stop: async () => {
      await control.stop();
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

/** Starts the control server: a bare Deno.serve on 127.0.0.1:0 in its own process. */
async function startControl(): Promise<{ url: string; stop(): Promise<void> }> {
  const code = `Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => ` +
    `console.log("control " + port) }, () => new Response("ok"));`;
  const child: ChildProcess = spawn("deno", ["eval", code], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "ignore"],
  });
  let out = "";
  child.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
  const started = Date.now();
  // Bounded: START_MS_MAX.
  while (!/control (\d+)/.test(out)) {
    if (Date.now() - started > START_MS_MAX || child.exitCode !== null) {
      child.kill("SIGKILL");
      throw new Error(`control server did not start: ${out.slice(0, 200)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${/control (\d+)/.exec(out)![1]}/`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU time (ms) the main thread of `pid` has used so far; undefined once it is gone. */
export async function mainThreadCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/task/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces, inside parentheses).
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return ((utime + stime) * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
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
  /** The control server's answers to the probes sent with the healthz ones. */
  controlP50Ms: number;
  controlMaxMs: number;
  /** Largest excess of a healthz probe over the control probe sent with it. */
  healthzExcessMaxMs: number;
  /** Most CPU time the service's main thread used while one healthz probe was out (ms). */
  loopCpuMaxMs: number;
  rssStartMib: number;
  rssMaxMib: number;
}

/** What an attack can ask the watcher while it runs. */
export interface Watching {
  /** Probe rounds completed so far. */
  probes(): number;
}

/**
 * Runs `attack` while probing `/healthz` every PROBE_PERIOD_MS (one round at a time, each
 * bounded by PROBE_TIMEOUT_MS; the control server is probed in the same round) and sampling
 * VmRSS. Returns the attack's value and what was seen.
 */
export async function watch<T>(
  srv: DosServer,
  attack: (w: Watching) => Promise<T>,
): Promise<{ value: T; watch: Watch }> {
  const latencies: number[] = [];
  const controls: number[] = [];
  let excessMax = 0;
  let loopCpuMax = 0;
  let failed = 0;
  const rssStart = (await rssKib(srv.pid)) ?? 0;
  let rssMax = rssStart;
  let running = true;
  /** One probe: its time (ms) and whether it answered 200 within PROBE_TIMEOUT_MS. */
  const probe = async (url: string): Promise<{ ms: number; ok: boolean }> => {
    const t0 = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await res.body?.cancel();
      return { ms: performance.now() - t0, ok: res.status === 200 };
    } catch {
      return { ms: performance.now() - t0, ok: false };
    }
  };
  const prober = (async () => {
    while (running) {
      const cpuBefore = await mainThreadCpuMs(srv.pid);
      const [h, c] = await Promise.all([
        probe(`http://${srv.host}:${srv.port}/healthz`),
        probe(srv.controlUrl),
      ]);
      const cpuAfter = await mainThreadCpuMs(srv.pid);
      if (cpuBefore !== undefined && cpuAfter !== undefined) {
        loopCpuMax = Math.max(loopCpuMax, cpuAfter - cpuBefore);
      }
      if (!h.ok) failed++;
      latencies.push(h.ms);
      controls.push(c.ms);
      excessMax = Math.max(excessMax, h.ms - c.ms);
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
    const value = await attack({ probes: () => latencies.length });
    return { value, watch: summary() };
  } finally {
    running = false;
    await Promise.all([prober, sampler]);
  }
  function summary(): Watch {
    const sorted = [...latencies].sort((a, b) => a - b);
    const ctl = [...controls].sort((a, b) => a - b);
    return {
      healthzCount: sorted.length,
      healthzFailed: failed,
      healthzP50Ms: round(sorted[Math.floor(sorted.length / 2)] ?? 0),
      healthzMaxMs: round(sorted[sorted.length - 1] ?? 0),
      controlP50Ms: round(ctl[Math.floor(ctl.length / 2)] ?? 0),
      controlMaxMs: round(ctl[ctl.length - 1] ?? 0),
      healthzExcessMaxMs: round(excessMax),
      loopCpuMaxMs: round(loopCpuMax),
      rssStartMib: round(rssStart / 1024),
      rssMaxMib: round(rssMax / 1024),
    };
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
