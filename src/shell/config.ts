/**
 * Service configuration from the environment (contract §12, seed §15): every name with its
 * default, strictly parsed, relations asserted. {@link loadConfig} is a pure function of the
 * env record, so it runs unchanged on Deno, Bun and Node and in tests; on error it throws a
 * {@link ConfigError} naming the variable (exit with `err.exitCode`, 78).
 *
 * Empty values count as unset (container runtimes often pass `NAME=`).
 *
 * @module
 */
import process from "node:process";
import { NOTES_CHARS_MAX } from "../core/limits.ts";
import { TENANT_PATTERN } from "../core/ids.ts";
import {
  bool,
  ConfigError,
  type Env,
  fail,
  httpUrl,
  int,
  oneOf,
  path,
  raw,
} from "./config_parse.ts";
import { type BindAddr, parseBindAddr } from "./bind_addr.ts";

export { ConfigError } from "./config_parse.ts";
export type { Env } from "./config_parse.ts";
export type { BindAddr } from "./bind_addr.ts";

/**
 * Largest valid compute body, bytes: `notes` of 1024 UTF-16 units each escaped as `\uXXXX`
 * (6 bytes) is 6144, plus ids and CIDs (< 400) and punctuation; REQ_BODY_MAX must hold it.
 */
export const COMPUTE_BODY_BYTES_MAX = NOTES_CHARS_MAX * 6 + 2048;

/** Largest body cap accepted, bytes: 64 MiB (memory per in-flight request). */
const BODY_BYTES_LIMIT = 64 * 1024 * 1024;
/** Largest time budget accepted, ms: 10 minutes. */
const MS_LIMIT = 600_000;
/** Largest rate, inflight or bucket count accepted. */
const COUNT_LIMIT = 1_000_000;

/** Where inputs (or policies) come from. */
export type Source = { kind: "local" } | { kind: "http"; baseUrl: string };

/** The validated configuration. Units are in the names. */
export interface Config {
  bind: BindAddr;
  /** BIND_ADDR as given (validated into `bind`), handed to the listener. */
  bindAddr: string;
  dataDir: string;
  store: "file" | "memory" | "postgres";
  /** Secret: never log. Set only when store is postgres. */
  databaseUrl: string | undefined;
  capsKeysPath: string | undefined;
  signingKeysDir: string | undefined;
  govKeysPath: string | undefined;
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
  /** Secret-ish (seed §4 "never log salts"). */
  idempotencySalt: string;
  inflightMax: number;
  ratePerSecondMax: number;
  burstMax: number;
  tenantRatePerSecondMax: number;
  tenantBucketsMax: number;
  reqBodyBytesMax: number;
  decompRatioMax: number;
  postInflateBytesMax: number;
  requestTimeoutMs: number;
  downstreamConnectMs: number;
  downstreamAttemptMs: number;
  epochCostMsMax: number;
  costCapAction: "reject" | "dry_run";
  /** Always 1 (seed §15); kept so the invariant is visible and asserted. */
  ledgerEmitsPerRunMax: 1;
  ledgerRetriesMax: number;
  retentionDays: number;
  /** Unset → the governance key file's `threshold` (contract default 1). */
  govThreshold: number | undefined;
  tls: { certPath: string; keyPath: string } | undefined;
  downstreamTls: "required" | "mtls" | undefined;
  clientCaPath: string | undefined;
  amnesia: boolean;
  production: boolean;
  logLevel: "trace" | "debug" | "info" | "warning" | "error" | "fatal";
  errorJitterMsMax: number;
}

function source(env: Env, name: string): Source {
  const url = httpUrl(env, name);
  return url === undefined ? { kind: "local" } : { kind: "http", baseUrl: url };
}

function store(env: Env, amnesia: boolean): Config["store"] {
  const chosen = oneOf(
    env,
    "STORE",
    ["file", "memory", "postgres"] as const,
    amnesia ? "memory" : "file",
  );
  // Amnesia means RAM only (seed §3): a disk or database store contradicts it.
  if (amnesia && chosen !== "memory") fail("STORE", "memory (or unset) when AMNESIA=on", chosen);
  return chosen;
}

function operatorTenant(env: Env): string {
  const v = raw(env, "OPERATOR_TENANT") ?? "operator";
  if (!TENANT_PATTERN.test(v)) fail("OPERATOR_TENANT", "a tenant (1..64 of [a-z0-9_-])", v);
  return v;
}

function tls(env: Env): Config["tls"] {
  const certPath = path(env, "TLS_CERT_PATH");
  const keyPath = path(env, "TLS_KEY_PATH");
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

function limits(env: Env) {
  return {
    inflightMax: int(env, "MAX_INFLIGHT", 512, 1, COUNT_LIMIT),
    ratePerSecondMax: int(env, "MAX_RPS", 500, 1, COUNT_LIMIT),
    burstMax: int(env, "RATE_BURST", 200, 1, COUNT_LIMIT),
    tenantRatePerSecondMax: int(env, "TENANT_RPS_MAX", 100, 1, COUNT_LIMIT),
    tenantBucketsMax: int(env, "TENANT_BUCKETS_MAX", 10_000, 1, COUNT_LIMIT),
    reqBodyBytesMax: int(env, "REQ_BODY_MAX", 1_048_576, 1, BODY_BYTES_LIMIT),
    decompRatioMax: int(env, "DECOMP_RATIO_MAX", 10, 1, 1_000),
    postInflateBytesMax: int(env, "POST_INFLATE_MAX", 8_388_608, 1, BODY_BYTES_LIMIT),
    requestTimeoutMs: int(env, "REQUEST_TIMEOUT_MS", 5_000, 1, MS_LIMIT),
    downstreamConnectMs: int(env, "DOWNSTREAM_CONNECT_MS", 2_000, 1, MS_LIMIT),
    downstreamAttemptMs: int(env, "DOWNSTREAM_ATTEMPT_MS", 10_000, 1, MS_LIMIT),
    epochCostMsMax: int(env, "MAX_EPOCH_COST_MS", 5_000, 1, MS_LIMIT),
    ledgerRetriesMax: int(env, "MAX_RETRIES_LEDGER", 2, 0, 10),
    retentionDays: int(env, "RETENTION_DAYS", 90, 1, 36_500),
    errorJitterMsMax: int(env, "ERROR_JITTER_MS", 25, 0, 1_000),
  };
}

/**
 * Loads and validates the configuration from an environment record.
 *
 * @throws {ConfigError} naming the first bad variable or violated relation.
 * @example
 * ```ts
 * const config = loadConfig({ MAX_RPS: "250" });
 * ```
 */
export function loadConfig(env: Env): Config {
  const amnesia = bool(env, "AMNESIA", false);
  const dataDir = path(env, "DATA_DIR") ?? "./.rewarder-data";
  const chosenStore = store(env, amnesia);
  const databaseUrl = raw(env, "DATABASE_URL");
  const emits = int(env, "MAX_LEDGER_EMITS_PER_RUN", 1, 1, 1);
  const bindAddr = raw(env, "BIND_ADDR") ?? "127.0.0.1:8090";
  const config: Config = {
    bind: parseBindAddr(bindAddr),
    bindAddr,
    dataDir,
    store: chosenStore,
    databaseUrl,
    capsKeysPath: path(env, "CAPS_KEYS_PATH"),
    signingKeysDir: path(env, "SIGNING_KEYS_DIR"),
    govKeysPath: path(env, "GOV_KEYS_PATH"),
    edgeJwtKeysPath: path(env, "EDGE_JWT_KEYS"),
    operatorTenant: operatorTenant(env),
    policyDir: path(env, "POLICY_DIR") ?? `${dataDir.replace(/\/+$/, "")}/policies`,
    inputsSource: source(env, "INPUTS_SOURCE"),
    policySource: source(env, "POLICY_SOURCE"),
    ledgerUrl: httpUrl(env, "LEDGER_URL"),
    ledgerTokenPath: path(env, "LEDGER_TOKEN_PATH"),
    readOnly: bool(env, "READ_ONLY", false),
    quarantineOnly: bool(env, "QUARANTINE_ONLY", false),
    requirePq: bool(env, "REQUIRE_PQ_ON", false),
    idempotencySalt: raw(env, "IDEMPOTENCY_SALT") ?? "svc-rewarder|v1",
    ...limits(env),
    costCapAction: oneOf(env, "COST_CAP_ACTION", ["reject", "dry_run"] as const, "reject"),
    ledgerEmitsPerRunMax: emits as 1,
    govThreshold: raw(env, "GOV_THRESHOLD") === undefined
      ? undefined
      : int(env, "GOV_THRESHOLD", 1, 1, 64),
    tls: tls(env),
    downstreamTls: raw(env, "DOWNSTREAM_TLS") === undefined
      ? undefined
      : oneOf(env, "DOWNSTREAM_TLS", ["required", "mtls"] as const, "required"),
    clientCaPath: path(env, "CLIENT_CA_PATH"),
    amnesia,
    production: bool(env, "PRODUCTION", false),
    logLevel: oneOf(
      env,
      "LOG_LEVEL",
      ["trace", "debug", "info", "warning", "error", "fatal"] as const,
      "info",
    ),
  };
  assertRelations(config);
  return config;
}

function relation(ok: boolean, variable: string, message: string): void {
  if (!ok) throw new ConfigError(variable, `Cannot start as ${message}`);
}

/** The cross-variable rules (STYLE §5); every message names both sides, never a secret. */
export function assertRelations(c: Config): void {
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
  if (c.production) {
    // Production refuses generated dev keys (issue 3 item 6): every key source is explicit.
    for (
      const [name, value] of [
        ["CAPS_KEYS_PATH", c.capsKeysPath],
        ["SIGNING_KEYS_DIR", c.signingKeysDir],
        ["GOV_KEYS_PATH", c.govKeysPath],
      ] as const
    ) {
      relation(value !== undefined, name, `${name} must be set when PRODUCTION=on (no dev keys)`);
    }
  }
}

/**
 * {@link loadConfig} over the process environment (`node:process`, which Deno, Bun and
 * Node all provide; Deno needs `--allow-env`).
 */
export function configFromProcessEnv(): Config {
  return loadConfig(process.env);
}
