import assert from "node:assert/strict";
import { Hono } from "hono";
import { compression } from "../middleware/compression.ts";
import { errorResponse } from "../middleware/error_mapper.ts";
import { RewarderError } from "../src/core/errors.ts";
import { jsonAnswer } from "./json_answer.ts";

function app() {
  const a = new Hono();
  a.use(compression());
  a.get("/small", (c) => jsonAnswer(c, { run_key: "b3:" + "0".repeat(64), note: "é" }));
  a.get("/large", (c) => jsonAnswer(c, { items: "x".repeat(4096) }, 202));
  a.get("/error", () => errorResponse(new RewarderError("RATE_LIMITED", "rate_limited"), "id"));
  return a;
}
const gzip = { headers: { "accept-encoding": "gzip" } };

Deno.test("jsonAnswer: exact Content-Length (UTF-8 bytes); a small answer is not gzipped, a large one is", async () => {
  const small = await app().request("/small", gzip);
  assert.equal(small.headers.get("content-encoding"), null);
  const text = await small.text();
  assert.deepEqual(JSON.parse(text), { run_key: "b3:" + "0".repeat(64), note: "é" });
  assert.equal(Number(small.headers.get("content-length")), new TextEncoder().encode(text).length);
  assert.equal(small.headers.get("content-type"), "application/json");
  const large = await app().request("/large", gzip);
  assert.equal(large.status, 202);
  assert.equal(large.headers.get("content-encoding"), "gzip");
});

Deno.test("an error answer carries its Content-Length, so compression leaves it as it is", async () => {
  const res = await app().request("/error", gzip);
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("content-encoding"), null);
  const text = await res.text();
  assert.equal(Number(res.headers.get("content-length")), text.length);
  assert.equal(JSON.parse(text).error.reason, "rate_limited");
});
