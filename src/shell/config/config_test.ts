import assert from "node:assert/strict";
import { parseBindAddrVariable } from "./bind_addr_variable.ts";
import {
  COMPUTE_BODY_BYTES_MAX,
  CONFIG_NAMES,
  CONFIG_TABLE,
  ConfigError,
  configHelp,
  EDGE_ONLY,
  loadConfig,
  NOT_IMPLEMENTED,
} from "./config.ts";
import { SECRET_VARIABLES } from "./config_parse.ts";
import { BODY_BYTES_MAX_LIMIT } from "../admission/limits.ts";

/** Every key path, as an operator sets them. */
const KEYS = {
  CAPS_KEYS_PATH: "/k/caps.json",
  SIGNING_KEYS_DIR: "/k/sign",
  GOV_KEYS_PATH: "/k/gov.json",
  AT_REST_KEY_PATH: "/k/at-rest.key",
};

function rejects(env: Record<string, string>, variable: string, hidden?: string): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `${JSON.stringify(env)} should be refused`);
  assert.equal(caught.variable, variable, caught.message);
  assert.match(caught.message, new RegExp(variable));
  assert.equal(caught.exitCode, 78);
  if (hidden !== undefined) assert.ok(!caught.message.includes(hidden), "secret printed");
  return caught;
}

Deno.test("defaults match contract §12 (the caps keep their names and defaults)", () => {
  const c = loadConfig({});
  assert.deepEqual(c.bind, { transport: "tcp", hostname: "127.0.0.1", port: 8090 });
  assert.equal(c.dataDir, "./.rewarder-data");
  assert.equal(c.policyDir, "./.rewarder-data/policies");
  assert.equal(c.store, "file");
  assert.deepEqual(c.inputsSource, { kind: "local" });
  assert.deepEqual(c.policySource, { kind: "local" });
  assert.equal(c.ledgerUrl, undefined);
  assert.equal(c.idempotencySalt, "svc-rewarder|v1");
  assert.equal(c.inflightMax, 512);
  assert.equal(c.ratePerSecondMax, 500);
  assert.equal(c.burstMax, 200);
  assert.equal(c.tenantRatePerSecondMax, 100);
  assert.equal(c.tenantBucketsMax, 10_000);
  assert.equal(c.reqBodyBytesMax, 1_048_576);
  assert.equal(c.decompRatioMax, 10);
  assert.equal(c.postInflateBytesMax, 8_388_608);
  assert.equal(c.requestTimeoutMs, 5_000);
  assert.equal(c.downstreamConnectMs, 2_000);
  assert.equal(c.downstreamAttemptMs, 10_000);
  assert.equal(c.epochCostMsMax, 5_000);
  assert.equal(c.costCapAction, "reject");
  assert.equal(c.ledgerEmitsPerRunMax, 1);
  assert.equal(c.ledgerRetriesMax, 2);
  assert.equal(c.retentionDays, 90);
  assert.equal(c.govThreshold, undefined);
  assert.equal(c.tls, undefined);
  assert.equal(c.amnesia, false);
  assert.equal(c.production, false);
  assert.equal(c.readOnly, false);
  assert.equal(c.quarantineOnly, false);
  assert.equal(c.requirePq, false);
  assert.equal(c.logLevel, "info");
  assert.equal(c.errorJitterMsMax, 25);
});

Deno.test("values are parsed: booleans, URLs, sockets, stores", () => {
  const c = loadConfig({
    BIND_ADDR: "unix:///run/rewarder/api.sock",
    DATA_DIR: "/var/lib/rewarder/",
    READ_ONLY: "on",
    QUARANTINE_ONLY: "TRUE",
    REQUIRE_PQ_ON: "1",
    AMNESIA: "off",
    INPUTS_SOURCE: "https://accounting.internal/cas/",
    POLICY_SOURCE: "http://127.0.0.1:9000",
    LEDGER_URL: "https://ledger.internal",
    STORE: "postgres",
    DATABASE_URL: "postgres://u:pw@db/rewarder",
    TLS_CERT_PATH: "/etc/tls/cert.pem",
    TLS_KEY_PATH: "/etc/tls/key.pem",
    GOV_THRESHOLD: "2",
    COST_CAP_ACTION: "dry_run",
    LOG_LEVEL: "debug",
    ERROR_JITTER_MS: "0",
    MAX_RPS: "",
  });
  assert.deepEqual(c.bind, { transport: "unix", path: "/run/rewarder/api.sock" });
  assert.equal(c.policyDir, "/var/lib/rewarder/policies");
  assert.equal(c.readOnly && c.quarantineOnly && c.requirePq, true);
  assert.deepEqual(c.inputsSource, { kind: "http", baseUrl: "https://accounting.internal/cas" });
  assert.deepEqual(c.policySource, { kind: "http", baseUrl: "http://127.0.0.1:9000" });
  assert.equal(c.store, "postgres");
  assert.deepEqual(c.tls, { certPath: "/etc/tls/cert.pem", keyPath: "/etc/tls/key.pem" });
  assert.equal(c.govThreshold, 2);
  assert.equal(c.costCapAction, "dry_run");
  assert.equal(c.ratePerSecondMax, 500, "empty value counts as unset");
  assert.equal(loadConfig({ AMNESIA: "on", ...KEYS }).store, "memory");
});

Deno.test("every bad value is refused with a message naming the variable", () => {
  const table: Array<[string, string]> = [
    ["BIND_ADDR", "localhost"],
    ["BIND_ADDR", "127.0.0.1:70000"],
    ["BIND_ADDR", "unix://relative.sock"],
    ["BIND_ADDR", "unix:///tmp/../etc/x.sock"],
    ["BIND_ADDR", `unix:///${"a".repeat(120)}.sock`],
    ["BIND_ADDR", "[zz]:80"],
    ["BIND_ADDR", "bad host:80"],
    ["STORE", "disk"],
    ["AMNESIA", "yes"],
    ["READ_ONLY", "enabled"],
    ["QUARANTINE_ONLY", "2"],
    ["REQUIRE_PQ_ON", "ON!"],
    ["PRODUCTION", "maybe"],
    ["MAX_INFLIGHT", "0"],
    ["MAX_INFLIGHT", "-1"],
    ["MAX_INFLIGHT", "1e3"],
    ["MAX_INFLIGHT", "12.5"],
    ["MAX_INFLIGHT", "0x10"],
    ["MAX_INFLIGHT", " 512"],
    ["MAX_RPS", "abc"],
    ["MAX_RPS", "99999999999999999"],
    ["RATE_BURST", "0"],
    ["TENANT_RPS_MAX", "0"],
    ["TENANT_BUCKETS_MAX", "0"],
    ["REQ_BODY_MAX", "1 MiB"],
    ["REQ_BODY_MAX", "999999999999"],
    ["DECOMP_RATIO_MAX", "0"],
    ["DECOMP_RATIO_MAX", "1001"],
    ["POST_INFLATE_MAX", "8M"],
    ["REQUEST_TIMEOUT_MS", "0"],
    ["DOWNSTREAM_CONNECT_MS", "-5"],
    ["DOWNSTREAM_ATTEMPT_MS", "10s"],
    ["MAX_EPOCH_COST_MS", "0"],
    ["COST_CAP_ACTION", "ignore"],
    ["MAX_LEDGER_EMITS_PER_RUN", "2"],
    ["MAX_LEDGER_EMITS_PER_RUN", "0"],
    ["MAX_RETRIES_LEDGER", "11"],
    ["RETENTION_DAYS", "0"],
    ["GOV_THRESHOLD", "0"],
    ["GOV_THRESHOLD", "65"],
    ["LOG_LEVEL", "verbose"],
    ["ERROR_JITTER_MS", "1001"],
    ["DOWNSTREAM_TLS", "optional"],
    ["INPUTS_SOURCE", "ftp://x/"],
    ["INPUTS_SOURCE", "not a url"],
    ["POLICY_SOURCE", "https://reg/?token=1"],
    ["DATA_DIR", " /padded "],
    ["CAPS_KEYS_PATH", "a\0b"],
  ];
  for (const [name, value] of table) {
    const err = rejects({ [name]: value }, name);
    assert.match(err.message, /^Cannot start as /, `${name}=${value}`);
  }
  assert.ok(
    rejects({ SIGNING_KEYS_DIR: "x".repeat(5000) }, "SIGNING_KEYS_DIR").message.length < 400,
  );
});

Deno.test("secret values are never printed", () => {
  rejects({ LEDGER_URL: "https://user:s3cretpw@ledger/" }, "LEDGER_URL", "s3cretpw");
  rejects({ LEDGER_URL: "s3cretpw-not-a-url" }, "LEDGER_URL", "s3cretpw");
  rejects({ INPUTS_SOURCE: "https://u:s3cretpw@x/" }, "INPUTS_SOURCE", "s3cretpw");
  rejects({ STORE: "postgres", DATABASE_URL: "mysql://u:s3cretpw@db" }, "DATABASE_URL", "s3cretpw");
  rejects({ DATABASE_URL: "postgres://u:s3cretpw@db" }, "DATABASE_URL", "s3cretpw");
  rejects({ IDEMPOTENCY_SALT: "s3cretpw".repeat(40) }, "IDEMPOTENCY_SALT", "s3cretpw");
});

Deno.test("relations between variables are asserted", () => {
  rejects({ REQUEST_TIMEOUT_MS: "2000" }, "REQUEST_TIMEOUT_MS");
  rejects({ REQUEST_TIMEOUT_MS: "1500", MAX_EPOCH_COST_MS: "1000" }, "REQUEST_TIMEOUT_MS");
  rejects({ DOWNSTREAM_ATTEMPT_MS: "1000" }, "DOWNSTREAM_ATTEMPT_MS");
  rejects({ REQ_BODY_MAX: String(COMPUTE_BODY_BYTES_MAX - 1) }, "REQ_BODY_MAX");
  assert.equal(
    loadConfig({ REQ_BODY_MAX: String(COMPUTE_BODY_BYTES_MAX) }).reqBodyBytesMax,
    COMPUTE_BODY_BYTES_MAX,
  );
  rejects({ POST_INFLATE_MAX: "1048575" }, "POST_INFLATE_MAX");
  rejects({ TENANT_RPS_MAX: "501" }, "TENANT_RPS_MAX");
  rejects({ MAX_EPOCH_COST_MS: "5001" }, "MAX_EPOCH_COST_MS");
  rejects({ STORE: "postgres" }, "DATABASE_URL");
  rejects({ DATABASE_URL: "postgres://db/x" }, "DATABASE_URL");
  rejects({ AMNESIA: "on", STORE: "file" }, "STORE");
  rejects({ AMNESIA: "on", STORE: "postgres", DATABASE_URL: "postgres://db/x" }, "STORE");
  rejects({ TLS_CERT_PATH: "/c.pem" }, "TLS_KEY_PATH");
  rejects({ TLS_KEY_PATH: "/k.pem" }, "TLS_CERT_PATH");
  rejects({ PRODUCTION: "on" }, "CAPS_KEYS_PATH");
  const partial = rejects({ PRODUCTION: "on", CAPS_KEYS_PATH: "/k/caps.json" }, "SIGNING_KEYS_DIR");
  // One line naming everything missing, not just the first.
  assert.match(partial.message, /SIGNING_KEYS_DIR, GOV_KEYS_PATH, AT_REST_KEY_PATH must be set/);
  rejects({ ...KEYS, PRODUCTION: "on", AT_REST_KEY_PATH: "" }, "AT_REST_KEY_PATH");
  const prod = loadConfig({ PRODUCTION: "on", ...KEYS });
  assert.equal(prod.production, true);
  // A memory store needs no at-rest key.
  assert.equal(
    loadConfig({ ...KEYS, PRODUCTION: "on", STORE: "memory", AT_REST_KEY_PATH: "" }).store,
    "memory",
  );
  rejects({ AMNESIA: "on", CAPS_KEYS_PATH: "/k/caps.json" }, "SIGNING_KEYS_DIR");
});

Deno.test("parseBindAddrVariable forms", () => {
  assert.deepEqual(parseBindAddrVariable("0.0.0.0:0"), {
    transport: "tcp",
    hostname: "0.0.0.0",
    port: 0,
  });
  assert.deepEqual(parseBindAddrVariable("[::1]:8090"), {
    transport: "tcp",
    hostname: "::1",
    port: 8090,
  });
  assert.deepEqual(parseBindAddrVariable("rewarder.internal:443"), {
    transport: "tcp",
    hostname: "rewarder.internal",
    port: 443,
  });
  assert.deepEqual(parseBindAddrVariable("unix:///tmp/r.sock"), {
    transport: "unix",
    path: "/tmp/r.sock",
  });
  for (const bad of ["", ":80", "host:", "host:port", "[::1]", "unix:///", "unix:///tmp/dir/"]) {
    assert.throws(() => parseBindAddrVariable(bad), ConfigError, bad);
  }
});

Deno.test("REQ_BODY_MAX is bounded by the body cap's own limit (8 MiB), not 64 MiB", () => {
  // Was: 8..64 MiB passed here and bodyCap threw a RangeError at wiring (a stack trace).
  assert.equal(loadConfig({ REQ_BODY_MAX: String(BODY_BYTES_MAX_LIMIT) }).reqBodyBytesMax, 8 << 20);
  const err = rejects({ REQ_BODY_MAX: String(BODY_BYTES_MAX_LIMIT + 1) }, "REQ_BODY_MAX");
  assert.match(err.message, new RegExp(`1\\.\\.${BODY_BYTES_MAX_LIMIT}`));
  rejects({ REQ_BODY_MAX: String(32 << 20), POST_INFLATE_MAX: String(64 << 20) }, "REQ_BODY_MAX");
});

Deno.test("variables other modules read are in the table: CAPS_RELOAD_MS, AT_REST_KEY_PATH, LISTEN_ENGINE, CONFIG_RELOAD_PATH", () => {
  const c = loadConfig({
    CAPS_RELOAD_MS: "5000",
    AT_REST_KEY_PATH: "/k/at-rest.key",
    LISTEN_ENGINE: "node",
    CONFIG_RELOAD_PATH: "/etc/rewarder/reload.env",
    REWARDER_TEST_CRASH_AT: "after_commit#2",
  });
  assert.equal(c.capsReloadMs, 5000);
  assert.equal(c.atRestKeyPath, "/k/at-rest.key");
  assert.equal(c.listenEngine, "node");
  assert.equal(c.configReloadPath, "/etc/rewarder/reload.env");
  assert.equal(c.testCrashAt, "after_commit#2");
  assert.equal(loadConfig({}).capsReloadMs, 60_000);
  rejects({ CAPS_RELOAD_MS: "60001" }, "CAPS_RELOAD_MS");
  rejects({ CAPS_RELOAD_MS: "0" }, "CAPS_RELOAD_MS");
  rejects({ LISTEN_ENGINE: "uvicorn" }, "LISTEN_ENGINE");
  assert.equal(
    loadConfig({ ...KEYS, PRODUCTION: "on", REWARDER_TEST_CRASH_AT: "after_commit" }).testCrashAt,
    undefined,
  );
});

Deno.test("PUBLISH_DIR (contract §13): read as a path; refused with AMNESIA=on", () => {
  assert.equal(loadConfig({}).publishDir, undefined);
  assert.equal(loadConfig({ PUBLISH_DIR: "/srv/pub" }).publishDir, "/srv/pub");
  rejects({ ...KEYS, AMNESIA: "on", PUBLISH_DIR: "/srv/pub" }, "PUBLISH_DIR");
});

Deno.test("variables the contract names but this version does not implement are refused", () => {
  for (const name of NOT_IMPLEMENTED) {
    assert.match(rejects({ [name]: "x" }, name).message, /not implemented/);
  }
});

Deno.test("the edge's variables (contract §13) refuse the service's start, naming the edge", () => {
  assert.deepEqual([...NOT_IMPLEMENTED], []);
  for (const name of EDGE_ONLY) {
    assert.match(rejects({ [name]: "x" }, name).message, /configures the edge \(deno task edge/);
  }
});

Deno.test("DOWNSTREAM_TLS (contract §12): https only, mtls needs its files, files need mtls", () => {
  assert.equal(loadConfig({}).downstreamTls, "off");
  const https = { LEDGER_URL: "https://ledger.internal", INPUTS_SOURCE: "https://acc.internal" };
  assert.equal(loadConfig({ ...https, DOWNSTREAM_TLS: "required" }).downstreamTls, "required");
  for (const name of ["LEDGER_URL", "INPUTS_SOURCE", "POLICY_SOURCE"]) {
    const err = rejects(
      { ...https, [name]: "http://plain.internal:9000", DOWNSTREAM_TLS: "required" },
      name,
      "plain.internal",
    );
    assert.match(err.message, new RegExp(`${name} must be an https:// URL when DOWNSTREAM_TLS`));
    rejects({ [name]: "http://plain.internal", DOWNSTREAM_TLS: "mtls" }, name);
  }
  const mtls = {
    ...https,
    DOWNSTREAM_TLS: "mtls",
    DOWNSTREAM_CERT_PATH: "/k/client.pem",
    DOWNSTREAM_KEY_PATH: "/k/client.key",
    DOWNSTREAM_CA_PATH: "/k/ca.pem",
  };
  const c = loadConfig(mtls);
  assert.equal(c.downstreamCertPath, "/k/client.pem");
  assert.equal(c.downstreamCaPath, "/k/ca.pem");
  rejects({ ...mtls, DOWNSTREAM_CERT_PATH: "" }, "DOWNSTREAM_CERT_PATH");
  rejects({ ...mtls, DOWNSTREAM_KEY_PATH: "" }, "DOWNSTREAM_KEY_PATH");
  // A client certificate that would never be presented is refused, not ignored.
  rejects({ ...mtls, DOWNSTREAM_TLS: "required" }, "DOWNSTREAM_CERT_PATH");
  rejects({ DOWNSTREAM_KEY_PATH: "/k/client.key" }, "DOWNSTREAM_KEY_PATH");
  // A CA bundle alone applies to https downstreams under any mode.
  assert.equal(loadConfig({ DOWNSTREAM_CA_PATH: "/k/ca.pem" }).downstreamCaPath, "/k/ca.pem");
});

Deno.test("CLIENT_CA_PATH: needs TLS, and a listener that can check client certificates", () => {
  const tls = { TLS_CERT_PATH: "/t/cert.pem", TLS_KEY_PATH: "/t/key.pem" };
  const err = rejects({ CLIENT_CA_PATH: "/t/ca.pem" }, "CLIENT_CA_PATH");
  assert.match(err.message, /needs TLS_CERT_PATH/);
  let caught: unknown;
  try {
    loadConfig({ ...tls, CLIENT_CA_PATH: "/t/ca.pem", LISTEN_ENGINE: "native" }, {
      runtime: "deno",
    });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError);
  assert.equal(caught.variable, "CLIENT_CA_PATH");
  assert.match(caught.message, /Deno\.serve.*LISTEN_ENGINE=node.*proxy/);
  const env = { ...tls, CLIENT_CA_PATH: "/t/ca.pem" };
  assert.equal(
    loadConfig({ ...env, LISTEN_ENGINE: "node" }, { runtime: "deno" }).clientCaPath,
    "/t/ca.pem",
  );
  // TLS without LISTEN_ENGINE is served by node:https on Deno (TLS handshake deadline).
  assert.equal(loadConfig(env, { runtime: "deno" }).listenEngine, "node");
  assert.equal(loadConfig(env, { runtime: "node" }).clientCaPath, "/t/ca.pem");
  assert.equal(loadConfig(env, { runtime: "bun" }).clientCaPath, "/t/ca.pem");
});

Deno.test("--help comes from the table: every variable with its default and meaning", () => {
  const help = configHelp();
  for (const name of CONFIG_NAMES) {
    const v = CONFIG_TABLE[name];
    const line = help.split("\n").findIndex((l) => l.startsWith(`  ${name}  `));
    assert.ok(line >= 0, `${name} missing from --help`);
    assert.ok(help.split("\n")[line]!.includes(`[${v.dflt}]`), `${name} default`);
    assert.ok(help.split("\n")[line + 1]!.includes(v.meaning), `${name} meaning`);
  }
});

Deno.test("the secret set is the table's secret entries", () => {
  const fromTable = CONFIG_NAMES.filter((n) =>
    (CONFIG_TABLE[n] as { secret?: boolean }).secret === true
  );
  assert.deepEqual([...SECRET_VARIABLES].sort(), [...fromTable].sort());
  assert.ok(SECRET_VARIABLES.has("DATABASE_URL") && SECRET_VARIABLES.has("LEDGER_URL"));
});
