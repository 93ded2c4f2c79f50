import assert from "node:assert/strict";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context.ts";
import type { AuthContext } from "../src/shell/caps/auth_context.ts";
import { RewarderError } from "../src/core/errors.ts";
import { admitCaller, preAuthHold } from "./admission.ts";
import { bodyCap } from "./body_cap.ts";
import { createPreAuthBudget } from "../src/shell/admission/preauth_budget.ts";
import { createRateLimiter } from "../src/shell/admission/rate_limiter.ts";
import { testApp } from "./_test_app.ts";

const CHUNK = 64 * 1024;

/** Auth stand-in: `x-test-tenant` authenticates as that tenant, anything else is 401. */
function fakeAuth(): MiddlewareHandler<AppEnv> {
  return async function fakeAuth(c, next) {
    const tenant = c.req.header("x-test-tenant");
    if (tenant === undefined) throw new RewarderError("UNAUTHENTICATED", "token_missing");
    const auth: AuthContext = {
      tenant,
      scopes: [],
      identifier: "v1:x:1:00",
      keyEpoch: 1,
      maxRuns: [],
    };
    c.set("auth", auth);
    await next();
  };
}

/** A body of `count` chunks whose pulled bytes are counted (the runtime pulls as we read). */
function countingBody(count: number, chunkBytes: number) {
  const seen = { pulledBytes: 0 };
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (sent >= count) return ctrl.close();
      sent += 1;
      seen.pulledBytes += chunkBytes;
      ctrl.enqueue(new Uint8Array(chunkBytes).fill(0x61));
    },
  }, { highWaterMark: 0 });
  return { stream, seen };
}

function limiter(anonRps = 1_000) {
  let now = 0;
  const l = createRateLimiter({
    ratePerSecondMax: 1_000,
    burstMax: 1_000,
    tenantRatePerSecondMax: 1_000,
    anonPeerRatePerSecondMax: anonRps,
    nowMs: () => now,
  });
  return { l, advance: (ms: number) => void (now += ms) };
}

Deno.test("an anonymous 1 MiB body is answered 401 having read at most one chunk", async () => {
  const budget = createPreAuthBudget({ budgetBytes: 1 << 20 });
  const { l } = limiter();
  const app = testApp(
    preAuthHold({ budget }),
    admitCaller({ limiter: l, authenticate: fakeAuth() }),
    bodyCap({ bodyBytesMax: 8 << 20 }),
  );
  const { stream, seen } = countingBody(16, CHUNK); // 1 MiB
  const res = await app.request("/echo", { method: "POST", body: stream });
  assert.equal(res.status, 401);
  assert.ok(seen.pulledBytes <= CHUNK, `pulled ${seen.pulledBytes} bytes before auth`);
  assert.equal(budget.stats().heldBytes, 0, "the reservation is given back");
  // The same body with a token is read whole, after auth.
  const ok = countingBody(16, CHUNK);
  const res2 = await app.request("/echo", {
    method: "POST",
    body: ok.stream,
    headers: { "x-test-tenant": "acme" },
  });
  assert.equal(res2.status, 200);
  assert.equal((await res2.json()).bytes, 16 * CHUNK);
});

Deno.test("the pre-auth budget refuses past its limit with 503 and Retry-After, then recovers", async () => {
  const budget = createPreAuthBudget({ budgetBytes: 2 * CHUNK, chunkBytes: CHUNK });
  // Authentication that waits for the test: two requests hold their reservations meanwhile.
  const gates: (() => void)[] = [];
  const entered: string[] = [];
  const slowAuth: MiddlewareHandler<AppEnv> = async (c, _next) => {
    entered.push(c.req.header("x-id") ?? "");
    await new Promise<void>((resolve) => gates.push(resolve));
    throw new RewarderError("UNAUTHENTICATED", "token_missing");
  };
  const { l } = limiter();
  const app = testApp(preAuthHold({ budget }), admitCaller({ limiter: l, authenticate: slowAuth }));
  const post = (id: string, bytes: number) =>
    app.request("/echo", {
      method: "POST",
      headers: { "x-id": id, "content-length": String(bytes) },
      body: new Uint8Array(bytes),
    });
  const a = post("a", 1 << 20);
  const b = post("b", 1 << 20);
  // Both have reserved one chunk each: wait (bounded, event-driven) until both are in auth.
  for (let i = 0; i < 100 && entered.length < 2; i += 1) await Promise.resolve();
  assert.deepEqual(entered, ["a", "b"]);
  assert.equal(budget.stats().heldBytes, 2 * CHUNK);
  const refused = await post("c", 10);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("retry-after"), "1");
  const body = await refused.json();
  assert.equal(body.error.code, "OVERLOADED");
  assert.equal(body.error.reason, "preauth_budget");
  assert.equal(budget.stats().refusedTotal, 1);
  for (const open of gates.splice(0)) open();
  assert.equal((await a).status, 401);
  assert.equal((await b).status, 401);
  assert.equal(budget.stats().heldBytes, 0);
  // Recovered: the next request fits again (and a body-less one never reserves).
  const d = post("d", 10);
  for (let i = 0; i < 100 && gates.length < 1; i += 1) await Promise.resolve();
  assert.equal(budget.stats().heldBytes, 10, "a small body holds its declared length");
  gates.splice(0).forEach((open) => open());
  assert.equal((await d).status, 401);
});

Deno.test("anonymous callers spend their peer's bucket, never the tenant's or the instance's", async () => {
  let now = 0;
  const l = createRateLimiter({
    ratePerSecondMax: 5,
    burstMax: 5,
    tenantRatePerSecondMax: 5,
    anonPeerRatePerSecondMax: 3,
    nowMs: () => now,
  });
  const app = testApp(admitCaller({ limiter: l, authenticate: fakeAuth() }));
  const anon = () => app.request("/echo");
  const statuses: number[] = [];
  for (let i = 0; i < 20; i += 1) statuses.push((await anon()).status);
  assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
  assert.ok(statuses.slice(3).every((s) => s === 429), statuses.join(","));
  assert.equal(l.stats().instanceTokens, 5, "the instance bucket is untouched");
  for (let i = 0; i < 5; i += 1) {
    const res = await app.request("/echo", { headers: { "x-test-tenant": "acme" } });
    assert.equal(res.status, 200, `honest request ${i}`);
  }
  now += 1_000;
  assert.equal((await anon()).status, 401, "the peer's bucket refills");
});

Deno.test("peers have buckets of their own; over a Unix socket they share one", async () => {
  const { l } = limiter(1);
  const app = testApp(admitCaller({ limiter: l, authenticate: fakeAuth() }));
  const from = (address?: string) =>
    app.request("/echo", {}, {
      peer: address === undefined ? { transport: "unix" } : { transport: "tcp", address },
    });
  assert.equal((await from("10.0.0.1")).status, 401);
  assert.equal((await from("10.0.0.1")).status, 429);
  assert.equal((await from("10.0.0.2")).status, 401, "another address, another bucket");
  assert.equal((await from()).status, 401);
  assert.equal((await from()).status, 429, "Unix-socket callers share one bucket");
  assert.equal(l.stats().anonPeers, 3);
});

Deno.test("an authenticated request takes its tenant's bucket, then the instance's", async () => {
  let now = 0;
  const l = createRateLimiter({
    ratePerSecondMax: 3,
    burstMax: 3,
    tenantRatePerSecondMax: 2,
    nowMs: () => now,
  });
  const app = testApp(admitCaller({ limiter: l, authenticate: fakeAuth() }));
  const as = (t: string) => app.request("/echo", { headers: { "x-test-tenant": t } });
  assert.equal((await as("a")).status, 200);
  assert.equal((await as("a")).status, 200);
  assert.equal((await as("a")).status, 429, "tenant a's bucket");
  assert.equal((await as("b")).status, 200);
  assert.equal((await as("b")).status, 429, "the instance bucket (3) is spent");
  now += 1_000;
  assert.equal((await as("b")).status, 200);
});

Deno.test("a public route charges the anonymous bucket", async () => {
  const { l } = limiter(2);
  const app = testApp(admitCaller({ limiter: l }));
  assert.equal((await app.request("/echo")).status, 200);
  assert.equal((await app.request("/echo")).status, 200);
  assert.equal((await app.request("/echo")).status, 429);
  assert.equal(l.stats().instanceTokens, 1_000);
});

Deno.test("an anonymous caller's 429 is held before its answer; its 401s, tenants' 429s and a public route's 200s are not", async () => {
  const held: string[] = [];
  let release: () => void = () => {};
  const refusalHold = {
    hold(_signal: AbortSignal) {
      held.push("hold");
      return new Promise<void>((resolve) => (release = resolve));
    },
    held: () => held.length,
  };
  const now = 0;
  const l = createRateLimiter({
    ratePerSecondMax: 1_000,
    burstMax: 1_000,
    tenantRatePerSecondMax: 1,
    anonPeerRatePerSecondMax: 1,
    nowMs: () => now,
  });
  const app = testApp(admitCaller({ limiter: l, authenticate: fakeAuth(), refusalHold }));
  assert.equal((await app.request("/echo")).status, 401, "the bucket had a token: at once");
  assert.deepEqual(held, []);
  let answered = false;
  const refused = Promise.resolve(app.request("/echo")).then((res) => {
    answered = true;
    return res;
  });
  for (let i = 0; i < 10 && held.length === 0; i++) await Promise.resolve();
  assert.deepEqual(held, ["hold"], "the refusal waits on the hold");
  assert.equal(answered, false);
  release();
  const res = await refused;
  assert.equal(res.status, 429);
  assert.ok(Number(res.headers.get("retry-after")) >= 1);
  // An authenticated tenant over its own bucket is refused at once, never held.
  const as = () => app.request("/echo", { headers: { "x-test-tenant": "acme" } });
  assert.equal((await as()).status, 200);
  assert.equal((await as()).status, 429, "the tenant's own bucket");
  assert.deepEqual(held, ["hold"], "a tenant's 429 is not held");
});
