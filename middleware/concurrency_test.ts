import assert from "node:assert/strict";
import { RewarderError } from "../src/core/errors.ts";
import { concurrencyLimit } from "./concurrency.ts";
import { testApp } from "./_test_app.ts";

Deno.test("concurrencyLimit answers 503 OVERLOADED beyond inflightMax and recovers", async () => {
  const reasons: string[] = [];
  const limit = concurrencyLimit({
    inflightMax: 3,
    nearCapRatio: 0.6,
    retryAfterS: 2,
    onReject: (r) => reasons.push(r),
  });
  assert.equal(limit.name, "concurrencyLimit");
  const app = testApp(limit);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  app.get("/hold", async (c) => {
    await gate;
    return c.text("done");
  });
  const held = [app.request("/hold"), app.request("/hold")];
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(limit.inflight(), 2);
  assert.equal(limit.nearCap(), true); // ceil(3 × 0.6) = 2
  held.push(app.request("/hold"));
  await new Promise((r) => setTimeout(r, 10));
  const over = await app.request("/hold");
  assert.equal(over.status, 503);
  assert.equal(over.headers.get("retry-after"), "2");
  const body = await over.json();
  assert.equal(body.error.code, "OVERLOADED");
  assert.equal(body.error.reason, "overloaded");
  release();
  for (const r of await Promise.all(held)) assert.equal(await r.text(), "done");
  assert.equal(limit.inflight(), 0);
  assert.equal(limit.nearCap(), false);
  assert.deepEqual(reasons, ["overloaded"]);
});

Deno.test("concurrencyLimit releases the slot when the handler throws", async () => {
  const limit = concurrencyLimit({ inflightMax: 1 });
  const app = testApp(limit);
  app.get("/bad", () => {
    throw new RewarderError("BAD_REQUEST", "schema");
  });
  for (let i = 0; i < 3; i += 1) assert.equal((await app.request("/bad")).status, 400);
  assert.equal(limit.inflight(), 0);
});

Deno.test("concurrencyLimit validates options", () => {
  for (const bad of [0, -1, 2.5, 2_000_000]) {
    assert.throws(() => concurrencyLimit({ inflightMax: bad }), RangeError);
  }
  assert.throws(() => concurrencyLimit({ inflightMax: 5, nearCapRatio: 0 }), RangeError);
  assert.throws(() => concurrencyLimit({ inflightMax: 5, nearCapRatio: 1.1 }), RangeError);
});
