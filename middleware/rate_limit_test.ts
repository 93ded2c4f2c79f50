import assert from "node:assert/strict";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context.ts";
import type { AuthContext } from "../src/shell/caps/auth_context.ts";
import { rateLimit, tenantRateLimit } from "./rate_limit.ts";
import { createRateLimiter, type RateLimiter } from "../src/shell/admission/rate_limiter.ts";
import { testApp } from "./_test_app.ts";

function fakeAuth(): MiddlewareHandler<AppEnv> {
  return async function fakeAuth(c, next) {
    const tenant = c.req.header("x-test-tenant");
    if (tenant !== undefined) {
      const auth: AuthContext = {
        tenant,
        scopes: [],
        identifier: "v1:x:1:00",
        keyEpoch: 1,
        maxRuns: [],
      };
      c.set("auth", auth);
    }
    await next();
  };
}

function limiter(rps: number, burst: number, tenantRps: number): RateLimiter {
  const now = 0;
  return createRateLimiter({
    ratePerSecondMax: rps,
    burstMax: burst,
    tenantRatePerSecondMax: tenantRps,
    nowMs: () => now,
  });
}

Deno.test("rateLimit answers 429 RATE_LIMITED with Retry-After once the burst is spent", async () => {
  const reasons: string[] = [];
  const app = testApp(rateLimit({ limiter: limiter(1, 3, 1), onReject: (r) => reasons.push(r) }));
  for (let i = 0; i < 3; i += 1) assert.equal((await app.request("/echo")).status, 200);
  const res = await app.request("/echo");
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("retry-after"), "1");
  const body = await res.json();
  assert.equal(body.error.code, "RATE_LIMITED");
  assert.equal(body.error.reason, "rate_limited");
  assert.deepEqual(reasons, ["rate_limited"]);
});

Deno.test("tenantRateLimit keys on the authenticated tenant; public requests pass", async () => {
  const l = limiter(1_000, 1_000, 2);
  const app = testApp(fakeAuth(), tenantRateLimit({ limiter: l }));
  const as = (t: string) => app.request("/echo", { headers: { "x-test-tenant": t } });
  assert.equal((await as("acme")).status, 200);
  assert.equal((await as("acme")).status, 200);
  assert.equal((await as("acme")).status, 429);
  assert.equal((await as("beta")).status, 200, "another tenant has its own bucket");
  for (let i = 0; i < 5; i += 1) assert.equal((await app.request("/echo")).status, 200);
  assert.equal(l.stats().tenantBuckets, 2);
});

Deno.test("an incident clamp through setRates takes effect on the next request", async () => {
  const l = limiter(1_000, 1_000, 1_000);
  const app = testApp(rateLimit({ limiter: l }));
  assert.equal((await app.request("/echo")).status, 200);
  l.setRates({ burstMax: 1 });
  assert.equal((await app.request("/echo")).status, 200);
  assert.equal((await app.request("/echo")).status, 429);
});

Deno.test("rate limit factories refuse a missing limiter", () => {
  assert.throws(() => rateLimit({ limiter: {} as RateLimiter }), TypeError);
  assert.throws(() => tenantRateLimit({ limiter: undefined as unknown as RateLimiter }), TypeError);
});
