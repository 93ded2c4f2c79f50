/**
 * Service configuration from the environment (contract §12). {@link CONFIG_TABLE}
 * is the one table of variables (name, parser, default, bounds, meaning, secret or not): the
 * parsing in {@link loadConfig}, the relations in {@link assertRelations} and the `--help`
 * text ({@link configHelp}) all come from it, and no other module of the service reads the
 * environment (tests/config_table_test.ts checks that over the sources).
 *
 * {@link loadConfig} is a pure function of the env record, so it runs unchanged on Deno, Bun
 * and Node and in tests; on error it throws a {@link ConfigError} naming the variable (exit
 * with `err.exitCode`, 78). Empty values count as unset (container runtimes often pass
 * `NAME=`). A variable the contract names but this version does not implement is refused
 * when set ({@link NOT_IMPLEMENTED}), never accepted and ignored.
 *
 * @module
 */
import process from "node:process";
import { stat } from "node:fs/promises";
import { NOTES_CHARS_MAX } from "../../core/limits.ts";
import { TENANT_PATTERN } from "../../core/ids.ts";
import { DEFAULT_IDEMPOTENCY_SALT } from "../../core/run_key.ts";
import {
  BODY_BYTES_MAX_LIMIT,
  INFLATED_BYTES_MAX_LIMIT,
  INFLIGHT_MAX_LIMIT,
  PREAUTH_BUDGET_BYTES_DEFAULT,
  PREAUTH_BUDGET_BYTES_LIMIT,
  PREAUTH_CHUNK_BYTES,
  RATIO_MAX_LIMIT,
  TIMEOUT_MS_LIMIT,
} from "../admission/limits.ts";
import {
  ANON_PEER_RPS_MAX_DEFAULT,
  ANON_PEERS_MAX_DEFAULT,
  RATE_LIMIT_MAX,
} from "../admission/rate_limiter.ts";
import { KEY_RELOAD_INTERVAL_MS_MAX } from "../caps/limits.ts";
import {
  HEADERS_TIMEOUT_MS,
  HEADERS_TIMEOUT_MS_MIN,
  KEEP_ALIVE_TIMEOUT_MS,
  KEEP_ALIVE_TIMEOUT_MS_MAX,
  KEEP_ALIVE_TIMEOUT_MS_MIN,
  REQUEST_RECEIVE_TIMEOUT_MS,
} from "../listen/limits.ts";
import {
  bool,
  ConfigError,
  type Env,
  fail,
  httpUrl,
  int,
  markSecret,
  oneOf,
  path,
  raw,
} from "./config_parse.ts";
import { type BindAddr, parseBindAddrVariable } from "./bind_addr_variable.ts";

export { ConfigError } from "./config_parse.ts";
export type { Env } from "./config_parse.ts";
export type { BindAddr } from "./bind_addr_variable.ts";

/**
 * Largest valid compute body, bytes: `notes` of 1024 UTF-16 units each escaped as `\uXXXX`
 * (6 bytes) is 6144, plus ids and CIDs (< 400) and punctuation; REQ_BODY_MAX must hold it.
 */
export const COMPUTE_BODY_BYTES_MAX = NOTES_CHARS_MAX * 6 + 2048;

/** Largest time budget accepted, ms: the timeout middleware's bound (10 minutes). */
const MS_LIMIT = TIMEOUT_MS_LIMIT;

/** Largest ENGINE_EXPRESS_BYTES_MAX accepted, bytes: the express worker is for small epochs. */
const EXPRESS_BYTES_LIMIT = 67_108_864;
/** Largest ENGINE_WORKERS accepted: each worker holds a whole epoch in memory while it runs. */
export const ENGINE_WORKERS_LIMIT = 64;

/** Where inputs (or policies) come from. */
export type Source = { kind: "local" } | { kind: "http"; baseUrl: string };

/** The runtime the service runs on (some listener features depend on it). */
export type Runtime = "deno" | "bun" | "node";

/** One variable of the table. */
export interface ConfigVariable<T> {
  /** Default as shown in `--help` (a value, or what unset means). */
  readonly dflt: string;
  /** Accepted values, as shown in `--help` and in refusals. */
  readonly rule: string;
  /** One-line meaning for `--help`. */
  readonly meaning: string;
  /** The value is never printed (credentials may hide in it). */
  readonly secret?: boolean;
  /** Names a file holding a secret: must be mode 0600 ({@link checkConfigFiles}). */
  readonly secretPath?: boolean;
  /** Names an existing file or directory, checked at start ({@link checkConfigFiles}). */
  readonly exists?: "file" | "dir";
  /** Only for tests; ignored with PRODUCTION=on. */
  readonly testOnly?: boolean;
  /** Strict parser. */
  readonly read: (env: Env, name: string) => T;
}

function intVar(
  dflt: number,
  min: number,
  max: number,
  meaning: string,
): ConfigVariable<number> {
  return {
    dflt: String(dflt),
    rule: `integer ${min}..${max}`,
    meaning,
    read: (env, name) => int(env, name, dflt, min, max),
  };
}

function optIntVar(min: number, max: number, dflt: string, meaning: string) {
  return {
    dflt,
    rule: `integer ${min}..${max}`,
    meaning,
    read: (env: Env, name: string) =>
      raw(env, name) === undefined ? undefined : int(env, name, min, min, max),
  } satisfies ConfigVariable<number | undefined>;
}

function boolVar(dflt: boolean, meaning: string): ConfigVariable<boolean> {
  return {
    dflt: dflt ? "on" : "off",
    rule: "on|off",
    meaning,
    read: (env, name) => bool(env, name, dflt),
  };
}

function wordVar<W extends string>(
  words: readonly W[],
  dflt: W,
  meaning: string,
): ConfigVariable<W> {
  return {
    dflt,
    rule: words.join("|"),
    meaning,
    read: (env, name) => oneOf(env, name, words, dflt),
  };
}

function pathVar(
  dflt: string,
  meaning: string,
  flags: { secretPath?: boolean; exists?: "file" | "dir" } = {},
): ConfigVariable<string | undefined> {
  return { dflt, rule: "path", meaning, ...flags, read: (env, name) => path(env, name) };
}

function urlVar(dflt: string, meaning: string): ConfigVariable<string | undefined> {
  return {
    dflt,
    rule: "http(s) URL",
    meaning,
    secret: true,
    read: (env, name) => httpUrl(env, name),
  };
}

function textVar(
  dflt: string,
  rule: string,
  meaning: string,
  flags: { secret?: boolean; testOnly?: boolean } = {},
): ConfigVariable<string | undefined> {
  return { dflt, rule, meaning, ...flags, read: (env, name) => raw(env, name) };
}

/**
 * Every environment variable the service reads, in `--help` order. Defaults are those of
 * contract §12 (the caps keep their names and defaults); bounds are those of the components the values are wired into (the
 * middleware's own limits), so a value accepted here is never refused later at wiring.
 */
export const CONFIG_TABLE = {
  // Listener
  BIND_ADDR: textVar(
    "127.0.0.1:8090",
    "host:port | [v6]:port | unix:///abs/path.sock",
    "where the service listens (a Unix socket directory must be 0700)",
  ),
  LISTEN_ENGINE: {
    ...wordVar(["native", "node"] as const, "native", ""),
    dflt: "native (node when TLS_CERT_PATH is set)",
    meaning:
      "Deno only: native is Deno's HTTP engine under the connection guard; node serves through node:http(s) (TLS handshake deadline, client certificates, TLS 1.3 minimum, slower); see docs/RUNTIMES.md",
  },
  HEADER_DEADLINE_MS: intVar(
    HEADERS_TIMEOUT_MS,
    HEADERS_TIMEOUT_MS_MIN,
    REQUEST_RECEIVE_TIMEOUT_MS,
    "a connection whose request headers have not arrived this long after it opened is closed, ms (Deno, Node; Bun's is fixed at 10 s, docs/RUNTIMES.md)",
  ),
  KEEPALIVE_IDLE_MS: intVar(
    KEEP_ALIVE_TIMEOUT_MS,
    KEEP_ALIVE_TIMEOUT_MS_MIN,
    KEEP_ALIVE_TIMEOUT_MS_MAX,
    "a kept-alive connection with no request in progress is closed after this, ms (Bun: the larger of this and HEADER_DEADLINE_MS, whole seconds)",
  ),
  TLS_CERT_PATH: pathVar(
    "unset: plain HTTP",
    "listener certificate chain (PEM); with TLS_KEY_PATH",
    { exists: "file" },
  ),
  TLS_KEY_PATH: pathVar("unset", "listener private key (PEM, 0600)", {
    secretPath: true,
    exists: "file",
  }),
  CLIENT_CA_PATH: pathVar(
    "unset: no client certificates",
    "inbound client certificates must chain to this PEM bundle (needs TLS; not on Deno's native engine)",
    { exists: "file" },
  ),
  // Data and keys
  DATA_DIR: pathVar("./.rewarder-data", "local state: content store, policies, journal, audit"),
  PUBLISH_DIR: pathVar(
    "unset: nothing published",
    "publication root (contract §13, docs/EDGE.md): each committed envelope as an object and a signed pointer, plus keys.json, written from a queue committed with the run (a crash loses nothing)",
  ),
  STORE: wordVar(
    ["file", "memory", "postgres"] as const,
    "file",
    "run store (memory when AMNESIA=on; postgres needs DATABASE_URL)",
  ),
  DATABASE_URL: textVar("unset", "postgres(ql):// URL", "the shared database (STORE=postgres)", {
    secret: true,
  }),
  AMNESIA: boolVar(false, "RAM only: nothing written to disk (STORE=memory)"),
  CAPS_KEYS_PATH: pathVar(
    "unset: development key under DATA_DIR",
    "capability root keys (JSON, 0600)",
    { secretPath: true, exists: "file" },
  ),
  CAPS_RELOAD_MS: intVar(
    KEY_RELOAD_INTERVAL_MS_MAX,
    1,
    KEY_RELOAD_INTERVAL_MS_MAX,
    "how often the caps key file is re-read, ms",
  ),
  SIGNING_KEYS_DIR: pathVar(
    "unset: development key under DATA_DIR",
    "manifest signing keys (directory of 0600 JSON files)",
    { secretPath: true, exists: "dir" },
  ),
  GOV_KEYS_PATH: pathVar(
    "unset: development key under DATA_DIR",
    "governance public keys that sign policies (JSON)",
    { exists: "file" },
  ),
  GOV_THRESHOLD: optIntVar(1, 64, "the key file's threshold", "policy signatures required"),
  AT_REST_KEY_PATH: pathVar(
    "unset: development key under DATA_DIR",
    "key encrypting stored runs (0600; STORE=file|postgres)",
    { secretPath: true, exists: "file" },
  ),
  EDGE_JWT_KEYS: pathVar(
    "unset: JWTs refused",
    "gateway JWT public keys: this instance is the edge (docs/EDGE-JWT.md)",
    { exists: "file" },
  ),
  OPERATOR_TENANT: textVar(
    "operator",
    "tenant ([a-z0-9_-], 1..64)",
    "the only tenant whose tokens may grant rewarder.quarantine",
  ),
  // Downstreams
  POLICY_DIR: pathVar("$DATA_DIR/policies", "signed policy envelopes (*.json)"),
  INPUTS_SOURCE: urlVar(
    "unset: local content store",
    "base URL serving GET <base>/<cid>",
  ),
  POLICY_SOURCE: urlVar("unset: POLICY_DIR", "policy registry base URL"),
  LEDGER_URL: urlVar("unset: local settlement journal", "ledger base URL (POST <url>/intents)"),
  LEDGER_TOKEN_PATH: pathVar(
    "unset: no token",
    "macaroon the ledger issued, attenuated per intent (0600)",
    { secretPath: true, exists: "file" },
  ),
  DOWNSTREAM_TLS: wordVar(
    ["off", "required", "mtls"] as const,
    "off",
    "required: downstream URLs must be https; mtls: https with a client certificate",
  ),
  DOWNSTREAM_CA_PATH: pathVar(
    "unset: system roots",
    "PEM bundle trusted for https downstreams (see docs/RUNTIMES.md for Deno)",
    { exists: "file" },
  ),
  DOWNSTREAM_CERT_PATH: pathVar("unset", "client certificate chain (PEM) for DOWNSTREAM_TLS=mtls", {
    exists: "file",
  }),
  DOWNSTREAM_KEY_PATH: pathVar("unset", "client private key (PEM, 0600) for DOWNSTREAM_TLS=mtls", {
    secretPath: true,
    exists: "file",
  }),
  DOWNSTREAM_CONNECT_MS: intVar(2_000, 1, MS_LIMIT, "downstream connect budget, ms"),
  DOWNSTREAM_ATTEMPT_MS: intVar(10_000, 1, MS_LIMIT, "one downstream attempt, ms"),
  MAX_RETRIES_LEDGER: intVar(2, 0, 10, "ledger retries per dispatch round"),
  MAX_LEDGER_EMITS_PER_RUN: intVar(1, 1, 1, "ledger intents per run (always 1)"),
  // Modes
  READ_ONLY: boolVar(false, "refuse compute; serve reads only; no dispatch"),
  QUARANTINE_ONLY: boolVar(false, "start quarantined: no emission"),
  REQUIRE_PQ_ON: boolVar(false, "require a post-quantum signing key"),
  PRODUCTION: boolVar(false, "refuse development keys (also --production)"),
  IDEMPOTENCY_SALT: textVar(DEFAULT_IDEMPOTENCY_SALT, "≤ 256 chars", "salt of derived keys", {
    secret: true,
  }),
  // Caps (contract §12: names and defaults kept)
  MAX_INFLIGHT: intVar(512, 1, INFLIGHT_MAX_LIMIT, "requests in flight"),
  MAX_RPS: intVar(500, 1, RATE_LIMIT_MAX, "requests per second, all tenants"),
  RATE_BURST: intVar(200, 1, RATE_LIMIT_MAX, "burst above MAX_RPS"),
  TENANT_RPS_MAX: intVar(100, 1, RATE_LIMIT_MAX, "requests per second per tenant"),
  TENANT_BUCKETS_MAX: intVar(10_000, 1, RATE_LIMIT_MAX, "tenants tracked by the rate limiter"),
  ANON_PEER_RPS_MAX: intVar(
    ANON_PEER_RPS_MAX_DEFAULT,
    1,
    RATE_LIMIT_MAX,
    "requests per second (and burst) of one peer address without a valid token (behind a proxy: all of them)",
  ),
  ANON_PEERS_MAX: intVar(
    ANON_PEERS_MAX_DEFAULT,
    1,
    RATE_LIMIT_MAX,
    "peer addresses tracked by the anonymous buckets, least recently used evicted",
  ),
  PREAUTH_BUDGET_BYTES: intVar(
    PREAUTH_BUDGET_BYTES_DEFAULT,
    PREAUTH_CHUNK_BYTES,
    PREAUTH_BUDGET_BYTES_LIMIT,
    "bytes all requests not yet authenticated may hold together (one 64 KiB chunk each)",
  ),
  REQ_BODY_MAX: intVar(
    1_048_576,
    1,
    BODY_BYTES_MAX_LIMIT,
    "request body as received, bytes (≥ the largest valid compute body)",
  ),
  DECOMP_RATIO_MAX: intVar(10, 1, RATIO_MAX_LIMIT, "inflated / compressed size"),
  POST_INFLATE_MAX: intVar(
    8_388_608,
    1,
    INFLATED_BYTES_MAX_LIMIT,
    "request body after inflating, bytes (≥ REQ_BODY_MAX)",
  ),
  REQUEST_TIMEOUT_MS: intVar(5_000, 1, MS_LIMIT, "whole request budget, ms"),
  MAX_EPOCH_COST_MS: intVar(5_000, 1, MS_LIMIT, "compute cost guard, ms (≤ REQUEST_TIMEOUT_MS)"),
  ENGINE_WORKERS: optIntVar(
    1,
    ENGINE_WORKERS_LIMIT,
    "cores − 1, at least 1",
    "compute jobs running at once, one engine worker each (plus one warm spare)",
  ),
  ENGINE_NICE: intVar(
    10,
    0,
    19,
    "nice value of the general engine workers' threads, below the request loop's 0 (Linux; 0: unchanged)",
  ),
  ENGINE_EXPRESS_BYTES_MAX: intVar(
    1_048_576,
    0,
    EXPRESS_BYTES_LIMIT,
    "inputs up to this size may also run on one express worker that takes no larger job, bytes (0: no express worker)",
  ),
  COST_CAP_ACTION: wordVar(
    ["reject", "dry_run"] as const,
    "reject",
    "over the cost guard: refuse, or answer a dry run",
  ),
  RETENTION_DAYS: intVar(90, 1, 36_500, "days runs are kept"),
  ERROR_JITTER_MS: intVar(25, 0, 1_000, "random delay added to error answers, ms"),
  LOG_LEVEL: wordVar(
    ["trace", "debug", "info", "warning", "error", "fatal"] as const,
    "info",
    "log threshold",
  ),
  CONFIG_RELOAD_PATH: pathVar(
    "unset: SIGHUP re-reads the environment",
    "KEY=VALUE file re-read on SIGHUP (MAX_RPS, RATE_BURST, TENANT_RPS_MAX change live)",
    { exists: "file" },
  ),
  REWARDER_TEST_CRASH_AT: textVar(
    "unset",
    "<step>[#<n>]",
    "tests only: exit 137 at a crash point (ignored with PRODUCTION=on)",
    { testOnly: true },
  ),
} as const;

/** The table's variable names. */
export type ConfigName = keyof typeof CONFIG_TABLE;

/** Every variable name of the table, in table order. */
export const CONFIG_NAMES: readonly ConfigName[] = Object.keys(CONFIG_TABLE) as ConfigName[];

for (const name of CONFIG_NAMES) {
  if ((CONFIG_TABLE[name] as ConfigVariable<unknown>).secret) markSecret(name);
}

/**
 * Variables the contract names that this version does not implement: set, they refuse the
 * start rather than being ignored. (None now: PUBLISH_DIR, contract §13, is implemented.)
 */
export const NOT_IMPLEMENTED: readonly string[] = [];

/**
 * Variables of the edge (contract §13), read by its own table (src/edge/edge_config.ts:
 * `edge.ts`, `deno task edge`), never by the service: set here, they refuse the start, so an
 * environment meant for an edge does not start a service that would ignore it.
 */
export const EDGE_ONLY: readonly string[] = [
  "EDGE_KEYS_PATH",
  "EDGE_PUBLIC",
  "EDGE_TENANT",
  "ORIGIN_DIR",
  "ORIGIN_URL",
];

type ValueOf<K extends ConfigName> = ReturnType<(typeof CONFIG_TABLE)[K]["read"]>;

function get<K extends ConfigName>(env: Env, name: K): ValueOf<K> {
  return CONFIG_TABLE[name].read(env, name) as ValueOf<K>;
}

/** The validated configuration. Units are in the names. */
export interface Config {
  bind: BindAddr;
  /** BIND_ADDR as given (validated into `bind`), handed to the listener. */
  bindAddr: string;
  listenEngine: "native" | "node";
  /** HEADER_DEADLINE_MS: request headers must arrive within this of the connection's start. */
  headerDeadlineMs: number;
  /** KEEPALIVE_IDLE_MS: an idle kept-alive connection is closed after this. */
  keepAliveIdleMs: number;
  dataDir: string;
  /** PUBLISH_DIR: the publication root (contract §13), or undefined: nothing is published. */
  publishDir: string | undefined;
  store: "file" | "memory" | "postgres";
  /** Secret: never log. Set only when store is postgres. */
  databaseUrl: string | undefined;
  capsKeysPath: string | undefined;
  capsReloadMs: number;
  signingKeysDir: string | undefined;
  govKeysPath: string | undefined;
  atRestKeyPath: string | undefined;
  /**
   * EDGE_JWT_KEYS: the gateway's public JWT keys (docs/EDGE-JWT.md). Set → this instance is
   * the edge: `Bearer <JWT>` is accepted and converted into an internal macaroon. Unset → a
   * JWT is 401 like any other non-macaroon.
   */
  edgeJwtKeysPath: string | undefined;
  /**
   * OPERATOR_TENANT (contract §9): the only tenant whose tokens may grant
   * `rewarder.quarantine` (quarantine halts emission for every tenant). Default `operator`.
   */
  operatorTenant: string;
  policyDir: string;
  inputsSource: Source;
  policySource: Source;
  /** Unset → the local settlement journal. */
  ledgerUrl: string | undefined;
  ledgerTokenPath: string | undefined;
  readOnly: boolean;
  quarantineOnly: boolean;
  requirePq: boolean;
  /** Secret-ish: a salt is never logged. */
  idempotencySalt: string;
  inflightMax: number;
  ratePerSecondMax: number;
  burstMax: number;
  tenantRatePerSecondMax: number;
  tenantBucketsMax: number;
  /** ANON_PEER_RPS_MAX and ANON_PEERS_MAX (src/shell/admission/rate_limiter.ts). */
  anonPeerRatePerSecondMax: number;
  anonPeersMax: number;
  /** PREAUTH_BUDGET_BYTES (src/shell/admission/preauth_budget.ts). */
  preAuthBudgetBytes: number;
  reqBodyBytesMax: number;
  decompRatioMax: number;
  postInflateBytesMax: number;
  requestTimeoutMs: number;
  downstreamConnectMs: number;
  downstreamAttemptMs: number;
  epochCostMsMax: number;
  costCapAction: "reject" | "dry_run";
  /** ENGINE_WORKERS; unset → the cores minus one, at least 1 (src/shell/engine/engine_runner.ts). */
  engineWorkers: number | undefined;
  /** ENGINE_EXPRESS_BYTES_MAX (src/shell/engine/engine_pool.ts, the express worker). */
  engineExpressBytesMax: number;
  /** ENGINE_NICE (src/shell/engine/thread_priority.ts). */
  engineNice: number;
  /** Always 1 (contract §7: at most one intent per run); kept so the invariant is visible and asserted. */
  ledgerEmitsPerRunMax: 1;
  ledgerRetriesMax: number;
  retentionDays: number;
  /** Unset → the governance key file's `threshold` (contract default 1). */
  govThreshold: number | undefined;
  tls: { certPath: string; keyPath: string } | undefined;
  /** Contract §12: `off` (default), `required` (https only), `mtls` (https + client cert). */
  downstreamTls: "off" | "required" | "mtls";
  downstreamCaPath: string | undefined;
  downstreamCertPath: string | undefined;
  downstreamKeyPath: string | undefined;
  clientCaPath: string | undefined;
  amnesia: boolean;
  production: boolean;
  logLevel: "trace" | "debug" | "info" | "warning" | "error" | "fatal";
  errorJitterMsMax: number;
  configReloadPath: string | undefined;
  /** REWARDER_TEST_CRASH_AT, validated by the wiring; always undefined with PRODUCTION=on. */
  testCrashAt: string | undefined;
}

function source(env: Env, name: "INPUTS_SOURCE" | "POLICY_SOURCE"): Source {
  const url = get(env, name);
  return url === undefined ? { kind: "local" } : { kind: "http", baseUrl: url };
}

function store(env: Env, amnesia: boolean): Config["store"] {
  const chosen = raw(env, "STORE") === undefined && amnesia ? "memory" : get(env, "STORE");
  // Amnesia means RAM only (contract §12): a disk or database store contradicts it.
  if (amnesia && chosen !== "memory") fail("STORE", "memory (or unset) when AMNESIA=on", chosen);
  return chosen;
}

function operatorTenant(env: Env): string {
  const v = get(env, "OPERATOR_TENANT") ?? "operator";
  if (!TENANT_PATTERN.test(v)) fail("OPERATOR_TENANT", "a tenant (1..64 of [a-z0-9_-])", v);
  return v;
}

function tls(env: Env): Config["tls"] {
  const certPath = get(env, "TLS_CERT_PATH");
  const keyPath = get(env, "TLS_KEY_PATH");
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    const missing = certPath === undefined ? "TLS_CERT_PATH" : "TLS_KEY_PATH";
    throw new ConfigError(
      missing,
      `Cannot start as TLS_CERT_PATH and TLS_KEY_PATH must be set together: ${missing} is unset`,
    );
  }
  return { certPath, keyPath };
}

/** The runtime this process runs on. */
export function currentRuntime(): Runtime {
  if ("Bun" in globalThis) return "bun";
  if ("Deno" in globalThis) return "deno";
  return "node";
}

/**
 * Loads and validates the configuration from an environment record.
 *
 * @param options.runtime the runtime the listener runs on (default: this process's), for the
 *   checks that depend on it (CLIENT_CA_PATH).
 * @throws {ConfigError} naming the first bad variable or violated relation.
 * @example
 * ```ts
 * const config = loadConfig({ MAX_RPS: "250" });
 * ```
 */
export function loadConfig(env: Env, options: { runtime?: Runtime } = {}): Config {
  for (const name of NOT_IMPLEMENTED) {
    if (raw(env, name) !== undefined) {
      throw new ConfigError(
        name,
        `Cannot start as ${name} is not implemented by this version: unset it`,
      );
    }
  }
  for (const name of EDGE_ONLY) {
    if (raw(env, name) !== undefined) {
      throw new ConfigError(
        name,
        `Cannot start as ${name} configures the edge (deno task edge, docs/EDGE.md), not the service: unset it`,
      );
    }
  }
  const amnesia = get(env, "AMNESIA");
  const production = get(env, "PRODUCTION");
  const dataDir = get(env, "DATA_DIR") ?? "./.rewarder-data";
  const bindAddr = get(env, "BIND_ADDR") ?? "127.0.0.1:8090";
  const config: Config = {
    bind: parseBindAddrVariable(bindAddr),
    bindAddr,
    // Deno's engine cannot close a connection stalled in its TLS handshake (docs/RUNTIMES.md
    // "Slow clients and timeouts"), node:https can: with TLS the default engine is node.
    listenEngine: raw(env, "LISTEN_ENGINE") === undefined && raw(env, "TLS_CERT_PATH") !== undefined
      ? "node"
      : get(env, "LISTEN_ENGINE"),
    headerDeadlineMs: get(env, "HEADER_DEADLINE_MS"),
    keepAliveIdleMs: get(env, "KEEPALIVE_IDLE_MS"),
    dataDir,
    publishDir: get(env, "PUBLISH_DIR"),
    store: store(env, amnesia),
    databaseUrl: get(env, "DATABASE_URL"),
    capsKeysPath: get(env, "CAPS_KEYS_PATH"),
    capsReloadMs: get(env, "CAPS_RELOAD_MS"),
    signingKeysDir: get(env, "SIGNING_KEYS_DIR"),
    govKeysPath: get(env, "GOV_KEYS_PATH"),
    atRestKeyPath: get(env, "AT_REST_KEY_PATH"),
    edgeJwtKeysPath: get(env, "EDGE_JWT_KEYS"),
    operatorTenant: operatorTenant(env),
    policyDir: get(env, "POLICY_DIR") ?? `${dataDir.replace(/\/+$/, "")}/policies`,
    inputsSource: source(env, "INPUTS_SOURCE"),
    policySource: source(env, "POLICY_SOURCE"),
    ledgerUrl: get(env, "LEDGER_URL"),
    ledgerTokenPath: get(env, "LEDGER_TOKEN_PATH"),
    readOnly: get(env, "READ_ONLY"),
    quarantineOnly: get(env, "QUARANTINE_ONLY"),
    requirePq: get(env, "REQUIRE_PQ_ON"),
    idempotencySalt: get(env, "IDEMPOTENCY_SALT") ?? DEFAULT_IDEMPOTENCY_SALT,
    inflightMax: get(env, "MAX_INFLIGHT"),
    ratePerSecondMax: get(env, "MAX_RPS"),
    burstMax: get(env, "RATE_BURST"),
    tenantRatePerSecondMax: get(env, "TENANT_RPS_MAX"),
    tenantBucketsMax: get(env, "TENANT_BUCKETS_MAX"),
    anonPeerRatePerSecondMax: get(env, "ANON_PEER_RPS_MAX"),
    anonPeersMax: get(env, "ANON_PEERS_MAX"),
    preAuthBudgetBytes: get(env, "PREAUTH_BUDGET_BYTES"),
    reqBodyBytesMax: get(env, "REQ_BODY_MAX"),
    decompRatioMax: get(env, "DECOMP_RATIO_MAX"),
    postInflateBytesMax: get(env, "POST_INFLATE_MAX"),
    requestTimeoutMs: get(env, "REQUEST_TIMEOUT_MS"),
    downstreamConnectMs: get(env, "DOWNSTREAM_CONNECT_MS"),
    downstreamAttemptMs: get(env, "DOWNSTREAM_ATTEMPT_MS"),
    epochCostMsMax: get(env, "MAX_EPOCH_COST_MS"),
    costCapAction: get(env, "COST_CAP_ACTION"),
    engineWorkers: get(env, "ENGINE_WORKERS"),
    engineExpressBytesMax: get(env, "ENGINE_EXPRESS_BYTES_MAX"),
    engineNice: get(env, "ENGINE_NICE"),
    ledgerEmitsPerRunMax: get(env, "MAX_LEDGER_EMITS_PER_RUN") as 1,
    ledgerRetriesMax: get(env, "MAX_RETRIES_LEDGER"),
    retentionDays: get(env, "RETENTION_DAYS"),
    govThreshold: get(env, "GOV_THRESHOLD"),
    tls: tls(env),
    downstreamTls: get(env, "DOWNSTREAM_TLS"),
    downstreamCaPath: get(env, "DOWNSTREAM_CA_PATH"),
    downstreamCertPath: get(env, "DOWNSTREAM_CERT_PATH"),
    downstreamKeyPath: get(env, "DOWNSTREAM_KEY_PATH"),
    clientCaPath: get(env, "CLIENT_CA_PATH"),
    amnesia,
    production,
    logLevel: get(env, "LOG_LEVEL"),
    errorJitterMsMax: get(env, "ERROR_JITTER_MS"),
    configReloadPath: get(env, "CONFIG_RELOAD_PATH"),
    testCrashAt: production ? undefined : get(env, "REWARDER_TEST_CRASH_AT"),
  };
  assertRelations(config, options.runtime ?? currentRuntime());
  return config;
}

function relation(ok: boolean, variable: string, message: string): void {
  if (!ok) throw new ConfigError(variable, `Cannot start as ${message}`);
}

/** The key material a start needs, by variable, with what is missing. */
export function missingKeyPaths(c: Config): ConfigName[] {
  const missing: ConfigName[] = [];
  if (c.capsKeysPath === undefined) missing.push("CAPS_KEYS_PATH");
  if (c.signingKeysDir === undefined) missing.push("SIGNING_KEYS_DIR");
  if (c.govKeysPath === undefined) missing.push("GOV_KEYS_PATH");
  if (c.store !== "memory" && c.atRestKeyPath === undefined) missing.push("AT_REST_KEY_PATH");
  return missing;
}

/** The cross-variable rules (STYLE §5); every message names both sides, never a secret. */
export function assertRelations(c: Config, runtime: Runtime = currentRuntime()): void {
  relation(
    c.requestTimeoutMs > c.downstreamConnectMs,
    "REQUEST_TIMEOUT_MS",
    `REQUEST_TIMEOUT_MS (${c.requestTimeoutMs}) must exceed DOWNSTREAM_CONNECT_MS (${c.downstreamConnectMs})`,
  );
  relation(
    c.downstreamAttemptMs >= c.downstreamConnectMs,
    "DOWNSTREAM_ATTEMPT_MS",
    `DOWNSTREAM_ATTEMPT_MS (${c.downstreamAttemptMs}) must be at least DOWNSTREAM_CONNECT_MS (${c.downstreamConnectMs})`,
  );
  relation(
    c.reqBodyBytesMax >= COMPUTE_BODY_BYTES_MAX,
    "REQ_BODY_MAX",
    `REQ_BODY_MAX (${c.reqBodyBytesMax}) must hold the largest valid compute body (${COMPUTE_BODY_BYTES_MAX} bytes)`,
  );
  relation(
    c.postInflateBytesMax >= c.reqBodyBytesMax,
    "POST_INFLATE_MAX",
    `POST_INFLATE_MAX (${c.postInflateBytesMax}) must be at least REQ_BODY_MAX (${c.reqBodyBytesMax})`,
  );
  relation(
    c.tenantRatePerSecondMax <= c.ratePerSecondMax,
    "TENANT_RPS_MAX",
    `TENANT_RPS_MAX (${c.tenantRatePerSecondMax}) must not exceed MAX_RPS (${c.ratePerSecondMax})`,
  );
  relation(
    c.epochCostMsMax <= c.requestTimeoutMs,
    "MAX_EPOCH_COST_MS",
    `MAX_EPOCH_COST_MS (${c.epochCostMsMax}) must not exceed REQUEST_TIMEOUT_MS (${c.requestTimeoutMs})`,
  );
  relation(
    (c.store === "postgres") === (c.databaseUrl !== undefined),
    "DATABASE_URL",
    "DATABASE_URL must be set exactly when STORE=postgres",
  );
  if (c.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(c.databaseUrl)) {
    fail("DATABASE_URL", "a postgres:// or postgresql:// URL", c.databaseUrl);
  }
  relation(
    c.idempotencySalt.length <= 256,
    "IDEMPOTENCY_SALT",
    "IDEMPOTENCY_SALT must be at most 256 chars",
  );
  relation(
    !(c.amnesia && c.publishDir !== undefined),
    "PUBLISH_DIR",
    "PUBLISH_DIR must be unset when AMNESIA=on (amnesia writes nothing)",
  );
  assertDownstreamTls(c);
  assertClientCa(c, runtime);
  const missing = missingKeyPaths(c);
  if (c.production && missing.length > 0) {
    // Production refuses development keys: every key source is explicit (contract §12).
    throw new ConfigError(
      missing[0]!,
      `Cannot start as ${
        missing.join(", ")
      } must be set when PRODUCTION=on (development keys are refused)`,
    );
  }
  if (c.amnesia && missing.length > 0) {
    throw new ConfigError(
      missing[0]!,
      `Cannot start as ${
        missing.join(", ")
      } must be set when AMNESIA=on (amnesia writes nothing, so development keys cannot be made)`,
    );
  }
}

/** DOWNSTREAM_TLS and its files (contract §12). */
function assertDownstreamTls(c: Config): void {
  if (c.downstreamTls !== "off") {
    const urls: Array<[string, string | undefined]> = [
      ["LEDGER_URL", c.ledgerUrl],
      ["INPUTS_SOURCE", c.inputsSource.kind === "http" ? c.inputsSource.baseUrl : undefined],
      ["POLICY_SOURCE", c.policySource.kind === "http" ? c.policySource.baseUrl : undefined],
    ];
    for (const [name, url] of urls) {
      relation(
        url === undefined || url.startsWith("https://"),
        name,
        `${name} must be an https:// URL when DOWNSTREAM_TLS=${c.downstreamTls}`,
      );
    }
  }
  if (c.downstreamTls === "mtls") {
    for (
      const [name, value] of [
        ["DOWNSTREAM_CERT_PATH", c.downstreamCertPath],
        ["DOWNSTREAM_KEY_PATH", c.downstreamKeyPath],
      ] as const
    ) {
      relation(value !== undefined, name, `${name} must be set when DOWNSTREAM_TLS=mtls`);
    }
  } else {
    // A client certificate that would never be presented is a mistake, not a default.
    for (const name of ["DOWNSTREAM_CERT_PATH", "DOWNSTREAM_KEY_PATH"] as const) {
      const value = name === "DOWNSTREAM_CERT_PATH" ? c.downstreamCertPath : c.downstreamKeyPath;
      relation(
        value === undefined,
        name,
        `${name} is only used with DOWNSTREAM_TLS=mtls (current DOWNSTREAM_TLS=${c.downstreamTls})`,
      );
    }
  }
}

/** CLIENT_CA_PATH needs a TLS listener that can ask for client certificates (contract §12). */
function assertClientCa(c: Config, runtime: Runtime): void {
  if (c.clientCaPath === undefined) return;
  relation(
    c.tls !== undefined,
    "CLIENT_CA_PATH",
    "CLIENT_CA_PATH needs TLS_CERT_PATH and TLS_KEY_PATH (client certificates come with TLS)",
  );
  relation(
    !(runtime === "deno" && c.listenEngine === "native"),
    "CLIENT_CA_PATH",
    "CLIENT_CA_PATH cannot be checked by Deno.serve: set LISTEN_ENGINE=node, or terminate mTLS in a proxy in front of a Unix socket (docs/DEPLOY.md)",
  );
}

/**
 * Start-time check of the files the configuration names (from the table's `exists` and
 * `secretPath`): each must exist with the right kind, and a secret file must grant nothing to
 * group or others. One line naming the variable, so a missing file never surfaces later as a
 * bare `ENOENT`. Development material (unset key paths) is made afterwards and not checked here.
 *
 * @throws {ConfigError} naming the first variable whose file is missing, of the wrong kind or
 *   too open.
 */
export async function checkConfigFiles(env: Env): Promise<void> {
  for (const name of CONFIG_NAMES) {
    const v = CONFIG_TABLE[name] as ConfigVariable<unknown>;
    if (v.exists === undefined) continue;
    const path = raw(env, name);
    if (path === undefined) continue;
    let info;
    try {
      info = await stat(path);
    } catch {
      throw new ConfigError(
        name,
        `Cannot start as ${name} names ${path}, which does not exist or is unreadable`,
      );
    }
    if (v.exists === "dir" ? !info.isDirectory() : !info.isFile()) {
      throw new ConfigError(
        name,
        `Cannot start as ${name} names ${path}, which is not a ${
          v.exists === "dir" ? "directory" : "file"
        }`,
      );
    }
    if (v.secretPath && v.exists === "file" && (info.mode & 0o077) !== 0) {
      throw new ConfigError(
        name,
        `Cannot start as ${name} names ${path} with mode ${
          (info.mode & 0o777).toString(8)
        }, looser than 0600 (a secret file)`,
      );
    }
  }
}

/**
 * The `--help` list of variables, generated from {@link CONFIG_TABLE}: every variable with
 * its default, accepted values and meaning.
 */
export function configHelp(): string {
  const lines: string[] = [];
  for (const name of CONFIG_NAMES) {
    const v = CONFIG_TABLE[name] as ConfigVariable<unknown>;
    const flags = [v.secret ? "secret" : "", v.secretPath ? "secret file" : ""].filter(Boolean);
    lines.push(
      `  ${name}  [${v.dflt}]  ${v.rule}${flags.length > 0 ? ` (${flags.join(", ")})` : ""}`,
    );
    lines.push(`      ${v.meaning}`);
  }
  return lines.join("\n") + "\n";
}

/**
 * {@link loadConfig} over the process environment (`node:process`, which Deno, Bun and
 * Node all provide; Deno needs `--allow-env`). `overrides` win (e.g. `--production`).
 */
export function configFromProcessEnv(overrides: Env = {}): Config {
  return loadConfig({ ...processEnv(), ...overrides });
}

/**
 * A copy of the process environment: the only place the service reads it (the CLI reads
 * its own documented variables).
 */
export function processEnv(): Record<string, string | undefined> {
  return { ...process.env };
}
