import assert from "node:assert/strict";
import { RewarderError } from "../src/core/errors.ts";
import { timeout } from "./timeout.ts";
import { Hono } from "hono";
import type { AppEnv } from "./context.ts";
import { corrId } from "./corr_id.ts";
import { errorHandler } from "./error_mapper.ts";
import { testApp, withServer } from "./_test_app.ts";

Deno.test("timeout answers 503 TIMEOUT and really aborts the handler's signal", async () => {
  const reasons: string[] = [];
  const app = testApp(timeout({ timeoutMs: 50, onReject: (r) => reasons.push(r) }));
  let seen: AbortSignal | undefined;
  let handlerSawAbort: Promise<unknown> | undefined;
  app.get("/slow", async (c) => {
    seen = c.get("deadline");
    handlerSawAbort = new Promise((resolve) => seen?.addEventListener("abort", resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    return c.text("late");
  });
  const t0 = performance.now();
  const res = await app.request("/slow");
  assert.ok(performance.now() - t0 < 250, "answered at the deadline, not after the handler");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "1");
  assert.deepEqual((await res.json()).error.code, "TIMEOUT");
  assert.equal(seen?.aborted, true);
  assert.ok(seen?.reason instanceof RewarderError);
  await handlerSawAbort;
  assert.deepEqual(reasons, ["timeout"]);
  await new Promise((resolve) => setTimeout(resolve, 300)); // let the late handler finish
});

Deno.test("timeout lets fast handlers through and leaves their signal alone", async () => {
  const app = testApp(timeout({ timeoutMs: 1_000 }));
  let seen: AbortSignal | undefined;
  app.get("/fast", (c) => {
    seen = c.get("deadline");
    return c.text("ok");
  });
  const res = await app.request("/fast");
  assert.equal(await res.text(), "ok");
  assert.equal(seen?.aborted, false);
});

Deno.test("timeout passes handler errors through to the mapper", async () => {
  const app = testApp(timeout({ timeoutMs: 1_000 }));
  app.get("/bad", () => {
    throw new RewarderError("NOT_FOUND", "run");
  });
  assert.equal((await app.request("/bad")).status, 404);
});

Deno.test("timeout over a real socket: a downstream fetch using the signal is cancelled", async () => {
  const app = testApp(timeout({ timeoutMs: 100 }));
  let downstreamError: unknown;
  app.get("/hang", async (c) => {
    const never = new Promise((_, reject) => {
      c.get("deadline").addEventListener("abort", () => reject(c.get("deadline").reason));
    });
    try {
      await never;
    } catch (e) {
      downstreamError = e;
      throw e;
    }
    return c.text("never");
  });
  await withServer(app, async (origin) => {
    const res = await fetch(`${origin}/hang`);
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error.reason, "timeout");
  });
  assert.ok(downstreamError instanceof RewarderError);
});

Deno.test("timeout validates options", () => {
  for (const bad of [0, -5, 1.5, 600_001]) {
    assert.throws(() => timeout({ timeoutMs: bad }), RangeError);
  }
  assert.throws(() => timeout({ timeoutMs: 10, retryAfterS: -1 }), RangeError);
});

Deno.test("a handler failing after its deadline is answered, counted and jittered once", async () => {
  const counted: string[] = [];
  let sleeps = 0;
  const app = new Hono<AppEnv>();
  const mapper = {
    jitterMsMax: 5,
    randomInt: () => 1,
    sleepMs: () => {
      sleeps += 1;
      return Promise.resolve();
    },
    onReject: (reason: string) => counted.push(reason),
  };
  app.onError(errorHandler(mapper));
  app.use(corrId());
  app.use(timeout({ timeoutMs: 20 }));
  let lateFailure!: () => void;
  const failed = new Promise<void>((resolve) => (lateFailure = resolve));
  app.get("/late", async (c) => {
    // Fails once the deadline has aborted its signal: after the 503 was decided.
    await new Promise((resolve) => c.get("deadline").addEventListener("abort", resolve));
    queueMicrotask(lateFailure);
    throw new RewarderError("DEPENDENCY_UNAVAILABLE", "source_unreachable");
  });
  const res = await app.request("/late");
  assert.equal(res.status, 503);
  assert.equal((await res.json()).error.reason, "timeout");
  await failed;
  // The late failure went through Hono's inner dispatch to onError as well; let it settle.
  await new Promise<void>((resolve) => queueMicrotask(resolve));
  assert.deepEqual(counted, ["timeout"], "one rejected_total increment per request");
  assert.equal(sleeps, 1, "one jitter per request");
});

Deno.test("one timer for all requests: each expires at its own deadline, fast ones in between are untouched", async () => {
  const timeoutMs = 300;
  const app = testApp(timeout({ timeoutMs }));
  // `/hang` waits for its deadline's abort and notes how long that took; `/fast` answers.
  const abortedAfterMs: number[] = [];
  app.get("/hang", async (c) => {
    const t0 = performance.now();
    await new Promise((resolve) => c.get("deadline").addEventListener("abort", resolve));
    abortedAfterMs.push(performance.now() - t0);
    return c.text("late");
  });
  app.get("/fast", (c) => c.text(c.get("deadline").aborted ? "aborted" : "ok"));
  const hang = async () => (await app.request("/hang")).status;
  const first = hang();
  // A second hanging request started shortly after the first, well before its deadline: the
  // timer armed for the first deadline must neither expire it early nor forget it.
  await new Promise((resolve) => setTimeout(resolve, 20)); // a gap between the two starts
  const second = hang();
  // Many fast requests while both hold the head of the queue.
  const fast = await Promise.all(Array.from({ length: 1_500 }, () => app.request("/fast")));
  for (const r of fast) assert.equal(await r.text(), "ok");
  assert.deepEqual(await Promise.all([first, second]), [503, 503]);
  assert.equal(abortedAfterMs.length, 2);
  for (const ms of abortedAfterMs) assert.ok(ms >= timeoutMs - 2, `aborted after ${ms} ms`);
  // The queue is empty again and works for the next ones (no timer is left behind: the test
  // sanitizer would report it).
  assert.equal(await (await app.request("/fast")).text(), "ok");
  assert.equal(await hang(), 503);
});
