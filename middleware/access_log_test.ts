import assert from "node:assert/strict";
import { Hono } from "hono";
import { Registry } from "prom-client";
import { configureLogging, createArraySink, getLogger } from "../src/shell/observe/log.ts";
import { createAccessLogBuffer, createLineBuffer } from "../src/shell/observe/line_buffer.ts";
import { accessLog } from "./access_log.ts";
import type { AppEnv } from "./context.ts";

Deno.test("accessLog writes one JSON line with the route pattern, never the raw path or headers", async () => {
  const { sink, lines } = createArraySink();
  await configureLogging({ level: "info", sink });
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("corrId", "corr-12345678");
    await next();
  });
  app.use("/rewarder/*", accessLog({ logger: getLogger("http") }));
  app.get("/rewarder/epochs/:epoch_id", (c) => c.json({ ok: true }));
  const res = await app.request("/rewarder/epochs/secret-epoch-name", {
    headers: { Authorization: "Macaroon AgIpdjE6ZGV2OjE6abcdefSECRET" },
  }, { peer: { transport: "tcp", address: "127.0.0.1" } });
  assert.equal(res.status, 200);
  const line = lines.find((l) => l.includes("/rewarder/epochs/:epoch_id"));
  assert.ok(line, "an access line was written");
  const rec = JSON.parse(line);
  assert.equal(rec.corr_id, "corr-12345678");
  assert.equal(rec.peer_addr, "127.0.0.1");
  assert.ok(!line.includes("secret-epoch-name"));
  assert.ok(!line.includes("SECRET"));
});

function appWith(buffer: ReturnType<typeof createAccessLogBuffer>) {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("corrId", c.req.header("x-n") ?? "none");
    await next();
  });
  app.use("/rewarder/*", accessLog({ logger: getLogger("access"), buffer }));
  app.get("/rewarder/epochs/:epoch_id", (c) => c.json({ ok: true }));
  return app;
}

Deno.test("buffered access log: 10,000 requests' lines are all written, in order, none on the request's path", async () => {
  const { sink, lines } = createArraySink();
  await configureLogging({ level: "info", sink });
  const buffer = createAccessLogBuffer({ itemsMax: 20_000 });
  const app = appWith(buffer);
  let writtenDuringRequests = 0;
  for (let n = 0; n < 10_000; n++) {
    const res = await app.request(`/rewarder/epochs/e${n}`, { headers: { "x-n": `c${n}` } });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    if (n === 0) writtenDuringRequests = lines.length;
  }
  assert.equal(writtenDuringRequests, 0, "the first request did not write its own line");
  buffer.close(); // the shutdown path
  const access = lines.map((l) => JSON.parse(l)).filter((r) =>
    r.category === "svc-rewarder.access"
  );
  assert.equal(access.length, 10_000);
  assert.deepEqual(access.map((r) => r.corr_id), Array.from({ length: 10_000 }, (_, n) => `c${n}`));
  assert.equal(access[0].message, "GET /rewarder/epochs/:epoch_id 200");
  assert.equal(buffer.stats().dropped, 0);
  // After close, a late line is written at once.
  await app.request("/rewarder/epochs/late", { headers: { "x-n": "late" } });
  assert.equal(JSON.parse(lines.at(-1)!).corr_id, "late");
});

Deno.test("buffered access log: past the bound lines are dropped and counted, requests never wait", async () => {
  const { sink, lines } = createArraySink();
  await configureLogging({ level: "info", sink });
  const registry = new Registry();
  // The flush is held here: the writer never gets to run while the requests are served.
  const flushes: (() => void)[] = [];
  const buffer = createAccessLogBuffer({
    itemsMax: 100,
    metrics: registry,
    schedule: (flush) => void flushes.push(flush),
  });
  const app = appWith(buffer);
  for (let n = 0; n < 1_000; n++) {
    const res = await app.request(`/rewarder/epochs/e${n}`, { headers: { "x-n": `c${n}` } });
    assert.equal(res.status, 200, "every request answered");
  }
  assert.deepEqual([buffer.stats().buffered, buffer.stats().dropped], [100, 900]);
  assert.equal(
    lines.filter((l) => l.includes("svc-rewarder.access")).length,
    0,
    "none written yet",
  );
  assert.match(await registry.metrics(), /^access_log_dropped_total 900$/m);
  assert.equal(flushes.length, 1, "one flush armed for the whole batch");
  flushes[0]!();
  const written = lines.map((l) => JSON.parse(l)).filter((r) =>
    r.category === "svc-rewarder.access"
  );
  assert.deepEqual(written.map((r) => r.corr_id), Array.from({ length: 100 }, (_, n) => `c${n}`));
  buffer.close();
});

Deno.test("line buffer: a failing writer loses its batch, is reported, and the next batch is written", () => {
  const batches: number[][] = [];
  const errors: unknown[] = [];
  let fail = true;
  const b = createLineBuffer<number>({
    itemsMax: 10,
    schedule: () => {},
    write: (items) => {
      if (fail) throw new Error("EPIPE");
      batches.push(items);
    },
    onError: (err) => errors.push(err),
  });
  b.push(1);
  b.flush();
  fail = false;
  b.push(2);
  b.push(3);
  b.flush();
  assert.deepEqual(batches, [[2, 3]]);
  assert.equal(errors.length, 1);
  assert.deepEqual(b.stats(), { buffered: 0, written: 2, dropped: 0, itemsMax: 10 });
});
