import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { compression } from "./compression.ts";
import { testApp } from "./_test_app.ts";

function app() {
  const a = testApp(compression({ thresholdBytes: 1024 }));
  a.get("/big", (c) => c.json({ pad: "x".repeat(4096) }));
  // hono/compress reads the threshold from Content-Length; c.json() sets none.
  a.get("/small", () =>
    new Response('{"ok":true}', {
      headers: { "content-type": "application/json", "content-length": "11" },
    }));
  return a;
}

Deno.test("compression gzips large JSON for clients that accept it", async () => {
  const res = await app().request("/big", { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(res.headers.get("content-encoding"), "gzip");
  assert.match(res.headers.get("vary") ?? "", /accept-encoding/i);
  const text = new TextDecoder().decode(gunzipSync(new Uint8Array(await res.arrayBuffer())));
  assert.equal(JSON.parse(text).pad.length, 4096);
});

Deno.test("compression leaves small bodies and clients without Accept-Encoding alone", async () => {
  const a = app();
  const small = await a.request("/small", { headers: { "Accept-Encoding": "gzip" } });
  assert.equal(small.headers.get("content-encoding"), null);
  const plain = await a.request("/big");
  assert.equal(plain.headers.get("content-encoding"), null);
  assert.throws(() => compression({ thresholdBytes: -1 }), RangeError);
});
