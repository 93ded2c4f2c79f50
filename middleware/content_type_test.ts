import assert from "node:assert/strict";
import { contentType, isJsonMediaType } from "./content_type.ts";
import { testApp } from "./_test_app.ts";

Deno.test("isJsonMediaType accepts JSON with at most charset=utf-8", () => {
  const good = [
    "application/json",
    "Application/JSON",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    'application/json; charset="utf-8"',
  ];
  const bad = [
    undefined,
    "",
    "text/plain",
    "application/jsonx",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "application/json; charset=utf-8; x=y",
    "application/json; boundary=x",
    "application/json; charset",
    "application/json" + " ".repeat(200),
  ];
  for (const v of good) assert.equal(isJsonMediaType(v), true, v);
  for (const v of bad) assert.equal(isJsonMediaType(v), false, String(v));
});

Deno.test("contentType refuses non-JSON POST/PUT/PATCH with 415 media_type, lets GET pass", async () => {
  const reasons: string[] = [];
  const app = testApp(contentType({ onReject: (r) => reasons.push(r) }));
  for (const method of ["POST", "PUT", "PATCH"]) {
    const bad = await app.request("/echo", {
      method,
      body: "a=1",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(bad.status, 415, method);
    const body = await bad.json();
    assert.equal(body.error.reason, "media_type");
    assert.doesNotMatch(JSON.stringify(body), /urlencoded/);
    const none = await app.request("/echo", {
      method,
      body: "{}",
      headers: { "content-type": "" },
    });
    assert.equal(none.status, 415, `${method} without type`);
    const ok = await app.request("/echo", {
      method,
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    assert.equal(ok.status, 200, method);
  }
  assert.equal((await app.request("/echo")).status, 200);
  assert.equal(reasons.length, 6);
  assert.ok(reasons.every((r) => r === "media_type"));
});
