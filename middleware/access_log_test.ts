import assert from "node:assert/strict";
import { Hono } from "hono";
import { configureLogging, createArraySink, getLogger } from "../src/shell/observe/log.ts";
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
