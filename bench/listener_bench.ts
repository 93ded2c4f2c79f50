/**
 * Listener cost on Deno, same app, same bytes: plain `Deno.serve` (no header deadline), the
 * default listener (Deno's engine under the connection guard, src/shell/listen/conn_guard.ts;
 * LISTEN_ENGINE=native) and Deno's `node:http` (LISTEN_ENGINE=node). A bench, not a test:
 * nothing here runs in CI. Needs `wrk` (Debian package).
 *
 *   deno run --allow-all bench/listener_bench.ts [--rounds 3] [--seconds 4] [--connections 16]
 *                                               [--baseline-dir DIR] [--service-dir DIR]
 *
 * In alternating rounds (every variant once per round, so a drift of the shared machine falls
 * on all): the real service (`main.ts`, limiters lifted) on GET /healthz and on GET of a
 * committed epoch (the signed envelope), then a bare Hono app serving the same envelope bytes
 * (`--serve-bare VARIANT` runs that app). wrk -t1 -cN, a 1 s warm-up, then N s measured. The
 * bare app runs plain `Deno.serve` through `listen(…, { unguarded: true })`; the service has no
 * such switch, so its plain-`Deno.serve` figures come from a checkout of the commit before the
 * guard (`--baseline-dir`, e.g. `git archive <commit> | tar -x -C DIR` with node_modules linked
 * in), and are skipped without it; `--service-dir` runs the other two from a clean checkout of
 * the guard's commit the same way (default: this tree), so only the listener differs. The median round per variant and target is reported with
 * its cost against plain Deno.serve; figures go to bench/results/listener.json and by hand
 * into docs/RESULTS.md "Listener".
 *
 * @module
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { Hono } from "hono";
import { devToken, ensureDevMaterial } from "../src/shell/keys/dev_bootstrap.ts";
import { listen } from "../src/shell/listen/listen.ts";
import { wrk, type WrkResult } from "./load/wrk.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DATA_DIR = Deno.env.get("BENCH_DATA_DIR") ?? "/tmp/svc-rewarder-listenerbench";
/** Limiters lifted so the listener, not the rate limit, is what is measured. */
const UNCAPPED = {
  MAX_RPS: "1000000",
  RATE_BURST: "1000000",
  TENANT_RPS_MAX: "1000000",
  MAX_INFLIGHT: "512",
};
const VARIANTS = ["deno-serve", "guarded", "node"] as const;
type Variant = (typeof VARIANTS)[number];
/** LISTEN_ENGINE of each variant (plain Deno.serve is the baseline checkout's native). */
const ENGINE_OF: Record<Variant, "native" | "node"> = {
  "deno-serve": "native",
  guarded: "native",
  node: "node",
};
/** Longest a preparatory request (the compute that commits the epoch) may take, ms. */
const PREP_REQUEST_MS_MAX = 60_000;

function arg(name: string, dflt: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 && Deno.args[i + 1] !== undefined ? Deno.args[i + 1]! : dflt;
}

/** `--serve-bare VARIANT`: a bare Hono app serving the envelope file's bytes, nothing else. */
async function serveBare(variant: Variant): Promise<void> {
  const envelope = await readFile(process.env.BARE_ENVELOPE_PATH ?? "", "utf8");
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get(
    "/rewarder/epochs/:epoch_id",
    (c) => c.body(envelope, 200, { "content-type": "application/json" }),
  );
  const handle = await listen(app.fetch, {
    bindAddr: process.env.BIND_ADDR ?? "127.0.0.1:0",
    engine: ENGINE_OF[variant],
    unguarded: variant === "deno-serve",
    onListen: (addr) => {
      if (addr.transport === "tcp") console.log(`listening tcp ${addr.hostname}:${addr.port}`);
    },
  });
  await handle.finished;
}

async function prepare(): Promise<{ token: string; epochId: string; envelopePath: string }> {
  await rm(DATA_DIR, { recursive: true, force: true });
  await mkdir(DATA_DIR, { recursive: true, mode: 0o700 });
  const { paths, samples } = await ensureDevMaterial(DATA_DIR, join(ROOT, "vectors"));
  const sample = samples[0]!;
  const token = await devToken(paths.capsKeysPath, Date.now());
  const server = await startChild(SERVICE_CMD, ROOT, { DATA_DIR, ...UNCAPPED });
  try {
    const auth = { Authorization: `Macaroon ${token}` };
    const r = await fetch(`${server.url}/rewarder/epochs/${sample.epochId}/compute`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({
        inputs_cid: sample.inputsCid,
        policy_id: sample.policyId,
        policy_hash: sample.policyHash,
      }),
      signal: AbortSignal.timeout(PREP_REQUEST_MS_MAX),
    });
    if (r.status !== 200) throw new Error(`compute answered ${r.status}: ${await r.text()}`);
    await r.body?.cancel();
    const env = await fetch(`${server.url}/rewarder/epochs/${sample.epochId}`, { headers: auth });
    if (env.status !== 200) throw new Error(`GET epoch answered ${env.status}`);
    const envelopePath = join(DATA_DIR, "bare-envelope.json");
    await writeFile(envelopePath, new Uint8Array(await env.arrayBuffer()));
    return { token, epochId: sample.epochId, envelopePath };
  } finally {
    await server.stop();
  }
}

interface Point {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
  bytesPerRequest: number;
  command: string;
}

const point = (r: WrkResult): Point => ({
  rps: r.rps,
  p50Ms: r.p50Ms,
  p99Ms: r.p99Ms,
  non2xx: r.non2xx,
  socketErrors: r.socketErrors,
  bytesPerRequest: r.bytesPerRequest,
  command: r.command,
});

async function round(
  variant: Variant,
  prep: Awaited<ReturnType<typeof prepare>>,
  o: { threads: number; connections: number; warmS: number; measureS: number },
  baselineDir: string | undefined,
  serviceDir: string,
): Promise<Record<string, Point>> {
  const out: Record<string, Point> = {};
  const env = { DATA_DIR, LISTEN_ENGINE: ENGINE_OF[variant], ...UNCAPPED };
  const service = variant !== "deno-serve"
    ? await startChild(SERVICE_CMD, serviceDir, env)
    : baselineDir !== undefined
    ? await startChild(SERVICE_CMD, baselineDir, env)
    : undefined;
  if (service !== undefined) {
    try {
      out["service GET /healthz"] = point(await wrk(`${service.url}/healthz`, {}, o));
      out["service GET /rewarder/epochs/:id"] = point(
        await wrk(`${service.url}/rewarder/epochs/${prep.epochId}`, {
          auth: `Macaroon ${prep.token}`,
        }, o),
      );
    } finally {
      await service.stop();
    }
  }
  const bare = await startChild(
    ["run", "-A", "bench/listener_bench.ts", "--serve-bare", variant],
    ROOT,
    { BARE_ENVELOPE_PATH: prep.envelopePath },
  );
  try {
    out["bare GET /healthz"] = point(await wrk(`${bare.url}/healthz`, {}, o));
    out["bare GET /rewarder/epochs/:id"] = point(
      await wrk(`${bare.url}/rewarder/epochs/${prep.epochId}`, {}, o),
    );
  } finally {
    await bare.stop();
  }
  return out;
}

/** The service's command (the permissions of `deno task start`), after `deno`. */
const SERVICE_CMD = [
  "run",
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--deny-run",
  "--deny-ffi",
  "--unstable-no-legacy-abort",
  "main.ts",
];

/** A Deno child printing a `listening tcp host:port` line, stopped by its own pid. */
async function startChild(args: string[], cwd: string, env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { BIND_ADDR: "127.0.0.1:0", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let url: string | undefined;
  while (url === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${args.join(" ")} exited: ${text}`);
    text += value;
    const m = /listening tcp (\S+):(\d+)/.exec(text);
    if (m) url = `http://${m[1]}:${m[2]}`;
  }
  void (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const rounds = Number(arg("--rounds", "3"));
  const baselineDir = Deno.args.includes("--baseline-dir") ? arg("--baseline-dir", "") : undefined;
  const serviceDir = arg("--service-dir", ROOT);
  const o = {
    threads: 1,
    connections: Number(arg("--connections", "16")),
    warmS: 1,
    measureS: Number(arg("--seconds", "4")),
  };
  const loadavgAtStart = Deno.loadavg();
  const prep = await prepare();
  const all: Record<Variant, Record<string, Point>[]> = { "deno-serve": [], guarded: [], node: [] };
  for (let i = 0; i < rounds; i++) {
    for (const variant of VARIANTS) {
      console.error(`round ${i + 1}/${rounds}: ${variant}`);
      all[variant].push(await round(variant, prep, o, baselineDir, serviceDir));
    }
  }
  const summary: Record<string, unknown> = {};
  for (const target of Object.keys(all.guarded[0]!)) {
    const row: Record<string, unknown> = {};
    const base = all["deno-serve"].map((r) => r[target]).filter((p) => p !== undefined);
    const baseRps = base.length > 0 ? median(base.map((p) => p.rps)) : undefined;
    for (const v of VARIANTS) {
      const points = all[v].map((r) => r[target]).filter((p) => p !== undefined);
      if (points.length === 0) continue;
      const rps = median(points.map((p) => p.rps));
      row[v] = {
        rps,
        p50Ms: median(points.map((p) => p.p50Ms)),
        p99Ms: median(points.map((p) => p.p99Ms)),
        rounds: points.map((p) => p.rps),
        errors: points.reduce((n, p) => n + p.non2xx + p.socketErrors, 0),
        ...(baseRps !== undefined && v !== "deno-serve"
          ? { rpsCostPct: Math.round((1 - rps / baseRps) * 1000) / 10 }
          : {}),
      };
    }
    summary[target] = row;
  }
  const result = {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    cores: navigator.hardwareConcurrency,
    loadavgAtStart,
    loadavgAtEnd: Deno.loadavg(),
    params: { rounds, ...o, baseline: baselineDir !== undefined },
    command:
      `deno run --allow-all bench/listener_bench.ts --rounds ${rounds} --seconds ${o.measureS} --connections ${o.connections}${
        baselineDir !== undefined ? " --baseline-dir DIR" : ""
      }`,
    wrkCommand: all.guarded[0]?.["bare GET /healthz"]?.command,
    summary,
    rounds: all,
  };
  await mkdir(join(ROOT, "bench/results"), { recursive: true });
  await writeFile(
    join(ROOT, "bench/results/listener.json"),
    JSON.stringify(result, null, 2) + "\n",
  );
  console.log(JSON.stringify(summary, null, 2));
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--serve-bare");
  if (i >= 0) await serveBare(Deno.args[i + 1] as Variant);
  else await main();
}
