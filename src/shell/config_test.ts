import assert from "node:assert/strict";
import { parseBindAddr } from "./bind_addr.ts";
import { COMPUTE_BODY_BYTES_MAX, ConfigError, loadConfig } from "./config.ts";

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

Deno.test("defaults match contract §12 and seed §15", () => {
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
  assert.equal(loadConfig({ AMNESIA: "on" }).store, "memory");
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
  rejects({ PRODUCTION: "on", CAPS_KEYS_PATH: "/k/caps.json" }, "SIGNING_KEYS_DIR");
  const prod = loadConfig({
    PRODUCTION: "on",
    CAPS_KEYS_PATH: "/k/caps.json",
    SIGNING_KEYS_DIR: "/k/sign",
    GOV_KEYS_PATH: "/k/gov.json",
  });
  assert.equal(prod.production, true);
});

Deno.test("parseBindAddr forms", () => {
  assert.deepEqual(parseBindAddr("0.0.0.0:0"), { transport: "tcp", hostname: "0.0.0.0", port: 0 });
  assert.deepEqual(parseBindAddr("[::1]:8090"), { transport: "tcp", hostname: "::1", port: 8090 });
  assert.deepEqual(parseBindAddr("rewarder.internal:443"), {
    transport: "tcp",
    hostname: "rewarder.internal",
    port: 443,
  });
  assert.deepEqual(parseBindAddr("unix:///tmp/r.sock"), { transport: "unix", path: "/tmp/r.sock" });
  for (const bad of ["", ":80", "host:", "host:port", "[::1]", "unix:///", "unix:///tmp/dir/"]) {
    assert.throws(() => parseBindAddr(bad), ConfigError, bad);
  }
});
