import assert from "node:assert/strict";
import { Hono } from "hono";
import { rememberingRouter, ROUTER_MATCHES_REMEMBERED_MAX } from "./remembering_router.ts";

function app(remember: boolean) {
  const a = remember ? new Hono({ router: rememberingRouter() }) : new Hono();
  a.use("/rewarder/*", async (c, next) => {
    await next();
    c.res.headers.set("x-trace", `mw:${c.req.routePath}`);
  });
  const echo = (c: { req: { param(): unknown; routePath: string; method: string } }) =>
    Response.json({ params: c.req.param(), route: c.req.routePath, method: c.req.method });
  a.get("/rewarder/epochs/:epoch_id", echo);
  a.post("/rewarder/epochs/:epoch_id/compute", echo);
  a.get("/rewarder/epochs/:epoch_id/proofs/:account", echo);
  a.get("/rewarder/runs", echo);
  a.on(["GET", "PUT"], "/rewarder/quarantine", echo);
  a.get("/audit/*", echo);
  return a;
}

Deno.test("rememberingRouter answers as Hono's default router, also when a match is remembered", async () => {
  const [plain, remembering] = [app(false), app(true)];
  const requests: [string, string][] = [];
  for (
    const path of [
      "/rewarder/epochs/e1",
      "/rewarder/epochs/e%2F1",
      "/rewarder/epochs/e1/compute",
      "/rewarder/epochs/e1/proofs/acct%2Fx",
      "/rewarder/runs",
      "/rewarder/quarantine",
      "/audit/app.js",
      "/nope",
      `/rewarder/epochs/${"x".repeat(600)}`,
    ]
  ) for (const method of ["GET", "POST", "PUT", "HEAD", "DELETE"]) requests.push([method, path]);
  for (let i = 0; i < ROUTER_MATCHES_REMEMBERED_MAX + 100; i++) {
    requests.push(["GET", `/rewarder/epochs/e-${i}`]); // past the bound: evictions
  }
  for (let round = 0; round < 2; round++) {
    for (const [method, path] of requests) {
      const [a, b] = await Promise.all([
        remembering.request(path, { method }),
        plain.request(path, { method }),
      ]);
      const name = `${method} ${path.slice(0, 40)}`;
      assert.equal(a.status, b.status, name);
      assert.equal(a.headers.get("x-trace"), b.headers.get("x-trace"), name);
      assert.equal(await a.text(), await b.text(), name);
    }
  }
});
