/**
 * Engine benchmark (docs/RESULTS.md): compute time for 10k, 100k and 1M recipients,
 * against the unavoidable floor measured in the same run, with a per-phase breakdown and the
 * peak memory of each size in a fresh process.
 *
 * Run: `deno task bench` (= `deno run --allow-all bench/engine_bench.ts`).
 * Options: `--sizes 10000,100000` (default 10k,100k,1M), `--no-write` (print only),
 * `--cli N`: also N interleaved rounds of two whole processes per size, the floor process
 * (read + BLAKE3 + `JSON.parse` of the file) and `rewarder compute` (signed, output to a file),
 * each timed by `/usr/bin/time` (wall, CPU, peak RSS).
 * Internal: `--child N --input PATH` measures one end-to-end run and its peak RSS.
 *
 * Writes `bench/results/engine.json` and the "Engine" section of `docs/RESULTS.md`.
 *
 * @module
 */
import { blake3Hex } from "../src/core/blake3.ts";
import { asCid, cidOf } from "../src/core/cid.ts";
import { computeManifest } from "../src/core/compute.ts";
import { allocate } from "../src/core/allocate.ts";
import { parseInputs } from "../src/core/inputs.ts";
import { buildManifest, manifestHashOf } from "../src/core/manifest.ts";
import { parsePolicy, type Policy, policyHashOf } from "../src/core/policy.ts";
import { asEpochId } from "../src/core/ids.ts";
import { runKeyOf } from "../src/core/run_key.ts";
import { sealManifest, type SigningKey } from "../src/core/seal.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../vectors/generate_epoch.ts";

/** Default sizes (recipients). */
const SIZES_DEFAULT = [10_000, 100_000, 1_000_000] as const;
/** Repetitions per measurement, by size; the median is reported. */
const REPS_SMALL = 5;
/** At 1M and above, fewer repetitions keep the whole run under ~4 minutes. */
const REPS_LARGE = 3;
const LARGE_FROM_RECIPIENTS = 1_000_000;
/** A size whose single end-to-end run exceeds this gets only 2 end-to-end repetitions. */
const SLOW_RUN_MS = 6_000;
/** Child process bound: a size that takes longer than this is reported as failed. */
const CHILD_TIMEOUT_MS = 120_000;
/** Targets (docs/RESULTS.md; 1M recipients). */
const TARGET_E2E_MS = 2_500;
const TARGET_PEAK_BYTES = 1024 ** 3;

const RESULTS_JSON = new URL("./results/engine.json", import.meta.url);
const RESULTS_MD = new URL("../docs/RESULTS.md", import.meta.url);
const COMMAND = "deno task bench   # = deno run --allow-all bench/engine_bench.ts";

/** Fixed, public bench-only key seed: never a real key. */
const BENCH_KEY: SigningKey = { alg: "ed25519", kid: "bench", seed: new Uint8Array(32).fill(7) };

/** Pinned hashes of `vectors/generated.json`, by epoch id (name). */
const PINNED_EPOCHS: Record<number, string> = {
  1_000: "small-1k",
  10_000: "medium-10k",
  100_000: "large-100k",
};

function epochIdOf(recipients: number): string {
  return PINNED_EPOCHS[recipients] ?? `bench-${recipients}`;
}

function policyOrThrow(): { policy: Policy; policyHash: string } {
  const parsed = parsePolicy(GENERATED_POLICY);
  if (!parsed.ok) throw new Error("Cannot parse GENERATED_POLICY");
  return { policy: parsed.value.policy, policyHash: policyHashOf(GENERATED_POLICY) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** Times `fn` `reps` times; returns the samples in ms. */
async function sample(reps: number, fn: () => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** One end-to-end run: computeManifest (parse + CID + allocate + manifest + hash) + seal. */
async function endToEnd(
  epochId: string,
  bytes: Uint8Array,
  policy: Policy,
  policyHash: string,
): Promise<{ manifestHash: string; recipients: number; status: string }> {
  const result = computeManifest({ epochId, inputsBytes: bytes, policy, policyHash });
  if (!result.ok) throw new Error(`Cannot compute: ${result.error.code}`);
  const sealed = await sealManifest(result.value.manifest, [BENCH_KEY], result.value.manifestHash);
  return {
    manifestHash: sealed.manifest_hash,
    recipients: sealed.manifest.totals.recipients,
    status: sealed.manifest.status,
  };
}

const PHASES = [
  "parseInputs",
  "cid",
  "allocate",
  "buildManifest",
  "manifestHashOf",
  "seal",
] as const;
type Phase = (typeof PHASES)[number];

/** The same pipeline as computeManifest, split by phase (ms per phase). */
async function phased(
  epochId: string,
  bytes: Uint8Array,
  policy: Policy,
  policyHash: string,
): Promise<Record<Phase, number>> {
  const t: number[] = [performance.now()];
  const inputs = parseInputs(bytes);
  if (!inputs.ok) throw new Error("Cannot parse inputs");
  t.push(performance.now());
  const inputsCid = cidOf(bytes);
  const runKey = runKeyOf({
    epochId: asEpochId(epochId),
    policyHash: asCid(policyHash),
    inputsCid,
  });
  t.push(performance.now());
  const allocation = allocate(policy, inputs.value, inputsCid);
  if (!allocation.ok) throw new Error("Cannot allocate");
  t.push(performance.now());
  const manifest = buildManifest(
    { epochId, runKey, inputsCid, policyHash },
    policy,
    allocation.value,
  );
  t.push(performance.now());
  const manifestHash = manifestHashOf(manifest);
  t.push(performance.now());
  await sealManifest(manifest, [BENCH_KEY], manifestHash);
  t.push(performance.now());
  const out = {} as Record<Phase, number>;
  PHASES.forEach((p, i) => (out[p] = t[i + 1]! - t[i]!));
  return out;
}

function readStatusKiB(field: "VmHWM" | "VmRSS"): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!match) throw new Error(`Cannot read ${field} from /proc/self/status`);
  return Number(match[1]);
}

/** Child mode: read the inputs file, one end-to-end run, print JSON with peak RSS. */
async function child(recipients: number, inputPath: string): Promise<void> {
  const { policy, policyHash } = policyOrThrow();
  const bytes = await Deno.readFile(inputPath);
  const rssBeforeKiB = readStatusKiB("VmRSS");
  const hwmBeforeKiB = readStatusKiB("VmHWM");
  const t0 = performance.now();
  const run = await endToEnd(epochIdOf(recipients), bytes, policy, policyHash);
  const ms = performance.now() - t0;
  console.log(JSON.stringify({
    recipients,
    inputBytes: bytes.length,
    coldEndToEndMs: ms,
    rssBeforeBytes: rssBeforeKiB * 1024,
    hwmBeforeBytes: hwmBeforeKiB * 1024,
    peakRssBytes: readStatusKiB("VmHWM") * 1024,
    manifestHash: run.manifestHash,
  }));
}

interface ChildResult {
  recipients: number;
  inputBytes: number;
  coldEndToEndMs: number;
  rssBeforeBytes: number;
  hwmBeforeBytes: number;
  peakRssBytes: number;
  manifestHash: string;
}

async function runChild(recipients: number, inputPath: string): Promise<ChildResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL(import.meta.url).pathname,
      "--child",
      String(recipients),
      "--input",
      inputPath,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(CHILD_TIMEOUT_MS),
  });
  const out = await cmd.output();
  if (!out.success) {
    throw new Error(`Child for ${recipients} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!) as ChildResult;
}

interface SizeResult {
  recipients: number;
  epochId: string;
  inputBytes: number;
  reps: { floor: number; endToEnd: number; phases: number };
  floorMs: number;
  floorHashMs: number;
  endToEndMs: number;
  endToEndSamplesMs: number[];
  ratioToFloor: number;
  ratioToFloorHash: number;
  phasesMs: Record<Phase, number>;
  coldEndToEndMs: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
  manifestHash: string;
  pinnedHashMatches: boolean | null;
  cli?: CliResult;
}

/** One whole process, as `/usr/bin/time` saw it. */
interface ProcessRun {
  wallMs: number;
  cpuMs: number;
  peakRssBytes: number;
  loadAvg: string;
}

/** Interleaved rounds of the floor process and `rewarder compute` (median of each). */
interface CliResult {
  rounds: number;
  floor: ProcessRun[];
  compute: ProcessRun[];
  medianFloorMs: number;
  medianComputeMs: number;
  medianComputeCpuMs: number;
  maxComputePeakRssBytes: number;
  ratioToFloor: number;
}

/** The project's configuration (the floor script lives in a temp dir: its imports need it). */
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const FLOOR_PROCESS = `
import { blake3Hex } from ${JSON.stringify(new URL("../src/core/blake3.ts", import.meta.url).href)};
const bytes = Deno.readFileSync(Deno.args[0]);
blake3Hex(bytes);
JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
`;
/** The permissions of \`deno task rewarder\`. */
const REWARDER_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--deny-net",
  "--deny-run",
  "--deny-ffi",
];

/** Runs `args` under `/usr/bin/time`, stdout to `outPath`. */
async function timedProcess(args: string[], outPath: string): Promise<ProcessRun> {
  const loadAvg = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  const timing = await Deno.makeTempFile({ prefix: "engine-bench-time-" });
  try {
    const out = await new Deno.Command("/usr/bin/time", {
      args: ["-f", "%e %U %S %M", "-o", timing, "sh", "-c", '"$@" > "$0"', outPath, ...args],
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(CHILD_TIMEOUT_MS),
    }).output();
    if (!out.success) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    const [wall, user, sys, kib] = (await Deno.readTextFile(timing)).trim().split("\n").pop()!
      .split(" ").map(Number);
    return {
      wallMs: wall! * 1000,
      cpuMs: (user! + sys!) * 1000,
      peakRssBytes: kib! * 1024,
      loadAvg,
    };
  } finally {
    await Deno.remove(timing);
  }
}

/** `rounds` × (floor process, `rewarder compute`), interleaved; checks the envelope's hash. */
async function cliRounds(
  recipients: number,
  inputPath: string,
  rounds: number,
  manifestHash: string,
): Promise<CliResult> {
  const dir = await Deno.makeTempDir({ prefix: "engine-bench-cli-" });
  try {
    const floorScript = `${dir}/floor.ts`;
    await Deno.writeTextFile(floorScript, FLOOR_PROCESS);
    const policyPath = `${dir}/policy.json`;
    await Deno.writeTextFile(policyPath, JSON.stringify(GENERATED_POLICY));
    const keyPath = `${dir}/signing.key.json`;
    await Deno.copyFile(
      new URL("../vectors/keys/vector-signing.key.json", import.meta.url),
      keyPath,
    );
    await Deno.chmod(keyPath, 0o600);
    const envelopePath = `${dir}/envelope.json`;
    const cli = new URL("../src/cli/rewarder.ts", import.meta.url).pathname;
    const floor: ProcessRun[] = [];
    const compute: ProcessRun[] = [];
    for (let r = 0; r < rounds; r++) {
      floor.push(
        await timedProcess(
          [Deno.execPath(), "run", "-A", "--config", CONFIG, floorScript, inputPath],
          "/dev/null",
        ),
      );
      compute.push(
        await timedProcess([
          Deno.execPath(),
          "run",
          ...REWARDER_FLAGS,
          cli,
          "compute",
          "--epoch",
          epochIdOf(recipients),
          "--inputs",
          inputPath,
          "--policy",
          policyPath,
          "--signing-key",
          keyPath,
        ], envelopePath),
      );
      const envelope = JSON.parse(await Deno.readTextFile(envelopePath));
      if (envelope.manifest_hash !== manifestHash) throw new Error("CLI computed another hash");
      log(
        `  cli round ${r + 1}: floor ${round1(floor[r]!.wallMs)} ms, compute ${
          round1(compute[r]!.wallMs)
        } ms (cpu ${round1(compute[r]!.cpuMs)} ms, peak ${
          mib(compute[r]!.peakRssBytes)
        } MiB), load ${compute[r]!.loadAvg}`,
      );
    }
    const medianFloorMs = median(floor.map((x) => x.wallMs));
    const medianComputeMs = median(compute.map((x) => x.wallMs));
    return {
      rounds,
      floor,
      compute,
      medianFloorMs: round1(medianFloorMs),
      medianComputeMs: round1(medianComputeMs),
      medianComputeCpuMs: round1(median(compute.map((x) => x.cpuMs))),
      maxComputePeakRssBytes: Math.max(...compute.map((x) => x.peakRssBytes)),
      ratioToFloor: round1(medianComputeMs / medianFloorMs),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function pinnedHash(epochId: string): Promise<string | undefined> {
  try {
    const text = await Deno.readTextFile(new URL("../vectors/generated.json", import.meta.url));
    const list = JSON.parse(text) as { name: string; manifest_hash: string }[];
    return list.find((e) => e.name === epochId)?.manifest_hash;
  } catch {
    return undefined;
  }
}

async function benchSize(recipients: number, cliRoundCount = 0): Promise<SizeResult> {
  const { policy, policyHash } = policyOrThrow();
  const epochId = epochIdOf(recipients);
  // Not timed: the inputs bytes, generated once, shared with the child through a temp file.
  const bytes = new TextEncoder().encode(generateEpochInputs(epochId, recipients));
  const inputPath = await Deno.makeTempFile({ prefix: "engine-bench-", suffix: ".json" });
  try {
    await Deno.writeFile(inputPath, bytes);
    const reps = recipients >= LARGE_FROM_RECIPIENTS ? REPS_LARGE : REPS_SMALL;
    log(`${recipients}: ${(bytes.length / 1e6).toFixed(1)} MB inputs, ${reps} reps`);

    const decoder = new TextDecoder("utf-8", { fatal: true });
    const floor = await sample(reps, () => JSON.parse(decoder.decode(bytes)));
    const floorHash = await sample(reps, () => {
      JSON.parse(decoder.decode(bytes));
      return blake3Hex(bytes);
    });
    log(`  floor ${round1(median(floor))} ms, floor+hash ${round1(median(floorHash))} ms`);

    const hashes = new Set<string>();
    const first = await sample(1, async () => {
      hashes.add((await endToEnd(epochId, bytes, policy, policyHash)).manifestHash);
    });
    const e2eReps = first[0]! > SLOW_RUN_MS ? Math.min(2, reps) : reps;
    const rest = await sample(e2eReps - 1, async () => {
      const run = await endToEnd(epochId, bytes, policy, policyHash);
      hashes.add(run.manifestHash);
      if (run.status !== "sealed") throw new Error("Expected a sealed manifest");
    });
    const e2e = [...first, ...rest];
    if (hashes.size !== 1) throw new Error("Non-deterministic manifest hash across runs");
    const manifestHash = [...hashes][0]!;
    log(`  end-to-end ${round1(median(e2e))} ms (${e2e.map(round1).join(", ")})`);

    const phaseReps = first[0]! > SLOW_RUN_MS ? 1 : reps;
    const phaseSamples: Record<Phase, number>[] = [];
    for (let r = 0; r < phaseReps; r++) {
      phaseSamples.push(await phased(epochId, bytes, policy, policyHash));
    }
    const phasesMs = {} as Record<Phase, number>;
    for (const p of PHASES) phasesMs[p] = round1(median(phaseSamples.map((s) => s[p])));
    log(`  phases ${JSON.stringify(phasesMs)}`);

    const kid = await runChild(recipients, inputPath);
    if (kid.manifestHash !== manifestHash) throw new Error("Child computed a different hash");
    log(`  child: cold ${round1(kid.coldEndToEndMs)} ms, peak RSS ${mib(kid.peakRssBytes)} MiB`);

    const cli = cliRoundCount > 0
      ? await cliRounds(recipients, inputPath, cliRoundCount, manifestHash)
      : undefined;
    const pinned = await pinnedHash(epochId);
    const floorMs = median(floor);
    const floorHashMs = median(floorHash);
    const endToEndMs = median(e2e);
    return {
      recipients,
      epochId,
      inputBytes: bytes.length,
      reps: { floor: reps, endToEnd: e2eReps, phases: phaseReps },
      floorMs: round1(floorMs),
      floorHashMs: round1(floorHashMs),
      endToEndMs: round1(endToEndMs),
      endToEndSamplesMs: e2e.map(round1),
      ratioToFloor: round1(endToEndMs / floorMs),
      ratioToFloorHash: round1(endToEndMs / floorHashMs),
      phasesMs,
      coldEndToEndMs: round1(kid.coldEndToEndMs),
      peakRssBytes: kid.peakRssBytes,
      rssBeforeBytes: kid.rssBeforeBytes,
      manifestHash,
      pinnedHashMatches: pinned === undefined ? null : pinned === manifestHash,
      ...(cli === undefined ? {} : { cli }),
    };
  } finally {
    await Deno.remove(inputPath);
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

function log(line: string): void {
  console.error(line);
}

async function machine(): Promise<Record<string, string | number>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const memTotal = /^MemTotal:\s+(\d+) kB/m.exec(await Deno.readTextFile("/proc/meminfo"))?.[1];
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  return {
    nproc: navigator.hardwareConcurrency,
    cpu: model,
    memTotalGiB: memTotal ? Math.round(Number(memTotal) / 1024 / 1024) : 0,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    loadAvgAtStart: load,
  };
}

function markdown(
  results: readonly SizeResult[],
  env: Record<string, string | number>,
  at: string,
): string {
  const rows = results.map((r) =>
    `| ${r.recipients.toLocaleString("en-US")} | ${(r.inputBytes / 1e6).toFixed(1)} | ${
      r.floorMs.toFixed(0)
    } | ${r.floorHashMs.toFixed(0)} | **${r.endToEndMs.toFixed(0)}** | ${
      r.ratioToFloor.toFixed(1)
    }× | ${r.ratioToFloorHash.toFixed(1)}× | ${r.coldEndToEndMs.toFixed(0)} | ${
      mib(r.peakRssBytes)
    } | ${r.reps.floor}/${r.reps.endToEnd}/${r.reps.phases} |`
  );
  const phaseRows = results.map((r) =>
    `| ${r.recipients.toLocaleString("en-US")} | ${
      PHASES.map((p) => r.phasesMs[p].toFixed(0)).join(" | ")
    } | ${PHASES.reduce((s, p) => s + r.phasesMs[p], 0).toFixed(0)} |`
  );
  const big = results.find((r) => r.recipients === 1_000_000);
  const verdict = big === undefined ? "1M not measured in this run." : [
    `1M recipients: **${(big.endToEndMs / 1000).toFixed(2)} s** end to end (target < ${
      TARGET_E2E_MS / 1000
    } s: ${big.endToEndMs < TARGET_E2E_MS ? "met" : "**not met**"}),`,
    `peak RSS **${mib(big.peakRssBytes)} MiB** (target < ${mib(TARGET_PEAK_BYTES)} MiB: ${
      big.peakRssBytes < TARGET_PEAK_BYTES ? "met" : "**not met**"
    }).`,
  ].join(" ");
  const pinned = results.filter((r) => r.pinnedHashMatches !== null).map((r) =>
    `${r.epochId} ${r.pinnedHashMatches ? "matches" : "DOES NOT match"}`
  );
  return [
    "### End to end (`bench/engine_bench.ts`)",
    "",
    `Measured ${at} on ${env.nproc} cores, ${env.cpu}, ${env.memTotalGiB} GiB RAM, deno ${env.deno}`,
    `(V8 ${env.v8}); load average at start ${env.loadAvgAtStart} (a shared machine: other`,
    "work was running, so absolute times are noisy). Command:",
    "",
    "```sh",
    COMMAND,
    "```",
    "",
    "Inputs: `generateEpochInputs(epochId, n)` (native shape, 2 metrics per entry) with",
    "`GENERATED_POLICY` (largest remainder, 2.5 % fee, cap, min payout), Ed25519 seal.",
    "Floor = `TextDecoder` + `JSON.parse` of the same bytes; floor+hash adds BLAKE3 of the",
    "bytes (the CID check needs it). End to end = `computeManifest` (parse + CID + run key +",
    "allocate + manifest + Merkle + manifest hash) + `sealManifest`, median of the repetitions",
    "in one warm process. Cold = one end-to-end run in a fresh process, whose peak RSS",
    "(`VmHWM`, includes the runtime and the inputs bytes) is the memory column.",
    "",
    "| recipients | inputs MB | floor ms | floor+hash ms | end-to-end ms | ÷ floor | ÷ floor+hash | cold ms | peak RSS MiB | reps floor/e2e/phases |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    "Per phase (ms, median; `cid` includes the run key, `buildManifest` includes the Merkle",
    "root over all payouts):",
    "",
    `| recipients | ${PHASES.join(" | ")} | sum |`,
    `|---:|${PHASES.map(() => "---:").join("|")}|---:|`,
    ...phaseRows,
    "",
    ...cliTable(results),
    verdict,
    pinned.length > 0 ? `Manifest hashes vs \`vectors/generated.json\`: ${pinned.join(", ")}.` : "",
    "Raw figures: `bench/results/engine.json`.",
    "",
  ].join("\n");
}

/** The whole-process table (`--cli`), or nothing. */
function cliTable(results: readonly SizeResult[]): string[] {
  const rows = results.filter((r) => r.cli !== undefined).map((r) => {
    const c = r.cli!;
    return `| ${r.recipients.toLocaleString("en-US")} | ${c.rounds} | ${
      c.medianFloorMs.toFixed(0)
    } | **${c.medianComputeMs.toFixed(0)}** | ${c.medianComputeCpuMs.toFixed(0)} | ${
      c.ratioToFloor.toFixed(1)
    }× | ${mib(c.maxComputePeakRssBytes)} | ${
      c.compute.map((x) => x.loadAvg.split(" ")[0]).join(", ")
    } |`;
  });
  if (rows.length === 0) return [];
  return [
    "Whole processes (`--cli`): the floor process reads, BLAKE3-hashes and `JSON.parse`s the",
    "file; `rewarder compute` (the permissions of `deno task rewarder`, signed, envelope written",
    "to a file) hashes the inputs on a second thread while it parses them. Interleaved rounds,",
    "median wall time; CPU includes both threads; peak RSS is the largest `/usr/bin/time` saw.",
    "",
    "| recipients | rounds | floor process ms | `rewarder compute` ms | its CPU ms | ÷ floor | peak RSS MiB | 1-min load per round |",
    "|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
    "",
  ];
}

async function main(): Promise<void> {
  const args = Deno.args;
  const childAt = args.indexOf("--child");
  if (childAt >= 0) {
    const inputAt = args.indexOf("--input");
    await child(Number(args[childAt + 1]), args[inputAt + 1]!);
    return;
  }
  const sizesAt = args.indexOf("--sizes");
  const sizes = sizesAt >= 0 ? args[sizesAt + 1]!.split(",").map(Number) : [...SIZES_DEFAULT];
  const env = await machine();
  const at = new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC";
  const t0 = performance.now();
  const results: SizeResult[] = [];
  const cliAt = args.indexOf("--cli");
  const cliRoundCount = cliAt >= 0 ? Number(args[cliAt + 1]) : 0;
  for (const n of sizes) results.push(await benchSize(n, cliRoundCount));
  log(`total ${round1((performance.now() - t0) / 1000)} s`);
  const md = markdown(results, env, at);
  console.log(md);
  if (args.includes("--no-write")) return;
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  // Keep the `hash` key written by hash_bench.ts.
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(await Deno.readTextFile(RESULTS_JSON));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const json = { command: COMMAND, measuredAt: at, machine: env, results, hash: previous.hash };
  await Deno.writeTextFile(RESULTS_JSON, JSON.stringify(json, null, 2) + "\n");
  await denoFmt(RESULTS_JSON);
  await upsertEngineBlock(RESULTS_MD, "engine-bench", md);
}

/**
 * Writes `content` between `<!-- NAME:begin -->` and `<!-- NAME:end -->` inside the
 * `## Engine` section of `file`, creating the file, the section or the block as needed and
 * leaving every other section (owned by other benches) untouched. Shared with hash_bench.ts.
 */
export async function upsertEngineBlock(file: URL, name: string, content: string): Promise<void> {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${begin}\n${content.trimEnd()}\n${end}\n`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    text = "# Results\n\nMeasured figures of svc-rewarder; each section is written by its bench.\n";
  }
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from >= 0 && to > from) {
    text = text.slice(0, from) + block + text.slice(to + end.length).replace(/^\n/, "");
  } else {
    const heading = /^## Engine[ \t]*$/m.exec(text);
    if (heading === null) {
      text = text.trimEnd() + "\n\n## Engine\n\n" + block;
    } else {
      const afterHeading = heading.index + heading[0].length;
      const next = /^## /m.exec(text.slice(afterHeading));
      const at = next === null ? text.length : afterHeading + next.index;
      const head = text.slice(0, at).trimEnd() + "\n\n";
      const tail = text.slice(at);
      text = head + block + (tail.length > 0 ? "\n" + tail : "");
    }
  }
  await Deno.mkdir(new URL(".", file), { recursive: true });
  await Deno.writeTextFile(file, text);
  await denoFmt(file);
}

/** Runs `deno fmt` on written results so `deno task check` stays green after a bench run. */
export async function denoFmt(...files: URL[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...files.map((f) => f.pathname)],
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  if (!out.success) throw new Error(`deno fmt failed: ${new TextDecoder().decode(out.stderr)}`);
}

if (import.meta.main) await main();
