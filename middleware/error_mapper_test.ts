import assert from "node:assert/strict";
import { Hono } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";
import { corrId } from "./corr_id.ts";
import { cryptoRandomInt, errorBoundary, errorHandler, notFoundHandler } from "./error_mapper.ts";

function appWith(err: unknown, opts: Parameters<typeof errorHandler>[0] = { jitterMsMax: 0 }) {
  const app = new Hono<AppEnv>();
  app.onError(errorHandler(opts));
  app.notFound(notFoundHandler(opts));
  app.use(corrId());
  app.get("/fail", () => {
    throw err;
  });
  return app;
}

const CASES: Array<[RewarderError, number, string | null]> = [
  [new RewarderError("UNAUTHENTICATED", "unauth"), 401, null],
  [new RewarderError("UNAUTHORIZED", "caveat"), 403, null],
  [new RewarderError("BAD_REQUEST", "schema", { path: "entries[0]" }), 400, null],
  [new RewarderError("BAD_REQUEST", "oversize"), 413, null],
  [new RewarderError("BAD_REQUEST", "decompress_cap"), 413, null],
  [new RewarderError("BAD_REQUEST", "media_type"), 415, null],
  [new RewarderError("BAD_REQUEST", "encoding"), 415, null],
  [new RewarderError("NOT_FOUND", "run"), 404, null],
  [new RewarderError("CONFLICT", "epoch_committed"), 409, null],
  [new RewarderError("RATE_LIMITED", "rate_limited", { retryAfterS: 3 }), 429, "3"],
  [new RewarderError("OVERLOADED", "overloaded"), 503, "1"],
  [new RewarderError("TIMEOUT", "timeout", { retryAfterS: 2 }), 503, "2"],
  [new RewarderError("DEPENDENCY_UNAVAILABLE", "ledger"), 503, "1"],
];

Deno.test("errorHandler maps every code to the contract's status and envelope", async () => {
  for (const [err, status, retryAfter] of CASES) {
    const res = await appWith(err).request("/fail", { headers: { "X-Corr-ID": "corr-abcdefgh" } });
    assert.equal(res.status, status, err.message);
    assert.equal(res.headers.get("retry-after"), retryAfter, err.message);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await res.json(), {
      error: {
        code: err.code,
        reason: err.reason,
        corr_id: "corr-abcdefgh",
        ...(err.path === undefined ? {} : { field: err.path }),
      },
    });
  }
});

Deno.test('errorHandler names the field (§8): a schema path, "" for the top level, else none', async () => {
  for (
    const [err, field] of [
      [new RewarderError("BAD_REQUEST", "schema", { path: "policy_hash" }), "policy_hash"],
      [new RewarderError("BAD_REQUEST", "schema", { path: "" }), ""],
      [new RewarderError("CONFLICT", "inputs_settled", { path: "inputs_cid" }), "inputs_cid"],
      [new RewarderError("BAD_REQUEST", "json"), undefined],
    ] as const
  ) {
    const body = await (await appWith(err).request("/fail")).json();
    assert.equal(body.error.field, field, err.message);
    assert.equal("field" in body.error, field !== undefined);
  }
  const hijack = new RewarderError("NOT_FOUND", "no_payout", { extra: { field: "x" } });
  assert.equal("field" in (await (await appWith(hijack).request("/fail")).json()).error, false);
});

Deno.test("errorHandler adds extra fields but never lets them replace the envelope", async () => {
  const err = new RewarderError("QUARANTINED", "overflow", {
    extra: { run: { run_key: "b3:00", status: "quarantined" }, code: "HIJACK", corr_id: "x" },
  });
  const res = await appWith(err).request("/fail", { headers: { "X-Corr-ID": "corr-abcdefgh" } });
  assert.equal(res.status, 409);
  const body = await res.json();
  assert.deepEqual(body.error, {
    code: "QUARANTINED",
    reason: "overflow",
    corr_id: "corr-abcdefgh",
    run: { run_key: "b3:00", status: "quarantined" },
  });
});

Deno.test("unknown errors become a bare 500 without their message", async () => {
  const seen: unknown[] = [];
  const secret = new Error("db password hunter2 at /etc/x");
  const res = await appWith(secret, { jitterMsMax: 0, onUnexpected: (e) => seen.push(e) })
    .request("/fail");
  assert.equal(res.status, 500);
  const text = await res.text();
  assert.doesNotMatch(text, /hunter2|etc/);
  assert.equal(JSON.parse(text).error.code, "INTERNAL");
  assert.equal(JSON.parse(text).error.reason, "internal");
  assert.equal(seen[0], secret);
});

Deno.test("notFound answers 404 NOT_FOUND without echoing the path", async () => {
  const res = await appWith(null).request("/rewarder/%3Cscript%3E?x=evil");
  assert.equal(res.status, 404);
  const text = await res.text();
  assert.doesNotMatch(text, /script|evil/);
  assert.equal(JSON.parse(text).error.reason, "no_route");
});

Deno.test("jitter delays non-auth errors only, within jitterMsMax; onReject sees reasons", async () => {
  for (
    const [err, expectSleep] of [
      [new RewarderError("BAD_REQUEST", "schema"), true],
      [new RewarderError("RATE_LIMITED", "rate_limited"), true],
      [new RewarderError("UNAUTHENTICATED", "unauth"), false],
      [new RewarderError("UNAUTHORIZED", "caveat"), false],
    ] as const
  ) {
    const sleeps: number[] = [];
    const maxes: number[] = [];
    const reasons: string[] = [];
    const app = appWith(err, {
      jitterMsMax: 25,
      randomInt: (m) => (maxes.push(m), 7),
      sleepMs: (ms) => (sleeps.push(ms), Promise.resolve()),
      onReject: (r) => reasons.push(r),
    });
    await app.request("/fail");
    assert.deepEqual(sleeps, expectSleep ? [7] : [], err.reason);
    assert.deepEqual(maxes, expectSleep ? [25] : [], err.reason);
    assert.deepEqual(reasons, [err.reason]);
  }
});

Deno.test("real jitter (the platform CSPRNG) stays within bounds and spreads", async () => {
  // The delays the mapper asks for, drawn by the real cryptoRandomInt; the sleep itself is the
  // platform's timer (a wall-clock bound here would measure the machine's load, not the mapper).
  const asked: number[] = [];
  const app = appWith(new RewarderError("BAD_REQUEST", "schema"), {
    jitterMsMax: 20,
    sleepMs: (ms) => (asked.push(ms), Promise.resolve()),
  });
  for (let i = 0; i < 200; i += 1) await (await app.request("/fail")).text();
  assert.ok(asked.every((ms) => Number.isInteger(ms) && ms > 0 && ms <= 20), String(asked));
  assert.ok(new Set(asked).size > 5, "delays are spread over the range");
});

Deno.test("errorHandler validates jitterMsMax at wiring time", () => {
  for (const bad of [-1, 1.5, 1_001, Number.NaN]) {
    assert.throws(() => errorHandler({ jitterMsMax: bad }), RangeError);
  }
});

Deno.test("cryptoRandomInt covers [0, max] and nothing else", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 2_000; i += 1) {
    const v = cryptoRandomInt(5);
    assert.ok(Number.isInteger(v) && v >= 0 && v <= 5);
    seen.add(v);
  }
  assert.equal(seen.size, 6);
  assert.equal(cryptoRandomInt(0), 0);
});

Deno.test("errorBoundary routes thrown non-Error values to the 500 mapper", async () => {
  const app = new Hono<AppEnv>();
  app.onError(errorHandler({ jitterMsMax: 0 }));
  app.use(errorBoundary());
  app.use(corrId());
  app.get("/fail", () => {
    throw "plain string with secret";
  });
  const res = await app.request("/fail");
  assert.equal(res.status, 500);
  const text = await res.text();
  assert.doesNotMatch(text, /secret/);
  assert.equal(JSON.parse(text).error.reason, "internal");
  assert.match(JSON.parse(text).error.corr_id, /^[0-9a-f-]{36}$/);
});
