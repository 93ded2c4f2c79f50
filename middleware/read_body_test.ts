import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { bodyCap } from "./body_cap.ts";
import { contentType } from "./content_type.ts";
import { decompress } from "./decompress.ts";
import { readBody } from "./read_body.ts";
import { testApp } from "./_test_app.ts";

const CAP = 64;
const caps = {
  bodyCap: { bodyBytesMax: CAP },
  decompress: { bodyBytesMax: CAP, inflatedBytesMax: 4 * CAP, ratioMax: 10 },
};

Deno.test("readBody answers as contentType, bodyCap and decompress in a row (bodiless GETs included)", async () => {
  const fused = testApp(readBody(caps));
  const three = testApp(contentType(), bodyCap(caps.bodyCap), decompress(caps.decompress));
  const json = { "content-type": "application/json" };
  const gz = new Uint8Array(gzipSync(new TextEncoder().encode('{"a":1}')));
  const cases: [string, RequestInit][] = [
    ["GET", {}],
    ["GET gzip coding, no body", { headers: { "content-encoding": "gzip" } }],
    ["GET identity coding", { headers: { "content-encoding": "identity" } }],
    ["DELETE", { method: "DELETE" }],
    ["POST json", { method: "POST", headers: json, body: '{"a":1}' }],
    ["POST no type", { method: "POST", body: '{"a":1}' }],
    ["POST text/plain", { method: "POST", headers: { "content-type": "text/plain" }, body: "x" }],
    ["POST over the cap", { method: "POST", headers: json, body: "x".repeat(CAP + 1) }],
    ["POST gzip", { method: "POST", headers: { ...json, "content-encoding": "gzip" }, body: gz }],
    ["POST br", { method: "POST", headers: { ...json, "content-encoding": "br" }, body: "x" }],
    ["PUT no body", { method: "PUT", headers: json }],
    ["POST empty", { method: "POST", headers: json, body: "" }],
  ];
  for (const [name, init] of cases) {
    const [a, b] = [await fused.request("/echo", init), await three.request("/echo", init)];
    assert.equal(a.status, b.status, name);
    const [ja, jb] = [await a.json(), await b.json()];
    if (ja.error !== undefined) {
      assert.deepEqual([ja.error.code, ja.error.reason], [jb.error.code, jb.error.reason], name);
    } else assert.deepEqual(ja, jb, name);
  }
});
