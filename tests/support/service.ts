/**
 * Starts and stops the REAL service (`main.ts`) as a subprocess for the end-to-end tests
 * (issues 3 and 4, "Done when"), over TCP (`127.0.0.1:0`; the bound port is read from the
 * `listening tcp host:port` line) or a Unix socket in a fresh 0700 directory.
 *
 * The subprocess runs the embedded default: the data dir is bootstrapped here first (same
 * code as `main.ts`), so tests can add signed policies and content-store objects before the
 * server starts and know every key it uses. Its stdout and stderr are captured for the
 * log-leak checks.
 *
 * @module
 */
import { join } from "node:path";
import { ensureDevMaterial } from "../../src/shell/keys/dev_bootstrap.ts";
import { mintToken } from "../../src/shell/caps/mint.ts";
import { fromBase64Url } from "../../src/core/base64url.ts";

/** Longest wait for the server to print its `listening` line. */
export const START_MS_MAX = 30_000;
/** Longest wait for the server to exit after SIGTERM before SIGKILL. */
export const STOP_MS_MAX = 10_000;
/** Longest any single request of the tests may take. */
export const REQUEST_MS_MAX = 15_000;
/** Largest captured output kept (bytes of text); more is a test bug (log flood). */
export const OUTPUT_CHARS_MAX = 16 * 1024 * 1024;

const REPO = new URL("../../", import.meta.url).pathname;
/** The repository's vectors directory. */
export const VECTORS_DIR = join(REPO, "vectors");

/** Environment variables passed through to the child (nothing else leaks in). */
const PASS_ENV = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR", "LANG"];

/** A running service. */
export interface Service {
  dataDir: string;
  transport: "tcp" | "unix";
  /** `http://127.0.0.1:port` or `http://localhost` (UDS, through the client). */
  origin: string;
  /** The socket path over UDS. */
  socketPath?: string;
  /** The child process's id (e.g. to read its memory from /proc). */
  pid: number;
  /** fetch() against the service (path starts with `/`). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Everything the process wrote so far (stdout then stderr interleaved as read). */
  output(): string;
  /** SIGTERM, wait (bounded), SIGKILL if needed; returns the exit code. */
  stop(): Promise<number>;
}

/** Options of {@link startService}. */
export interface StartOptions {
  dataDir: string;
  transport: "tcp" | "unix";
  /** Extra environment (DATA_DIR, BIND_ADDR and ERROR_JITTER_MS=0 are set here). */
  env?: Record<string, string>;
}

/**
 * Creates a fresh data dir and bootstraps the development material into it; `before` runs
 * first (e.g. to write a caps key file with several epochs, which the bootstrap keeps).
 */
export async function freshDataDir(
  prefix: string,
  before?: (dataDir: string) => Promise<void>,
): Promise<string> {
  const dataDir = await Deno.makeTempDir({ prefix: `svc_${prefix}_` });
  await before?.(dataDir);
  await ensureDevMaterial(dataDir, VECTORS_DIR + "/");
  return dataDir;
}

/** Starts `main.ts`; resolves once it prints its `listening` line. */
export async function startService(options: StartOptions): Promise<Service> {
  let socketPath: string | undefined;
  let bindAddr = "127.0.0.1:0";
  if (options.transport === "unix") {
    const dir = await Deno.makeTempDir({ prefix: "svc_uds_" });
    await Deno.chmod(dir, 0o700);
    socketPath = join(dir, "api.sock");
    bindAddr = `unix://${socketPath}`;
  }
  const env: Record<string, string> = {};
  for (const name of PASS_ENV) {
    const v = Deno.env.get(name);
    if (v !== undefined) env[name] = v;
  }
  Object.assign(env, {
    NO_COLOR: "1",
    DATA_DIR: options.dataDir,
    BIND_ADDR: bindAddr,
    ERROR_JITTER_MS: "0",
    // The test tenant `dev` is the operator (contract §9: only its tokens may quarantine)
    // unless a test says otherwise.
    OPERATOR_TENANT: TEST_OPERATOR_TENANT,
    ...options.env,
  });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-no-legacy-abort", "main.ts"],
    cwd: REPO,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let text = "";
  let onText: (() => void) | undefined;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      if (text.length < OUTPUT_CHARS_MAX) text += decoder.decode(chunk, { stream: true });
      onText?.();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status;

  const listening = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${text}`)),
      START_MS_MAX,
    );
    const check = () => {
      const m = /listening (tcp ([0-9.]+):([0-9]+)|unix (\S+))\n/.exec(text);
      if (m) {
        clearTimeout(timer);
        onText = undefined;
        resolve(m);
      }
    };
    onText = check;
    // Read its output to the end first: the exit can be seen before the last stderr line (the
    // reason it stopped) has been pumped.
    status.then(async (s) => {
      await pumps;
      clearTimeout(timer);
      reject(new Error(`server exited with ${s.code} before listening:\n${text}`));
    });
    check();
  });

  const client = socketPath === undefined
    ? undefined
    : Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
  const origin = socketPath === undefined
    ? `http://${listening[2]}:${listening[3]}`
    : "http://localhost";
  let stopped: Promise<number> | undefined;
  return {
    dataDir: options.dataDir,
    transport: options.transport,
    origin,
    pid: child.pid,
    ...(socketPath === undefined ? {} : { socketPath }),
    fetch(path, init = {}) {
      return fetch(origin + path, {
        signal: AbortSignal.timeout(REQUEST_MS_MAX),
        ...init,
        ...(client === undefined ? {} : { client }),
      });
    },
    output: () => text,
    stop() {
      stopped ??= (async () => {
        client?.close();
        try {
          child.kill("SIGTERM");
        } catch {
          // already exited
        }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // already exited
          }
        }, STOP_MS_MAX);
        const s = await status;
        clearTimeout(timer);
        await pumps;
        return s.code;
      })();
      return stopped;
    },
  };
}

// ---- tokens -------------------------------------------------------------------------------

/** The caps key file as written by the bootstrap (or by a test before it). */
export async function capsMasterSecret(dataDir: string, keyEpoch = 1): Promise<Uint8Array> {
  const doc = JSON.parse(await Deno.readTextFile(join(dataDir, "keys", "caps.json")));
  return fromBase64Url(String(doc.epochs[String(keyEpoch)]));
}

/** RFC 3339 UTC without fractional seconds, `deltaS` from now. */
export function instant(deltaS: number): string {
  return new Date(Date.now() + deltaS * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** All scopes of contract §10. */
export const ALL_SCOPES = "rewarder.run,rewarder.inspect,rewarder.quarantine";

/** OPERATOR_TENANT of the services the tests start (unless their env overrides it). */
export const TEST_OPERATOR_TENANT = "dev";

/** Options of {@link TokenMinter.mint}. */
export interface MintFor {
  tenant?: string;
  keyEpoch?: number;
  /** Caveats; default `scope = <all>`, `tenant = <tenant>`, `time < now+1h`. */
  caveats?: string[];
  /**
   * Scopes the v2 identifier grants (contract §9); default every scope for the operator
   * tenant ({@link TEST_OPERATOR_TENANT}), run and inspect for any other.
   */
  scopes?: string[];
  /** Master secret to sign with (default: the key file's secret of keyEpoch). */
  secret?: Uint8Array;
}

/** Mints tokens against a data dir's caps keys and remembers each one (leak checks). */
export interface TokenMinter {
  mint(options?: MintFor): Promise<string>;
  /** Records a token made by other means (attenuated, tampered) for the leak check. */
  remember(token: string): string;
  /** Every token handed out. */
  used(): string[];
}

/** Creates a {@link TokenMinter}. */
export function tokenMinter(dataDir: string): TokenMinter {
  const used: string[] = [];
  return {
    async mint(o = {}) {
      const tenant = o.tenant ?? "dev";
      const keyEpoch = o.keyEpoch ?? 1;
      const secret = o.secret ?? (await capsMasterSecret(dataDir, keyEpoch));
      const token = mintToken({
        masterSecret: secret,
        tenant,
        keyEpoch,
        scopes: o.scopes ??
          (tenant === TEST_OPERATOR_TENANT
            ? ALL_SCOPES.split(",")
            : ["rewarder.run", "rewarder.inspect"]),
        operatorTenant: TEST_OPERATOR_TENANT,
        nonceHex: toHex(crypto.getRandomValues(new Uint8Array(16))),
        caveats: o.caveats ??
          [`scope = ${ALL_SCOPES}`, `tenant = ${tenant}`, `time < ${instant(3600)}`],
      });
      used.push(token);
      return token;
    },
    remember(token) {
      used.push(token);
      return token;
    },
    used: () => [...used],
  };
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Secret strings of a data dir that must never appear in logs: every master secret of the
 * caps key file, the signing and governance private keys, the at-rest key.
 */
export async function keyMaterial(dataDir: string): Promise<string[]> {
  const keys = join(dataDir, "keys");
  const out: string[] = [];
  const caps = JSON.parse(await Deno.readTextFile(join(keys, "caps.json")));
  for (const v of Object.values(caps.epochs as Record<string, string>)) out.push(v);
  out.push((await Deno.readTextFile(join(keys, "at-rest.key"))).trim());
  const privateKeyFiles = [join(keys, "gov-dev.key.json")];
  for await (const e of Deno.readDir(join(keys, "signing"))) {
    privateKeyFiles.push(join(keys, "signing", e.name));
  }
  for (const file of privateKeyFiles) {
    const doc = JSON.parse(await Deno.readTextFile(file));
    if (typeof doc.private_key === "string") out.push(doc.private_key);
  }
  return out;
}

// ---- HTTP helpers -------------------------------------------------------------------------

/** A JSON answer read fully. */
export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
  text: string;
}

/** Reads a response fully and parses JSON when it is JSON. */
export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** Request helper bound to a service and a token. */
export function caller(service: Service) {
  return async function call(
    method: string,
    path: string,
    options: {
      token?: string | undefined;
      json?: unknown;
      body?: BodyInit;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers["authorization"] = `Macaroon ${options.token}`;
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["content-type"] ??= "application/json";
    }
    return await answerOf(
      await service.fetch(path, { method, headers, ...(body === undefined ? {} : { body }) }),
    );
  };
}

/** Most pages followed when listing every run (bounds the loop). */
export const LIST_PAGES_MAX = 50;

/** Every run of the token's tenant, as `run_key → emission`, following cursors. */
export async function allRuns(
  call: ReturnType<typeof caller>,
  token: string,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor: string | null = null;
  for (let page = 0; page < LIST_PAGES_MAX; page++) {
    const q: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const a = await call("GET", `/rewarder/runs?limit=500${q}`, { token });
    if (a.status !== 200) throw new Error(`listing runs failed: ${a.status} ${a.text}`);
    for (const r of a.body.runs) out.set(r.run_key, r.emission);
    cursor = a.body.next_cursor;
    if (cursor === null) return out;
  }
  throw new Error("too many pages of runs");
}

/** The sorted run keys of the token's tenant (emission states move on their own). */
export async function runKeys(call: ReturnType<typeof caller>, token: string): Promise<string[]> {
  return [...(await allRuns(call, token)).keys()].sort();
}

/** Polls `probe` every `everyMs` until it returns true or `maxMs` passes. */
export async function waitFor(
  probe: () => Promise<boolean>,
  maxMs = 10_000,
  everyMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return await probe();
}
