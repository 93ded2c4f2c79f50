/**
 * Crash-test harness (issue 5): runs the real service (`main.ts`) and the real dev ledger
 * (`tools/dev_ledger.ts`) as child processes on loopback, prepares a data dir with epochs and
 * signed policies, and offers a tiny HTTP client. Deno-only (tests). Every wait is bounded.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { DevLedgerStats } from "./dev_ledger_process.ts";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { canonicalJson } from "../../src/core/canonical_json.ts";
import { policyHashOf } from "../../src/core/policy.ts";
import { POLICY_SIG_DOMAIN } from "../../src/core/policy_envelope.ts";
import { asCid } from "../../src/core/cid.ts";
import { asEpochId } from "../../src/core/ids.ts";
import { intentKeyOf, runKeyOf } from "../../src/core/run_key.ts";
import { signStatement } from "../../src/core/seal.ts";
import { casPut } from "../../src/shell/sources/cas.ts";
import { devToken, ensureDevMaterial } from "../../src/shell/keys/dev_bootstrap.ts";
import { loadSigningKey, writeSecretFile } from "../../src/shell/keys/key_files.ts";
import { loadSigner } from "../../src/shell/keys/signer.ts";

/** Bound on a child's startup (until it prints its listening line), ms. */
export const CHILD_START_TIMEOUT_MS = 20_000;
/** Bound on a child's exit after SIGTERM (then SIGKILL), ms. */
export const CHILD_STOP_TIMEOUT_MS = 10_000;
/** Bound on one HTTP request of the test client, ms. */
export const REQUEST_TIMEOUT_MS = 15_000;
/** Kept tail of a child's stdout+stderr (for failure messages), characters. */
export const OUTPUT_TAIL_CHARS_MAX = 16_384;
/** Idempotency salt of the service (its default; the run keys are computed client-side). */
export const SERVICE_SALT = "svc-rewarder|v1";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Mulberry32: a small seeded PRNG (uniform in [0, 1)). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks one element of a non-empty list. */
export function pick<T>(rng: () => number, list: readonly T[]): T {
  return list[Math.floor(rng() * list.length)]!;
}

/** A policy the service can load from POLICY_DIR. */
export interface PreparedPolicy {
  policyId: string;
  policyHash: string;
}

/** What {@link prepareDataDir} produced. */
export interface PreparedDataDir {
  dataDir: string;
  capsKeysPath: string;
  /** `{"keys":[{kid,alg,public_key}]}` of the signing keys, for the dev ledger. */
  ledgerKeys: { keys: { kid: string; alg: string; public_key: string }[] };
  /** Plain largest-remainder policy over `votes` (sealed runs). */
  sealedPolicy: PreparedPolicy;
  /** Same with a 10 % fee: two I128_MAX scores overflow and the run is quarantined. */
  overflowPolicy: PreparedPolicy;
}

const CASES = join(ROOT, "vectors", "cases");

/**
 * Creates the embedded default's material under `dataDir` exactly as `main.ts` would (it is
 * idempotent, so the service reuses it) plus a second signed policy for quarantined runs.
 */
export async function prepareDataDir(dataDir: string): Promise<PreparedDataDir> {
  const { paths } = await ensureDevMaterial(dataDir, join(ROOT, "vectors") + "/");
  const signer = await loadSigner(paths.signingKeysDir, { requirePq: false });
  const ledgerKeys = {
    keys: signer.published().map((k) => ({ kid: k.kid, alg: k.alg, public_key: k.public_key })),
  };
  const gov = await loadSigningKey(join(dataDir, "keys", "gov-dev.key.json"));
  async function signPolicy(caseName: string, fileName: string): Promise<PreparedPolicy> {
    const policy = JSON.parse(await readFile(join(CASES, caseName, "policy.json"), "utf8"));
    const policyHash = policyHashOf(policy);
    const signatures = await signStatement(POLICY_SIG_DOMAIN, policyHash, [gov]);
    await writeSecretFile(
      join(dataDir, "policies", fileName),
      new TextEncoder().encode(canonicalJson({ policy, policy_hash: policyHash, signatures })),
    );
    return { policyId: String(policy.policy_id), policyHash };
  }
  const sealedPolicy = await signPolicy("equal-thirds-10", "crash-sealed.json");
  const overflowPolicy = await signPolicy("overflow-quarantines", "crash-overflow.json");
  if (gov.alg === "ed25519") gov.seed.fill(0);
  return { dataDir, capsKeysPath: paths.capsKeysPath, ledgerKeys, sealedPolicy, overflowPolicy };
}

/** Stores a native inputs document for `epochId` in the local CAS; `overflow` quarantines. */
export async function putInputs(
  dataDir: string,
  epochId: string,
  variant: { poolMinor: bigint; overflow: boolean },
): Promise<string> {
  const big = "170141183460469231731687303715884105727"; // I128_MAX
  const doc = {
    schema: "svc-rewarder.inputs.v1",
    epoch_id: epochId,
    asset: "roc",
    pool_minor: variant.poolMinor.toString(),
    entries: variant.overflow
      ? [{ account: "a", metrics: { votes: big } }, { account: "b", metrics: { votes: big } }]
      : [
        { account: "alice", metrics: { votes: "5" } },
        { account: "bob", metrics: { votes: "3" } },
        { account: "carol", metrics: { votes: "2" } },
      ],
  };
  return await casPut(dataDir, new TextEncoder().encode(JSON.stringify(doc)));
}

/** The run key the service will derive (contract §5), computed independently by the client. */
export function expectedRunKey(epochId: string, policyHash: string, inputsCid: string): string {
  return runKeyOf({
    epochId: asEpochId(epochId),
    policyHash: asCid(policyHash),
    inputsCid: asCid(inputsCid),
    salt: SERVICE_SALT,
  });
}

/** A child process with a bounded output tail and its exit. */
export interface Child {
  readonly pid: number;
  /** Resolves when the process exits (never rejects). */
  readonly exited: Promise<Deno.CommandStatus>;
  exitedYet(): boolean;
  output(): string;
  kill(signal: Deno.Signal): void;
  /**
   * SIGTERM, then SIGKILL after `timeoutMs` (default {@link CHILD_STOP_TIMEOUT_MS}); resolves
   * with the status.
   */
  stop(timeoutMs?: number): Promise<Deno.CommandStatus>;
}

function spawnChild(
  args: string[],
  env: Record<string, string>,
  listenRe: RegExp,
): Promise<{ child: Child; match: RegExpExecArray }> {
  const proc = new Deno.Command("deno", {
    args,
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let tail = "";
  let exited = false;
  let onText: (() => void) | undefined;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      tail = (tail + text).slice(-OUTPUT_TAIL_CHARS_MAX);
      onText?.();
    }
  };
  const pumps = Promise.all([pump(proc.stdout), pump(proc.stderr)]).catch(() => undefined);
  const status = proc.status.then(async (s) => {
    exited = true;
    await pumps;
    onText?.();
    return s;
  });
  const child: Child = {
    pid: proc.pid,
    exited: status,
    exitedYet: () => exited,
    output: () => tail.replace(/TOKEN='[^']*'/g, "TOKEN='<redacted>'"),
    kill(signal) {
      if (exited) return;
      try {
        proc.kill(signal);
      } catch {
        // raced with its exit
      }
    },
    async stop(timeoutMs = CHILD_STOP_TIMEOUT_MS) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      try {
        return await status;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onText = undefined;
      child.kill("SIGKILL");
      reject(new Error(`child did not start within ${CHILD_START_TIMEOUT_MS} ms:\n${tail}`));
    }, CHILD_START_TIMEOUT_MS);
    onText = () => {
      const match = listenRe.exec(tail);
      if (match !== null) {
        clearTimeout(timer);
        onText = undefined;
        resolve({ child, match });
      } else if (exited) {
        clearTimeout(timer);
        onText = undefined;
        reject(new Error(`child exited before listening:\n${tail}`));
      }
    };
  });
}

/** Environment every child gets (no inherited secrets; PATH/HOME/DENO_DIR for deno itself). */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["PATH", "HOME", "DENO_DIR", "TMPDIR", "XDG_CACHE_HOME"]) {
    const v = Deno.env.get(name);
    if (v !== undefined) env[name] = v;
  }
  return env;
}

/** A running dev ledger with the service's published keys. */
export interface Ledger {
  url: string;
  child: Child;
  stats(): Promise<DevLedgerStats>;
  faults(list: string[]): Promise<void>;
}

/**
 * The ledger applied exactly the committed runs (`committedRunKeys`), once each, each under its
 * per-tenant intent key (contract §5, §7), and saw duplicates only of those.
 */
export function assertAppliedExactly(
  stats: DevLedgerStats,
  committedRunKeys: Iterable<string>,
): void {
  const committed = new Set(committedRunKeys);
  assert.deepEqual(stats.entries.map((e) => e.run_key).sort(), [...committed].sort());
  assert.ok(Object.values(stats.applied).every((n) => n === 1), "one intent per key");
  for (const e of stats.entries) {
    assert.equal(e.key, intentKeyOf({ tenant: e.tenant, runKey: e.run_key }), "the intent key");
  }
  const runOfKey = new Map(stats.entries.map((e) => [e.key, e.run_key]));
  for (const key of Object.keys(stats.duplicates)) {
    assert.ok(committed.has(runOfKey.get(key) ?? ""), "duplicates only of committed runs");
  }
}

/** Starts `tools/dev_ledger.ts` verifying signatures against `keys` (written to `dir`). */
export async function startLedger(
  dir: string,
  keys: PreparedDataDir["ledgerKeys"],
): Promise<Ledger> {
  const keysPath = join(dir, "ledger-keys.json");
  await writeFile(keysPath, JSON.stringify(keys));
  const { child, match } = await spawnChild(
    [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${ROOT},${keysPath}`,
      "--allow-env",
      "tools/dev_ledger.ts",
      "--keys",
      keysPath,
      "--port",
      "0",
    ],
    baseEnv(),
    /listening (\d+)/,
  );
  const url = `http://127.0.0.1:${match[1]}`;
  return {
    url,
    child,
    async stats() {
      const res = await fetch(`${url}/_stats`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      return await res.json();
    },
    async faults(list) {
      const res = await fetch(`${url}/_faults`, {
        method: "POST",
        body: JSON.stringify({ faults: list }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`dev ledger refused the fault script ${JSON.stringify(list)}`);
    },
  };
}

/** A running service. */
export interface Service {
  url: string;
  child: Child;
}

/** Deno permissions of the service (as `deno task start`). */
export const SERVICE_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
];

/** Starts `main.ts` on a free loopback port with `env` on top of DATA_DIR/BIND_ADDR. */
export async function startService(
  env: Record<string, string>,
  permissions: string[] = SERVICE_PERMISSIONS,
): Promise<Service> {
  const { child, match } = await spawnChild(
    ["run", ...permissions, "--unstable-no-legacy-abort", "main.ts"],
    { ...baseEnv(), BIND_ADDR: "127.0.0.1:0", LOG_LEVEL: "warning", ...env },
    /listening tcp ([0-9.]+):(\d+)/,
  );
  return { url: `http://${match[1]}:${match[2]}`, child };
}

/** Outcome of one client request: an HTTP answer, or the connection failed (process died). */
export type Answer =
  | { kind: "http"; status: number; text: string; json: unknown }
  | { kind: "network"; reason: string };

/** A small client of the service with a development token (tenant `dev`, every scope). */
export interface Client {
  compute(
    epochId: string,
    body: { inputs_cid: string; policy_id: string; policy_hash: string; dry_run?: boolean },
  ): Promise<Answer>;
  get(path: string): Promise<Answer>;
}

/** Creates a client for `baseUrl`; the token is minted from the caps master key file. */
export async function createClient(baseUrl: string, capsKeysPath: string): Promise<Client> {
  const token = await devToken(capsKeysPath, Date.now());
  async function request(path: string, init: RequestInit): Promise<Answer> {
    let res: Response;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        ...init,
        headers: {
          authorization: `Macaroon ${token}`,
          "content-type": "application/json",
        },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      return { kind: "network", reason: String((err as Error)?.name ?? err) };
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      return { kind: "network", reason: `body:${String((err as Error)?.name ?? err)}` };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { kind: "http", status: res.status, text, json };
  }
  return {
    compute: (epochId, body) =>
      request(`/rewarder/epochs/${epochId}/compute`, {
        method: "POST",
        body: JSON.stringify(body),
      }),
    get: (path) => request(path, { method: "GET" }),
  };
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
