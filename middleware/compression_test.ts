import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { Hono, type MiddlewareHandler } from "hono";
import { compress } from "hono/compress";
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

Deno.test("without Accept-Encoding the answer's headers are hono/compress's exactly (Vary or not, every case)", async () => {
  const build = (m: MiddlewareHandler) => {
    const a = new Hono();
    a.use(m);
    a.on(["GET", "HEAD"], "/r", (c) => {
      const q = c.req.query();
      const headers: Record<string, string> = {};
      for (
        const name of [
          "content-type",
          "content-length",
          "vary",
          "cache-control",
          "content-encoding",
        ]
      ) {
        const v = q[name];
        if (v !== undefined) headers[name] = v;
      }
      return new Response(c.req.method === "HEAD" ? null : "x".repeat(2048), {
        status: Number(q.status ?? "200"),
        headers,
      });
    });
    a.get("/json", (c) => c.json({ pad: "x".repeat(50) }));
    return a;
  };
  const ours = build(compression({ thresholdBytes: 1024 }) as unknown as MiddlewareHandler);
  const hono = build(
    compress({
      threshold: 1024,
      contentTypeFilter: /^(application\/(json|problem\+json)|text\/plain)\b/i,
    }),
  );
  const cases: string[] = ["/json"];
  for (const status of ["200", "206"]) {
    for (const type of ["application/json", "text/plain; charset=utf-8", "text/html", ""]) {
      for (const length of ["", "10", "0", "4096"]) {
        for (const vary of ["", "*", "Origin", "origin, Accept-Encoding"]) {
          for (const cc of ["", "no-store, no-transform", "no-store"]) {
            const q = new URLSearchParams({ status });
            if (type) q.set("content-type", type);
            if (length) q.set("content-length", length);
            if (vary) q.set("vary", vary);
            if (cc) q.set("cache-control", cc);
            cases.push(`/r?${q}`);
          }
        }
      }
    }
  }
  cases.push("/r?content-type=application/json&content-encoding=br");
  let varied = 0;
  for (const path of cases) {
    for (const method of path === "/json" ? ["GET"] : ["GET", "HEAD"]) {
      const [a, b] = [await ours.request(path, { method }), await hono.request(path, { method })];
      assert.deepEqual([...a.headers], [...b.headers], `${method} ${path}`);
      assert.equal(a.status, b.status);
      if (a.headers.has("vary")) varied += 1;
      await a.body?.cancel();
      await b.body?.cancel();
    }
  }
  assert.ok(varied > 10, `some answers get Vary (${varied})`);
});
