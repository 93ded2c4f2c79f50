/**
 * Where the hot path's CPU goes: the service under `deno run --cpu-prof` while wrk drives one
 * path (GET a committed epoch, or a replayed compute) with the bench:check workload (a
 * 300-recipient epoch, wrk -t1 -c16, rate caps lifted); then the top self-time functions of the
 * profile, and the CPU time per request (the profile's sampled time over wrk's request count).
 * docs/PROFILE.md records its output.
 *
 *   deno run --allow-all bench/load/profile.ts [--path get|replay|both] [--seconds 5]
 *                                               [--top 25] [--out DIR]
 *
 * One service process per path (the profile is written when the process exits after its
 * SIGTERM drain); the epoch is committed by the first process and replayed or read by each.
 *
 * @module
 */
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { prepare, UNCAPPED } from "./check.ts";
import { wrk } from "./wrk.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The permissions of `deno task start`, plus the profiler. */
const DENO_ARGS = [
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--deny-run",
  "--deny-ffi",
  "--unstable-no-legacy-abort",
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One row of the self-time table. */
export interface SelfTimeRow {
  fn: string;
  selfMs: number;
  share: number;
}

/**
 * Self time by function (name + file:line), largest first; `(idle)` and `(program)` kept.
 * Only samples taken within `window` (µs on the profile's own clock) are counted.
 */
export function selfTimes(
  p: CpuProfile,
  window: { fromUs: number; toUs: number } = { fromUs: -Infinity, toUs: Infinity },
): { rows: SelfTimeRow[]; busyMs: number } {
  const byNode = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const delta = p.timeDeltas[i] ?? 0;
    t += delta;
    if (t < window.fromUs || t > window.toUs) continue;
    byNode.set(id, (byNode.get(id) ?? 0) + delta);
  }
  const byFn = new Map<string, number>();
  let busyUs = 0;
  for (const n of p.nodes) {
    const us = byNode.get(n.id) ?? 0;
    if (us === 0) continue;
    const f = n.callFrame;
    const file = f.url.replace(`file://${ROOT}`, "").replace(
      /^(?:.*\/)?node_modules\/\.deno\//,
      "npm:",
    );
    const key = `${f.functionName || "(anonymous)"} ${file ? `${file}:${f.lineNumber + 1}` : ""}`
      .trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    if (f.functionName !== "(idle)") busyUs += us;
  }
  const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).map(([fn, us]) => ({
    fn,
    selfMs: Math.round(us / 100) / 10,
    share: Math.round((us / Math.max(busyUs, 1)) * 1000) / 10,
  }));
  return { rows, busyMs: busyUs / 1000 };
}

async function startProfiled(dataDir: string, profDir: string) {
  const child = new Deno.Command("deno", {
    args: [...DENO_ARGS, "--cpu-prof", `--cpu-prof-dir=${profDir}`, "main.ts"],
    cwd: ROOT,
    env: { BIND_ADDR: "127.0.0.1:0", DATA_DIR: dataDir, ...UNCAPPED },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  void child.stderr.cancel();
  let text = "";
  let url: string | undefined;
  while (url === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`service exited before listening: ${text.slice(-2000)}`);
    text += value;
    const m = /listening tcp (\S+):(\d+)/.exec(text);
    if (m) url = `http://${m[1]}:${m[2]}`;
  }
  // Keep draining stdout (access lines) so the child never blocks on a full pipe.
  void (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })().catch(() => {});
  return {
    url,
    /** Stops the service; answers when it exited (performance.now()). */
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      return performance.now();
    },
  };
}

async function main() {
  const a = Deno.args;
  const val = (name: string, dflt: string) => {
    const i = a.indexOf(name);
    return i >= 0 && a[i + 1] !== undefined ? a[i + 1]! : dflt;
  };
  const which = val("--path", "both");
  const seconds = Number(val("--seconds", "5"));
  const top = Number(val("--top", "25"));
  const outDir = val("--out", "/tmp/svc-rewarder-profile");
  const dataDir = Deno.env.get("BENCH_DATA_DIR") ?? "/tmp/svc-rewarder-profile-data";
  const p = await prepare(dataDir);
  const auth = `Macaroon ${p.token}`;
  const shape = { threads: 1, connections: 16, warmS: 1, measureS: seconds };
  const paths = which === "both" ? ["get", "replay"] : [which];
  console.log(
    `load average at start: ${Deno.loadavg().join(" ")} (${navigator.hardwareConcurrency} cores)`,
  );
  let committed = false;
  for (const path of paths) {
    const profDir = join(outDir, path);
    await rm(profDir, { recursive: true, force: true });
    await mkdir(profDir, { recursive: true });
    const s = await startProfiled(dataDir, profDir);
    const computeUrl = `${s.url}/rewarder/epochs/${p.epochId}/compute`;
    if (!committed) {
      const r = await fetch(computeUrl, {
        method: "POST",
        headers: { Authorization: auth, "Content-Type": "application/json" },
        body: p.body,
      });
      const t = await r.text();
      if (r.status !== 200) throw new Error(`compute: ${r.status} ${t}`);
      committed = true;
    }
    const res = path === "get"
      ? await wrk(`${s.url}/rewarder/epochs/${p.epochId}`, { auth }, shape)
      : await wrk(computeUrl, { method: "POST", body: p.body, auth }, shape);
    const measuredUntil = performance.now();
    const exitedAt = await s.stop();
    // The main isolate's profile (engine workers write their own, not read here).
    const file = (await readdir(profDir)).find((f) =>
      f.endsWith(".cpuprofile") && !f.includes("worker")
    );
    if (file === undefined) throw new Error(`no profile written in ${profDir}`);
    const prof = JSON.parse(await readFile(join(profDir, file), "utf8")) as CpuProfile;
    // Only wrk's measured seconds: the profile ends when the process exits (its clock is
    // anchored there), so start-up, the first compute, the warm-up and the drain are left out.
    const toUs = prof.endTime - (exitedAt - measuredUntil) * 1000;
    const { rows, busyMs } = selfTimes(prof, { fromUs: toUs - seconds * 1e6, toUs });
    const requests = res.requests;
    console.log(
      `\n## ${path}: ${res.rps} req/s, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms, non-2xx ` +
        `${res.non2xx}; busy CPU ${Math.round(busyMs)} ms over ~${Math.round(requests)} ` +
        `requests ≈ ${Math.round((busyMs * 1000) / requests)} µs/request (load average now ` +
        `${Deno.loadavg().join(" ")}); profile ${join(profDir, file)}`,
    );
    console.log("| self ms | % of busy | function |\n|---:|---:|---|");
    for (const r of rows.filter((r) => !r.fn.startsWith("(idle)")).slice(0, top)) {
      console.log(`| ${r.selfMs} | ${r.share} | \`${r.fn}\` |`);
    }
  }
}

if (import.meta.main) await main();
