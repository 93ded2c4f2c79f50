import assert from "node:assert/strict";
import type { AuthContext } from "../src/shell/caps/auth_context.ts";
import { secureHeaders } from "./secure_headers.ts";
import { testApp } from "./_test_app.ts";

const AUTH: AuthContext = {
  tenant: "acme",
  scopes: [],
  identifier: "v1:acme:1:00",
  keyEpoch: 1,
  maxRuns: [],
};

function app() {
  const a = testApp(secureHeaders());
  a.get("/healthz", (c) => c.json({ ok: true }));
  a.get("/rewarder/keys", (c) => c.json({ keys: [] }));
  a.get("/authed", (c) => {
    c.set("auth", AUTH);
    return c.json({ ok: true });
  });
  a.get("/cors", (c) => {
    c.header("Access-Control-Allow-Origin", "*");
    c.header("Access-Control-Allow-Credentials", "true");
    return c.json({ ok: true });
  });
  a.get("/rewarder/padded", (c) => {
    c.header("Cache-Control", "no-store, no-transform");
    return c.json({});
  });
  a.get("/rewarder/cacheable", (c) => {
    c.header("Cache-Control", "max-age=60");
    return c.json({});
  });
  return a;
}

Deno.test("secureHeaders sets HSTS, nosniff and friends on every answer, errors included", async () => {
  for (const path of ["/healthz", "/nope"]) {
    const res = await app().request(path);
    assert.equal(
      res.headers.get("strict-transport-security"),
      "max-age=63072000; includeSubDomains",
    );
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'/);
  }
});

Deno.test("secureHeaders strips CORS headers", async () => {
  const res = await app().request("/cors", { headers: { Origin: "https://evil.example" } });
  assert.equal(res.headers.get("access-control-allow-origin"), null);
  assert.equal(res.headers.get("access-control-allow-credentials"), null);
});

Deno.test("no-store on /rewarder/* and authenticated answers, not on public probes", async () => {
  const a = app();
  assert.equal((await a.request("/healthz")).headers.get("cache-control"), null);
  assert.equal((await a.request("/rewarder/keys")).headers.get("cache-control"), "no-store");
  assert.equal((await a.request("/authed")).headers.get("cache-control"), "no-store");
  assert.equal(
    (await a.request("/rewarder/padded")).headers.get("cache-control"),
    "no-store, no-transform",
  );
  assert.equal(
    (await a.request("/rewarder/cacheable")).headers.get("cache-control"),
    "no-store, max-age=60",
  );
});

Deno.test("secureHeaders options", async () => {
  const a = testApp(secureHeaders({ hstsMaxAgeS: 0, noStorePathPrefix: "/x/" }));
  a.get("/x/y", (c) => c.json({}));
  const res = await a.request("/x/y");
  assert.equal(res.headers.get("strict-transport-security"), null);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.throws(() => secureHeaders({ hstsMaxAgeS: -1 }), RangeError);
});
