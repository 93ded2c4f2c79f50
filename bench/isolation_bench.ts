/**
 * Isolation under hostile load, absolute figures: the scenario of tests/isolation_acceptance.ts
 * (tests/support/isolation_scenario.ts: the real service on loopback; one tenant abandoning big
 * computes, anonymous 1 MiB bodies trickled, an anonymous GET flood, 300 slow-header sockets
 * held; another tenant's 20 fresh small computes, alone first, then under the attack) with the
 * honest p95, the /healthz p99 during the attack and the service's peak RSS, against the
 * targets for a 2-core machine. A bench, not a test: nothing here runs in CI, and the figures
 * depend on the machine's load (recorded beside them).
 *
 *   deno task bench:isolation [--honest 20] [--slow-sockets 300] [--out FILE]
 *
 * Writes bench/results/isolation.json (or --out) and prints the figures; exits 0 whatever the
 * figures (--strict: 1 when a target is missed).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import process from "node:process";
import {
  quantile,
  runIsolationScenario,
  SCENARIO_DEFAULTS,
  slowSummary,
} from "../tests/support/isolation_scenario.ts";

/** Targets for a 2-core machine. */
export const TARGETS = {
  /** Honest compute p95 under attack, ms. */
  honestP95MsMax: 3_000,
  /** /healthz p99 during the attack, ms. */
  healthzP99MsMax: 500,
  /** Peak RSS of the service process, bytes (1.5 GiB). */
  rssBytesMax: 1.5 * 2 ** 30,
} as const;

const DEFAULT_OUT = new URL("./results/isolation.json", import.meta.url).pathname;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    honest: { type: "string", default: String(SCENARIO_DEFAULTS.honestComputes) },
    "slow-sockets": { type: "string", default: String(SCENARIO_DEFAULTS.slowSockets) },
    out: { type: "string", default: DEFAULT_OUT },
    strict: { type: "boolean", default: false },
  },
});

const loadBefore = loadavg();
const startedAt = new Date().toISOString();
const r = await runIsolationScenario({
  honestComputes: Number(values.honest),
  slowSockets: Number(values["slow-sockets"]),
  log: (line) => console.error(`isolation bench: ${line}`),
});
const loadAfter = loadavg();
const ok = r.underAttack.filter((h) => h.status === 200).length;
const round = (n: number) => Math.round(n);
const figures = {
  honestP95Ms: round(r.attackP95Ms),
  healthzP99Ms: round(quantile(r.healthzMs, 0.99)),
  rssPeakBytes: Math.max(r.rssHwmBytes, r.rssSampledPeakBytes),
};
const met = {
  honestP95: figures.honestP95Ms < TARGETS.honestP95MsMax,
  healthzP99: figures.healthzP99Ms < TARGETS.healthzP99MsMax,
  rss: figures.rssPeakBytes < TARGETS.rssBytesMax,
};
const record = {
  bench: "isolation",
  startedAt,
  machine: {
    cores: cpus().length,
    loadAverage1mBefore: Number(loadBefore[0]!.toFixed(2)),
    loadAverage1mAfter: Number(loadAfter[0]!.toFixed(2)),
    runtime: `deno ${Deno.version.deno}`,
  },
  scenario: r.options,
  targets: TARGETS,
  figures: {
    ...figures,
    rssPeakMiB: round(figures.rssPeakBytes / 2 ** 20),
    honestP50Ms: round(r.attackP50Ms),
    honestAloneP50Ms: round(r.baselineP50Ms),
    honestAloneP95Ms: round(r.baselineP95Ms),
    honestOk: `${ok}/${r.underAttack.length}`,
    honestRetries: r.underAttack.reduce((n, h) => n + h.retries, 0),
    healthzP50Ms: round(quantile(r.healthzMs, 0.5)),
    healthzReads: r.healthzMs.length,
    healthzFailures: r.healthzFailures,
    slowSockets: slowSummary(r),
    trickledBodies: r.trickle.length,
    anonymousGets: r.flood,
    attackerHangUps: r.hangUps,
    runningJobsStopped: r.runningStopped,
    workersReplaced: r.workersReplaced,
  },
  met,
};
await writeFile(values.out!, JSON.stringify(record, null, 2) + "\n");
const mark = (b: boolean) => (b ? "ok" : "MISSED");
console.log(
  [
    `isolation bench (${record.machine.cores} cores, load ${record.machine.loadAverage1mBefore} → ${record.machine.loadAverage1mAfter})`,
    `  honest p95 under attack ${figures.honestP95Ms} ms (target < ${TARGETS.honestP95MsMax}) ${
      mark(met.honestP95)
    }; alone ${record.figures.honestAloneP95Ms} ms; ${ok}/${r.underAttack.length} ok, ${record.figures.honestRetries} retries`,
    `  /healthz p99 ${figures.healthzP99Ms} ms (target < ${TARGETS.healthzP99MsMax}) ${
      mark(met.healthzP99)
    }; ${r.healthzMs.length} reads, ${r.healthzFailures} failed`,
    `  RSS peak ${record.figures.rssPeakMiB} MiB (target < ${TARGETS.rssBytesMax / 2 ** 20} MiB) ${
      mark(met.rss)
    }`,
    `  written to ${values.out}`,
  ].join("\n"),
);
if (values.strict && !Object.values(met).every(Boolean)) process.exit(1);
