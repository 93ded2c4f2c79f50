import { after, test } from "node:test";
import assert from "node:assert/strict";
import { reset } from "@logtape/logtape";
import {
  configureLogging,
  createArraySink,
  failureStreakLog,
  formatAnyRecord,
  formatRecord,
  getLogger,
  isSecretName,
  leakedSecrets,
  LOG_FIELDS,
  redact,
  REDACTED,
  redactString,
  replaceSecrets,
} from "./log.ts";

after(async () => {
  await reset();
});

// Secrets of every kind the service handles; each must be absent from the whole output.
const MACAROON_V2 = "AgEPc3ZjLXJld2FyZGVyAhp2MTphY21lOjE6MDBmZjAwZmYwMGZmMDBmZgAABiAX9s2kZQ";
const BEARER = "opaque-bearer-tok3n-value-1234567890";
const COOKIE = "sid=cookie-secret-value-98765";
const MASTER = "qO5v3z4cQ0mJ1bJdU8K7mZp0kS3b8u2Yc1aR6tW9xQ0"; // 32-byte base64url
const SIGNING_HEX = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const SALT = "idempotency-salt-xyzzy";
const PASSWORD = "hunter2-hunter2";
const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQtb2Y";
const PEM = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v\n-----END PRIVATE KEY-----";
const SECRETS = [MACAROON_V2, BEARER, COOKIE, MASTER, SIGNING_HEX, SALT, PASSWORD, JWT, PEM];

test("a sequence of log calls carrying secrets leaks none of them", async () => {
  const { sink, lines } = createArraySink();
  await configureLogging({ level: "debug", sink });
  const log = getLogger(["http"]);
  const headers = new Headers({
    authorization: `Macaroon ${MACAROON_V2}`,
    cookie: COOKIE,
    "x-corr-id": "c-1",
  });
  log.info("request {method} with headers {headers}", { method: "POST", headers });
  log.warn("auth failed for header {h}", { h: `Bearer ${BEARER}`, reason: "unauth" });
  log.error("token echoed in free text: Macaroon {t}", { t: MACAROON_V2 });
  log.info("bare macaroon in a value", { note: `got ${MACAROON_V2} from client` });
  log.info("config loaded", {
    caps: { current_epoch: 1, epochs: { "1": MASTER }, revoked: [] },
    signing_key: SIGNING_HEX,
    signingKey: SIGNING_HEX,
    idempotency_salt: SALT,
    db: { password: PASSWORD, user: "rewarder" },
    privateKey: new Uint8Array([1, 2, 3]),
    pem: PEM,
  });
  log.debug`tagged template with ${JWT} and ${MASTER}`;
  log.info("token as JSON macaroon", { m: { v: 2, i: "v1:acme:1:00", s64: MASTER } });
  log.info("error with token in message", { error: new Error(`bad token Bearer ${BEARER}`) });
  getLogger("cli").info("{{literal}} braces and {missing} placeholder");
  const output = lines.join("\n");
  assert.ok(lines.length >= 9, `expected every record, got ${lines.length}`);
  assert.deepEqual(leakedSecrets(output, SECRETS), []);
  // ...and the redaction did not simply drop everything.
  assert.match(output, /\[REDACTED\]/);
  assert.match(output, /"method":"POST"/);
  assert.match(output, /"user":"rewarder"/);
  assert.match(output, /\{literal\} braces and \{missing\} placeholder/);
});

test("the probe itself catches a leak (the check above can fail)", () => {
  assert.deepEqual(leakedSecrets(`x ${MASTER} y`, SECRETS), [MASTER]);
  assert.throws(() => leakedSecrets("abc", ["short"]), RangeError);
});

test("one JSON line per record with the documented fields; public ids survive", async () => {
  const { sink, lines } = createArraySink();
  await configureLogging({ level: "info", sink });
  const runKey = "b3:ffd1e7465fb118c067fd14c30a36e2e12ba27f1e1fca34c4b7edcac919dd9bb9";
  getLogger("compute").info("run {run_key} sealed", {
    tenant: "acme",
    corr_id: "c-42",
    run_key: runKey,
    policy_hash: "b3:" + "b".repeat(64),
    inputs_cid: "b3:" + "c".repeat(64),
    scope: "rewarder.run",
    peer_addr: "127.0.0.1",
    key_epoch: 2,
    signatures: [{ alg: "ed25519", kid: "svc-1", sig: MASTER + MASTER }],
  });
  getLogger("compute").debug("below level, not written");
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]!);
  assert.deepEqual(
    Object.keys(rec).slice(0, 5 + LOG_FIELDS.length),
    ["ts", "level", "service", "category", "message", ...LOG_FIELDS],
  );
  assert.equal(rec.level, "info");
  assert.equal(rec.service, "svc-rewarder");
  assert.equal(rec.category, "svc-rewarder.compute");
  assert.equal(rec.message, `run ${runKey} sealed`);
  assert.equal(rec.run_key, runKey);
  assert.equal(rec.reason, null);
  assert.equal(rec.key_epoch, 2);
  assert.equal(rec.signatures[0].sig, MASTER + MASTER, "signatures are public");
  assert.match(rec.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test("what counts as a secret name", () => {
  for (const n of ["Authorization", "cookie", "Set-Cookie", "token", "ledger_token", "macaroon"]) {
    assert.ok(isSecretName(n), n);
  }
  for (const n of ["signing_key", "signingKey", "key", "keys", "root_key", "privateKey"]) {
    assert.ok(isSecretName(n), n);
  }
  for (const n of ["master_secret", "seed", "salt", "password", "apiKey"]) {
    assert.ok(isSecretName(n), n);
  }
  for (const n of ["run_key", "idempotency_key", "public_key", "key_epoch", "sig", "kid"]) {
    assert.ok(!isSecretName(n), n);
  }
  for (const n of ["tenant", "corr_id", "policy_hash", "inputs_cid", "reason", "scope"]) {
    assert.ok(!isSecretName(n), n);
  }
  assert.deepEqual(redact({ a: { authorization: "x" } }), { a: { authorization: REDACTED } });
  assert.equal(redact(12345678901234567890n), "12345678901234567890");
});

test("the pre-test of redactString never changes its answer (secret shapes in any case, runs of 15..45)", () => {
  // Pieces that start or end each pattern, in several cases, and runs around the 16- and
  // 40-character thresholds; deterministic pseudo-random strings of them.
  const pieces = [
    "Bearer ",
    "bearer  ",
    "MACAROON ",
    "Basic\t",
    "basic",
    "AgE",
    "AgI",
    "age",
    "MDA",
    "mda",
    "eyJ",
    "EYJ",
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----begin",
    "-----END RSA PRIVATE KEY-----",
    ".",
    "=",
    " ",
    "/",
    ":",
    "dev",
    "GET /rewarder/epochs/:epoch_id",
    "127.0.0.1",
    "a".repeat(15),
    "B".repeat(16),
    "c".repeat(39),
    "0f".repeat(20),
    "x_-".repeat(14),
    "9".repeat(45),
  ];
  let seed = 7; // xorshift32: a fixed sequence
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  let changed = 0;
  for (let i = 0; i < 20_000; i++) {
    let text = "";
    const n = 1 + (next() % 5);
    for (let k = 0; k < n; k++) text += pieces[next() % pieces.length];
    for (const allowOpaque of [false, true]) {
      const full = replaceSecrets(text, allowOpaque);
      assert.equal(redactString(text, allowOpaque), full, JSON.stringify(text));
      if (full !== text) changed += 1;
    }
  }
  assert.ok(changed > 1_000, `the corpus holds secrets to redact (${changed})`);
});

test("an access record's line is the generic formatter's, byte for byte (secret-shaped values, nulls, odd numbers)", () => {
  const strings = [
    "GET",
    "POST",
    "/rewarder/epochs/:epoch_id",
    "dev",
    "acme",
    "rewarder.run,rewarder.inspect",
    "127.0.0.1",
    "unix",
    crypto.randomUUID(),
    "Bearer abc.def",
    "x".repeat(45),
    "MDA" + "B".repeat(20),
    'quote " and \\ backslash',
    "é😀",
    "\ud800",
    "{status}",
    "",
  ];
  const numbers = [200, 404, 0, -0, 1.5, NaN, Infinity, 123456789];
  let seed = 3; // xorshift32: a fixed sequence
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const pick = (): string | number | null => {
    const r = next() % 10;
    if (r < 6) return strings[next() % strings.length]!;
    if (r < 9) return numbers[next() % numbers.length]!;
    return null;
  };
  const MESSAGE = "{method} {route} {status}";
  for (let i = 0; i < 5_000; i++) {
    const properties = {
      method: pick(),
      route: pick(),
      status: pick(),
      duration_ms: pick(),
      tenant: pick(),
      corr_id: pick(),
      scope: pick(),
      peer_addr: pick(),
    };
    const record = {
      category: ["svc-rewarder", "access"],
      level: i % 2 === 0 ? "info" : "warning",
      message: [MESSAGE],
      rawMessage: MESSAGE,
      timestamp: 1_700_000_000_000 + i,
      properties,
    } as const;
    assert.equal(formatRecord(record), formatAnyRecord(record), JSON.stringify(properties));
  }
  // Another shape (a key more, or an object value) takes the generic path.
  const other = {
    category: ["svc-rewarder", "access"],
    level: "info",
    message: [MESSAGE],
    rawMessage: MESSAGE,
    timestamp: 1,
    properties: { method: "GET", route: "/r", status: 200, extra: { token: "secret-value-123" } },
  } as const;
  assert.equal(formatRecord(other), formatAnyRecord(other));
  assert.ok(!formatRecord(other).includes("secret-value-123"));
});

test("failureStreakLog: one line when a streak starts, one when it ends, none in between", async () => {
  const { sink, lines } = createArraySink();
  await configureLogging({ level: "debug", sink });
  const streak = failureStreakLog(getLogger(["service"]), "retention sweep");
  streak.succeeded();
  assert.equal(lines.length, 0, "success without a streak is silent");
  for (let i = 0; i < 1000; i++) streak.failed(new Error("store unreachable"));
  assert.equal(lines.length, 1, "a thousand failures are one line");
  assert.match(lines[0]!, /"level":"error".*retention sweep failed.*store unreachable/);
  streak.succeeded();
  streak.succeeded();
  assert.equal(lines.length, 2);
  assert.match(lines[1]!, /retention sweep recovered.*after 1000 failed runs/);
  streak.failed("again");
  assert.equal(lines.length, 3, "a new streak is reported again");
});
