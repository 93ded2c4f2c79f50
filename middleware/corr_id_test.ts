import assert from "node:assert/strict";
import { RewarderError } from "../src/core/errors.ts";
import { corrId, isCorrId } from "./corr_id.ts";
import { testApp } from "./_test_app.ts";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

Deno.test("corrId keeps a well-formed X-Corr-ID and echoes it", async () => {
  const app = testApp();
  app.get("/id", (c) => c.text(c.get("corrId")));
  const res = await app.request("/id", { headers: { "X-Corr-ID": "abc.DEF_123-x" } });
  assert.equal(await res.text(), "abc.DEF_123-x");
  assert.equal(res.headers.get("x-corr-id"), "abc.DEF_123-x");
});

Deno.test("corrId replaces malformed ids with a fresh UUID", async () => {
  const app = testApp();
  app.get("/id", (c) => c.text(c.get("corrId")));
  for (
    const bad of [
      "short",
      "x".repeat(65),
      "has space 12345",
      "semi;colon1234",
      "pct%20encoded12",
    ]
  ) {
    const res = await app.request("/id", { headers: { "X-Corr-ID": bad } });
    const id = await res.text();
    assert.match(id, UUID_RE, `for ${bad}`);
    assert.equal(res.headers.get("x-corr-id"), id);
  }
  const none = await app.request("/id");
  assert.match(await none.text(), UUID_RE);
});

Deno.test("corrId is on error answers, in the header and the body", async () => {
  const app = testApp();
  app.get("/boom", () => {
    throw new RewarderError("CONFLICT", "epoch_committed");
  });
  const res = await app.request("/boom", { headers: { "X-Corr-ID": "corr-12345678" } });
  assert.equal(res.status, 409);
  assert.equal(res.headers.get("x-corr-id"), "corr-12345678");
  assert.equal((await res.json()).error.corr_id, "corr-12345678");
});

Deno.test("corrId with trustIncoming false always generates; bad generator falls back", async () => {
  const app = testApp();
  const strict = corrId({ trustIncoming: false, generate: () => "gen-0000001" });
  app.get("/id", strict, (c) => c.text(c.get("corrId")));
  const res = await app.request("/id", { headers: { "X-Corr-ID": "caller-12345678" } });
  assert.equal(await res.text(), "gen-0000001");
  const broken = testApp(corrId({ generate: () => "no" }));
  broken.get("/id", (c) => c.text(c.get("corrId")));
  assert.match(await (await broken.request("/id")).text(), UUID_RE);
});

Deno.test("isCorrId bounds", () => {
  assert.equal(isCorrId("a".repeat(8)), true);
  assert.equal(isCorrId("a".repeat(64)), true);
  assert.equal(isCorrId("a".repeat(7)), false);
  assert.equal(isCorrId("a".repeat(65)), false);
  assert.equal(isCorrId(undefined), false);
});
