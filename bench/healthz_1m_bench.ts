/**
 * `/healthz` while a 1M-recipient epoch computes (the engine runs off the request loop): the
 * real service (`main.ts`) on loopback, one compute of a generated 1,000,000-recipient epoch
 * (≈ 82 MB of inputs in the local content store), `/healthz` read every
 * {@link PROBE_EVERY_MS} until the compute answers. Prints and writes the probe quantiles, the
 * compute's wall time and the service's peak RSS (VmHWM). A bench, not a test: a 1M epoch takes
 * seconds of CPU and ~1 GiB, and the figures depend on the machine's load (recorded beside them).
 *
 *   deno run --allow-all bench/healthz_1m_bench.ts [--recipients 1000000] [--out FILE]
 *     [--after-ms 0]
 *
 * `--after-ms N` keeps reading `/healthz` for N ms after the answer (the run's delivery to the
 * local journal happens then) and reports those reads apart, as `healthzAfterAnswer`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { casPut } from "../src/shell/sources/cas.ts";
import { generateEpochInputs } from "../vectors/generate_epoch.ts";
import { prepareFixtures } from "../tests/support/fixtures.ts";
import { answerOf, freshDataDir, startService, tokenMinter } from "../tests/support/service.ts";
import { quantile } from "../tests/support/isolation_scenario.ts";

/** Pace of the /healthz reader, ms. */
const PROBE_EVERY_MS = 20;
/** Target for a 2-core machine: /healthz p99 while the epoch computes, ms. */
const HEALTHZ_P99_MS_MAX = 500;
/** Longest the compute may take here, ms (its request deadline and cost guard). */
const COMPUTE_MS_MAX = 120_000;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    recipients: { type: "string", default: "1000000" },
    "after-ms": { type: "string", default: "0" },
    out: {
      type: "string",
      default: new URL("./results/healthz_1m.json", import.meta.url).pathname,
    },
  },
});
const recipients = Number(values.recipients);
const loadBefore = loadavg()[0]!;
const dataDir = await freshDataDir("healthz_1m_bench");
const fx = await prepareFixtures(dataDir);
const epochId = `gen-${recipients}`;
const inputs = new TextEncoder().encode(generateEpochInputs(epochId, recipients));
const inputsCid = await casPut(dataDir, inputs);
const token = await tokenMinter(dataDir).mint();
const service = await startService({
  dataDir,
  transport: "tcp",
  env: {
    MAX_EPOCH_COST_MS: String(COMPUTE_MS_MAX),
    REQUEST_TIMEOUT_MS: String(COMPUTE_MS_MAX),
  },
});
let hwmBytes = 0;
const probes: number[] = [];
const afterProbes: number[] = [];
let computeMs = 0;
let status = 0;
try {
  let done = false;
  const t0 = performance.now();
  const compute = service.fetch(`/rewarder/epochs/${epochId}/compute`, {
    method: "POST",
    headers: { authorization: `Macaroon ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      inputs_cid: inputsCid,
      policy_id: fx.generated.policy_id,
      policy_hash: fx.generated.policy_hash,
    }),
  }).then(answerOf).finally(() => {
    computeMs = performance.now() - t0;
    done = true;
  });
  while (!done) {
    const t = performance.now();
    const res = await service.fetch("/healthz");
    await res.body?.cancel();
    if (res.status === 200) probes.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS)); // the reader's pace
  }
  const answer = await compute;
  status = answer.status;
  const afterUntil = performance.now() + Number(values["after-ms"]);
  while (performance.now() < afterUntil) {
    const t = performance.now();
    const res = await service.fetch("/healthz");
    await res.body?.cancel();
    if (res.status === 200) afterProbes.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
  const text = await Deno.readTextFile(`/proc/${service.pid}/status`).catch(() => "");
  hwmBytes = Number(/^VmHWM:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
} finally {
  await service.stop();
  await Deno.remove(dataDir, { recursive: true }).catch(() => {});
}
probes.sort((a, b) => a - b);
afterProbes.sort((a, b) => a - b);
const record = {
  bench: "healthz_1m",
  startedAt: new Date().toISOString(),
  machine: {
    cores: cpus().length,
    loadAverage1mBefore: Number(loadBefore.toFixed(2)),
    loadAverage1mAfter: Number(loadavg()[0]!.toFixed(2)),
    runtime: `deno ${Deno.version.deno}`,
  },
  recipients,
  inputsBytes: inputs.length,
  computeStatus: status,
  computeMs: Math.round(computeMs),
  healthz: {
    reads: probes.length,
    p50Ms: Number(quantile(probes, 0.5).toFixed(1)),
    p99Ms: Number(quantile(probes, 0.99).toFixed(1)),
    maxMs: Number((probes.at(-1) ?? NaN).toFixed(1)),
    targetP99MsMax: HEALTHZ_P99_MS_MAX,
  },
  ...(afterProbes.length === 0 ? {} : {
    healthzAfterAnswer: {
      ms: Number(values["after-ms"]),
      reads: afterProbes.length,
      p50Ms: Number(quantile(afterProbes, 0.5).toFixed(1)),
      p99Ms: Number(quantile(afterProbes, 0.99).toFixed(1)),
      maxMs: Number((afterProbes.at(-1) ?? NaN).toFixed(1)),
    },
  }),
  rssPeakMiB: Math.round(hwmBytes / 2 ** 20),
};
await writeFile(values.out!, JSON.stringify(record, null, 2) + "\n");
console.log(JSON.stringify(record, null, 2));
