/**
 * Fuzz harness: the real app built in-process (the same components `main.ts` builds, over a
 * temporary DATA_DIR with the embedded default's development material), a token for it, a
 * per-case time bound, and the runner that keeps fast-check counterexamples as regression
 * files under `fuzz/regressions/`.
 *
 * @module
 */
import fc from "fast-check";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import type { AppEnv } from "../middleware/context.ts";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/shell/config/config.ts";
import { devToken, ensureDevMaterial } from "../src/shell/keys/dev_bootstrap.ts";
import { buildServices } from "../src/shell/services.ts";

/** Default cases per target in CI (at least 10,000: docs/SUPPLY-CHAIN.md). `FUZZ_RUNS` overrides. */
export const FUZZ_RUNS_DEFAULT = 10_000;

/** Longest one fuzz case may take before it counts as a hang (ms). */
export const CASE_TIME_MS_MAX = 2_000;

/** Longest the warm-up compute (engine worker cold start) may take (ms). */
export const WARMUP_MS_MAX = 30_000;
/** Warm-up attempts (a cold worker can make the first one time out with 503). */
const WARMUP_ATTEMPTS_MAX = 3;

/** Where counterexamples are kept (one JSON file each). */
export const REGRESSIONS_DIR = new URL("./regressions/", import.meta.url);

/** Cases per target: `FUZZ_RUNS` or the default. */
export function fuzzRuns(): number {
  const raw = (globalThis as { process?: { env: Record<string, string | undefined> } }).process
    ?.env.FUZZ_RUNS;
  const n = raw === undefined ? FUZZ_RUNS_DEFAULT : Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError("FUZZ_RUNS must be a positive integer");
  }
  return n;
}

/** A fuzz target: an input generator and a check that throws on a failure. Inputs must be
 * JSON-serializable through `encode`/`decode` so counterexamples can be kept as files. */
export interface FuzzTarget<T> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  check(input: T): Promise<void>;
  encode(input: T): unknown;
  decode(saved: unknown): T;
  /** Outcome counts (status codes, accepted/rejected), so a test can check coverage. */
  stats: Record<string, number>;
}

/** Counts one outcome. */
export function tally(stats: Record<string, number>, key: string | number): void {
  stats[key] = (stats[key] ?? 0) + 1;
}

/** Bytes ⇄ JSON for regression files. */
export function bytesToJson(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
/** Inverse of {@link bytesToJson}. */
export function bytesFromJson(hex: unknown): Uint8Array {
  const s = String(hex);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Makes a value safe for a JSON file that `deno fmt` accepts: strings holding lone
 * surrogates (which JSON can escape but not every parser accepts) become
 * `{"$utf16": [code units]}`. {@link fromSavable} reverses it.
 */
export function toSavable(value: unknown): unknown {
  if (typeof value === "string") {
    return value.isWellFormed()
      ? value
      : { $utf16: Array.from(value, (_, i) => value.charCodeAt(i)).slice(0, value.length) };
  }
  if (Array.isArray(value)) return value.map(toSavable);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toSavable(v)]));
  }
  return value;
}

/** Inverse of {@link toSavable}. */
export function fromSavable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromSavable);
  if (value !== null && typeof value === "object") {
    const units = (value as { $utf16?: unknown }).$utf16;
    if (Array.isArray(units)) return String.fromCharCode(...(units as number[]));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromSavable(v)]));
  }
  return value;
}

/** Runs `work` and fails if it takes longer than `ms` (a hang); clears its timer either way. */
export async function withinMs<T>(ms: number, what: string, work: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const started = performance.now();
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} took over ${ms} ms`)), ms);
  });
  try {
    const value = await Promise.race([work(), bound]);
    const took = performance.now() - started;
    // Synchronous work cannot be interrupted by the timer: measure it after the fact.
    if (took > ms) throw new Error(`hang: ${what} took ${Math.round(took)} ms (> ${ms})`);
    return value;
  } finally {
    clearTimeout(timer);
  }
}

/** Outcome of one target run. */
export interface TargetRun {
  name: string;
  runs: number;
  ms: number;
  stats: Record<string, number>;
}

/**
 * Runs `target` for `runs` cases (optionally from `seed`). A counterexample is written to
 * `fuzz/regressions/<name>-<seed>.json` and the run throws with fast-check's report.
 */
export async function runTarget<T>(
  target: FuzzTarget<T>,
  runs: number,
  seed?: number,
): Promise<TargetRun> {
  const started = performance.now();
  const result = await fc.check(
    fc.asyncProperty(target.arbitrary, (input) => target.check(input)),
    { numRuns: runs, ...(seed !== undefined ? { seed } : {}), endOnFailure: false },
  );
  const ms = Math.round(performance.now() - started);
  if (!result.failed) return { name: target.name, runs, ms, stats: { ...target.stats } };
  const file = `${target.name}-${result.seed}.json`;
  const saved = {
    target: target.name,
    seed: result.seed,
    path: result.counterexamplePath,
    error: String((result.errorInstance as Error | undefined)?.message ?? "failed")
      .slice(0, 2000),
    input: result.counterexample ? toSavable(target.encode(result.counterexample[0])) : null,
  };
  await writeFile(new URL(file, REGRESSIONS_DIR), JSON.stringify(saved, null, 2) + "\n");
  throw new Error(
    `fuzz target ${target.name} failed (kept as fuzz/regressions/${file}): ${saved.error}\n` +
      fc.defaultReportMessage(result),
  );
}

/** The in-process service: the app, a full-scope token, and `close()`. */
export interface FuzzService {
  app: Hono<AppEnv>;
  token: string;
  dataDir: string;
  samples: { epochId: string; inputsCid: string; policyId: string; policyHash: string }[];
  /** `app.request` with the loopback peer that the TCP listener would set. */
  request(path: string, init: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Builds the app the way `main.ts` does, over a fresh temporary DATA_DIR (file store, so
 * audit lines go to a file and not to the test output), with error jitter off and rate
 * limits high enough that fuzzing is not throttled. `env` adds or overrides variables.
 */
export async function startFuzzService(env: Record<string, string> = {}): Promise<FuzzService> {
  const dataDir = await mkdtemp(join(tmpdir(), "rewarder-fuzz-"));
  const fullEnv: Record<string, string | undefined> = {
    DATA_DIR: dataDir,
    STORE: "file",
    ERROR_JITTER_MS: "0",
    MAX_RPS: "1000000",
    RATE_BURST: "1000000",
    TENANT_RPS_MAX: "1000000",
    ...env,
  };
  const config = loadConfig(fullEnv);
  const vectorsDir = new URL("../vectors/", import.meta.url).pathname;
  const { paths, samples } = await ensureDevMaterial(dataDir, vectorsDir);
  const built = await buildServices(config, paths, { version: "fuzz", env: fullEnv });
  const { app } = buildApp(built.services);
  const token = await devToken(paths.capsKeysPath, Date.now());
  const peer = { transport: "tcp" as const, address: "127.0.0.1" };
  // Warm up: the first compute waits for the engine worker's cold start (module graph,
  // WASM compile; seconds under `deno test --parallel`), which is not what the per-case
  // time bound is about. One dry run, bounded.
  const sample = samples[0]!;
  await withinMs(WARMUP_MS_MAX, "warm-up compute", async () => {
    let status = 0;
    // Bounded: each attempt is bounded by REQUEST_TIMEOUT_MS, the whole by WARMUP_MS_MAX.
    for (let attempt = 0; attempt < WARMUP_ATTEMPTS_MAX && status !== 200; attempt++) {
      const res = await app.request(
        `http://127.0.0.1/rewarder/epochs/${sample.epochId}/compute`,
        {
          method: "POST",
          headers: { authorization: `Macaroon ${token}`, "content-type": "application/json" },
          body: JSON.stringify({
            inputs_cid: sample.inputsCid,
            policy_id: sample.policyId,
            policy_hash: sample.policyHash,
            dry_run: true,
          }),
        },
        { peer },
      );
      await res.body?.cancel();
      status = res.status;
    }
    if (status !== 200) throw new Error(`warm-up compute answered ${status}`);
  });
  return {
    app,
    token,
    dataDir,
    samples,
    request: async (path, init) => await app.request(`http://127.0.0.1${path}`, init, { peer }),
    close: async () => {
      await built.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
