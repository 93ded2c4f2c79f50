/**
 * `deno task bench:check`: the performance guard. Reruns the short service benches against
 * the bare Hono baseline (bench/load/bare_hono.ts) INTERLEAVED — service GET, bare GET,
 * service replay, bare replay, and again — so a machine that gets busier or quieter during
 * the run moves both sides of each ratio alike; takes the median ratio of ≥ 5 rounds and its
 * run-to-run spread; compares each with the recorded baseline (bench/results/bench_check.json)
 * and reports a regression only beyond the measured spread. It prints; it is not a test
 * (`deno task test` never runs it): wall-clock ratios on a shared machine move by more than any
 * useful fixed threshold, which is why the threshold is the spread measured here.
 *
 *   deno run --allow-all bench/load/check.ts [--rounds 5] [--seconds 2] [--record]
 *                                             [--baseline <file>] [--strict]
 *
 * `--record` writes the baseline instead of comparing; `--strict` exits 1 on a regression.
 * Workload: a 300-recipient committed epoch, wrk -t1 -c16 after a 1 s warm-up, rate caps
 * lifted, Deno, TCP loopback. Record the load average with the figures (printed, and kept in
 * the baseline file): a loaded machine's figures are not a quiet machine's.
 *
 * @module
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { casPut } from "../../src/shell/sources/cas.ts";
import { devToken } from "../../src/shell/keys/dev_bootstrap.ts";
import { prepareBenchData } from "./bench_data.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../../vectors/generate_epoch.ts";
import { type Server, startServer } from "./servers.ts";
import { wrk } from "./wrk.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Recipients of the measured epoch (the workload). */
export const CHECK_RECIPIENTS = 300;
/** Fewest rounds a median is taken over. */
export const CHECK_ROUNDS_MIN = 5;
/** wrk's shape for every point. */
export const CHECK_WRK = { threads: 1, connections: 16, warmS: 1 };
/** Caps lifted so the limiters are not what is measured (as bench/load/run.ts). */
export const UNCAPPED = {
  MAX_RPS: "1000000",
  RATE_BURST: "1000000",
  TENANT_RPS_MAX: "1000000",
  MAX_INFLIGHT: "512",
};
const DEFAULT_BASELINE = join(ROOT, "bench/results/bench_check.json");

/** The summary of one path's rounds. */
export interface PathSummary {
  serviceRps: number[];
  bareRps: number[];
  ratios: number[];
  medianRatio: number;
  /** Half the range of the ratios: the run-to-run spread a regression must exceed. */
  spread: number;
  serviceNon2xx: number;
}

/** Median of `xs` (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Summarises the interleaved rounds of one path. */
export function summarise(service: number[], bare: number[], non2xx: number): PathSummary {
  const ratios = service.map((s, i) => s / bare[i]!);
  const spread = (Math.max(...ratios) - Math.min(...ratios)) / 2;
  return {
    serviceRps: service,
    bareRps: bare,
    ratios: ratios.map(round3),
    medianRatio: round3(median(ratios)),
    spread: round3(spread),
    serviceNon2xx: non2xx,
  };
}

/**
 * A regression: the median ratio fell below the baseline's by more than the larger of the two
 * measured spreads (either run's noise could explain a smaller fall).
 */
export function regressed(now: PathSummary, baseline: PathSummary): boolean {
  return now.medianRatio < baseline.medianRatio - Math.max(now.spread, baseline.spread);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function args() {
  const a = Deno.args;
  const val = (name: string, dflt: string) => {
    const i = a.indexOf(name);
    return i >= 0 && a[i + 1] !== undefined ? a[i + 1]! : dflt;
  };
  const rounds = Number(val("--rounds", String(CHECK_ROUNDS_MIN)));
  if (!Number.isInteger(rounds) || rounds < CHECK_ROUNDS_MIN) {
    throw new Error(`--rounds must be an integer ≥ ${CHECK_ROUNDS_MIN}`);
  }
  return {
    rounds,
    seconds: Number(val("--seconds", "2")),
    record: a.includes("--record"),
    strict: a.includes("--strict"),
    baseline: val("--baseline", DEFAULT_BASELINE),
  };
}

/** A data directory with dev keys, a signed policy and one epoch's inputs. */
export async function prepare(dataDir: string) {
  const { paths, policyHash } = await prepareBenchData(dataDir);
  const epochId = `check-${Date.now().toString(36)}`;
  const inputs = new TextEncoder().encode(generateEpochInputs(epochId, CHECK_RECIPIENTS));
  return {
    epochId,
    token: await devToken(paths.capsKeysPath, Date.now()),
    body: JSON.stringify({
      inputs_cid: await casPut(dataDir, inputs),
      policy_id: GENERATED_POLICY.policy_id,
      policy_hash: policyHash,
    }),
  };
}

async function main() {
  const o = args();
  const dataDir = Deno.env.get("BENCH_DATA_DIR") ?? "/tmp/svc-rewarder-benchcheck";
  const loadavgAtStart = Deno.loadavg();
  const p = await prepare(dataDir);
  const auth = `Macaroon ${p.token}`;
  const servers: Server[] = [];
  try {
    const service = await startServer("service", "deno", { DATA_DIR: dataDir, ...UNCAPPED });
    servers.push(service);
    const computeUrl = `${service.url}/rewarder/epochs/${p.epochId}/compute`;
    const first = await fetch(computeUrl, {
      method: "POST",
      headers: { Authorization: auth, "Content-Type": "application/json" },
      body: p.body,
    });
    const record = await first.text();
    if (first.status !== 200) throw new Error(`compute: ${first.status} ${record}`);
    const env = await fetch(`${service.url}/rewarder/epochs/${p.epochId}`, {
      headers: { Authorization: auth },
    });
    await writeFile(join(dataDir, "bare-envelope.json"), new Uint8Array(await env.arrayBuffer()));
    await writeFile(join(dataDir, "bare-record.json"), record);
    const bare = await startServer("bare", "deno", {
      BARE_ENVELOPE_PATH: join(dataDir, "bare-envelope.json"),
      BARE_RECORD_PATH: join(dataDir, "bare-record.json"),
    });
    servers.push(bare);
    const shape = { ...CHECK_WRK, measureS: o.seconds };
    const get = (base: string, withAuth: boolean) =>
      wrk(`${base}/rewarder/epochs/${p.epochId}`, withAuth ? { auth } : {}, shape);
    const replay = (base: string, withAuth: boolean) =>
      wrk(`${base}/rewarder/epochs/${p.epochId}/compute`, {
        method: "POST",
        body: p.body,
        ...(withAuth ? { auth } : {}),
      }, shape);
    const rps = {
      sGet: [] as number[],
      bGet: [] as number[],
      sRep: [] as number[],
      bRep: [] as number[],
    };
    let non2xx = { get: 0, replay: 0 };
    for (let round = 1; round <= o.rounds; round++) {
      const sg = await get(service.url, true);
      const bg = await get(bare.url, false);
      const sr = await replay(service.url, true);
      const br = await replay(bare.url, false);
      rps.sGet.push(sg.rps);
      rps.bGet.push(bg.rps);
      rps.sRep.push(sr.rps);
      rps.bRep.push(br.rps);
      non2xx = { get: non2xx.get + sg.non2xx, replay: non2xx.replay + sr.non2xx };
      console.error(
        `round ${round}/${o.rounds}: GET ${sg.rps}/${bg.rps}  replay ${sr.rps}/${br.rps} req/s` +
          ` (load ${Deno.loadavg()[0]})`,
      );
    }
    const result = {
      date: new Date().toISOString(),
      cores: navigator.hardwareConcurrency,
      loadavgAtStart,
      loadavgAtEnd: Deno.loadavg(),
      workload: {
        recipients: CHECK_RECIPIENTS,
        wrk: shape,
        rounds: o.rounds,
        runtime: "deno",
        listener: "tcp loopback",
        caps: UNCAPPED,
      },
      get: summarise(rps.sGet, rps.bGet, non2xx.get),
      replay: summarise(rps.sRep, rps.bRep, non2xx.replay),
    };
    report(result, o);
    if (o.record) {
      await writeFile(o.baseline, JSON.stringify(result, null, 2) + "\n");
      console.log(`baseline written: ${o.baseline}`);
      return;
    }
    const baseline = JSON.parse(await readFile(o.baseline, "utf8").catch(() => "null"));
    if (baseline === null) {
      console.log(`no baseline at ${o.baseline}: run with --record first`);
      return;
    }
    let worse = 0;
    for (const path of ["get", "replay"] as const) {
      const b = baseline[path] as PathSummary;
      const n = result[path];
      const verdict = regressed(n, b) ? "REGRESSION" : "ok";
      if (verdict !== "ok") worse++;
      console.log(
        `${path.padEnd(6)} ratio ${n.medianRatio} ±${n.spread} vs baseline ${b.medianRatio} ` +
          `±${b.spread} (recorded ${baseline.date}, load ${baseline.loadavgAtStart?.[0]}): ` +
          verdict,
      );
    }
    if (o.strict && worse > 0) Deno.exitCode = 1;
  } finally {
    for (const s of servers) await s.stop();
  }
}

function report(
  r: { loadavgAtStart: number[]; loadavgAtEnd: number[]; get: PathSummary; replay: PathSummary },
  o: { rounds: number; seconds: number },
) {
  console.log(
    `bench:check — ${o.rounds} interleaved rounds, wrk -t1 -c16 ${o.seconds} s, ` +
      `${CHECK_RECIPIENTS}-recipient epoch, Deno; load average ${r.loadavgAtStart.join(" ")} → ` +
      `${r.loadavgAtEnd.join(" ")}`,
  );
  for (
    const [name, s] of [["GET committed epoch", r.get], ["replayed compute", r.replay]] as const
  ) {
    console.log(
      `${name}: service median ${median(s.serviceRps)} req/s, bare ${median(s.bareRps)} req/s, ` +
        `ratio ${s.medianRatio} (rounds ${s.ratios.join(", ")}; spread ±${s.spread}; ` +
        `service non-2xx ${s.serviceNon2xx})`,
    );
  }
}

if (import.meta.main) await main();
