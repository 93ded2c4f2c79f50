import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { Hono } from "hono";
import { bodyCap } from "./body_cap.ts";
import type { AppEnv } from "./context.ts";
import { decompress } from "./decompress.ts";
import { chunkedBody, rawRequest, testApp, withServer } from "./_test_app.ts";

const CAP = 1_048_576;

function post(body: BodyInit, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", body, headers, duplex: "half" } as RequestInit;
}

Deno.test("bodyCap passes a body at the cap and the handler sees it", async () => {
  const app = testApp(bodyCap({ bodyBytesMax: 16 }));
  const res = await app.request("/echo", post("0123456789abcdef"));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { bytes: 16, text: "0123456789abcdef", encoding: null });
  const empty = await app.request("/echo");
  assert.equal(empty.status, 200);
});

Deno.test("bodyCap refuses a declared length over the cap with 413 oversize", async () => {
  const reasons: string[] = [];
  const app = testApp(bodyCap({ bodyBytesMax: 16, onReject: (r) => reasons.push(r) }));
  const res = await app.request("/echo", post("0123456789abcdefg"));
  assert.equal(res.status, 413);
  const body = await res.json();
  assert.equal(body.error.code, "BAD_REQUEST");
  assert.equal(body.error.reason, "oversize");
  assert.deepEqual(reasons, ["oversize"]);
});

Deno.test("bodyCap counts streamed bytes in-process (no length, and a lying length)", async () => {
  const app = testApp(bodyCap({ bodyBytesMax: 1024 }));
  const chunked = await app.request("/echo", post(chunkedBody(5, 300)));
  assert.equal(chunked.status, 413);
  const lying = await app.request(
    "/echo",
    post(chunkedBody(5, 300), { "content-length": "10" }),
  );
  assert.equal(lying.status, 413);
  const fits = await app.request("/echo", post(chunkedBody(3, 300)));
  assert.equal((await fits.json()).bytes, 900);
});

Deno.test("bodyCap refuses a malformed Content-Length and a body that is too slow", async () => {
  const app = testApp(bodyCap({ bodyBytesMax: 1024, readTimeoutMs: 50 }));
  const bad = await app.request(
    "/echo",
    post(new ReadableStream({ start: (c) => c.close() }), { "content-length": "-1" }),
  );
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.reason, "content_length");
  const stalled = new ReadableStream<Uint8Array>({
    start: (c) => c.enqueue(new Uint8Array(10)), // never closes
  });
  const slow = await app.request("/echo", post(stalled));
  assert.equal(slow.status, 503);
  assert.equal((await slow.json()).error.reason, "timeout");
  assert.equal(slow.headers.get("retry-after"), "1");
});

Deno.test("bodyCap validates options at wiring time", () => {
  for (const bad of [0, -1, 1.5, 9 * 1024 * 1024]) {
    assert.throws(() => bodyCap({ bodyBytesMax: bad }), RangeError);
  }
  assert.throws(() => bodyCap({ bodyBytesMax: 10, readTimeoutMs: 0 }), RangeError);
});

Deno.test("bodyCap over a real socket: 1 MiB passes, 1 MiB + 1 refused, chunked too", async () => {
  const app = testApp(bodyCap({ bodyBytesMax: CAP }));
  await withServer(app, async (origin) => {
    const ok = await fetch(`${origin}/echo`, post(new Uint8Array(CAP)));
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).bytes, CAP);
    const over = await fetch(`${origin}/echo`, post(new Uint8Array(CAP + 1)));
    assert.equal(over.status, 413);
    assert.equal((await over.json()).error.reason, "oversize");
    // fetch with a ReadableStream body sends Transfer-Encoding: chunked, no length.
    const chunked = await fetch(`${origin}/echo`, post(chunkedBody(17, 65_536)));
    assert.equal(chunked.status, 413);
    await chunked.body?.cancel();
    const chunkedOk = await fetch(`${origin}/echo`, post(chunkedBody(16, 65_536)));
    assert.equal((await chunkedOk.json()).bytes, CAP);
  });
});

Deno.test("bodyCap over a raw socket: chunked without length, and an over-cap length", async () => {
  const app = testApp(bodyCap({ bodyBytesMax: CAP }));
  await withServer(app, async (_origin, port) => {
    const chunk = new Uint8Array(65_536).fill(0x61);
    const hex = chunk.byteLength.toString(16);
    const parts: Uint8Array[] = [];
    const enc = new TextEncoder();
    for (let i = 0; i < 17; i += 1) {
      parts.push(enc.encode(`${hex}\r\n`), chunk, enc.encode("\r\n"));
    }
    parts.push(enc.encode("0\r\n\r\n"));
    const body = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) (body.set(p, at), at += p.byteLength);
    const head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    assert.equal(await rawRequest(port, head, body), 413);
    // Declared length over the cap: refused before the body is even sent.
    const big = `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${CAP + 1}\r\n` +
      "Connection: close\r\n\r\n";
    assert.equal(await rawRequest(port, big), 413);
  });
});

Deno.test("bodyCap: the buffered body answers arrayBuffer, text and json as the request would; a coded body still reaches decompress", async () => {
  const app = new Hono<AppEnv>();
  app.use(bodyCap({ bodyBytesMax: CAP }));
  app.use(decompress({ bodyBytesMax: CAP, inflatedBytesMax: CAP, ratioMax: 100 }));
  app.post("/read", async (c) => {
    const bytes = [...new Uint8Array(await c.req.arrayBuffer())];
    return c.json({ bytes, text: await c.req.text(), json: await c.req.json() });
  });
  // A leading BOM, non-ASCII text, an escape: what Fetch's text() and JSON.parse make of them.
  const body = new TextEncoder().encode('\uFEFF{"name":"Zoë \\u00e9","n":[1,2]}');
  const expected = {
    bytes: [...body],
    text: await new Response(body).text(),
    json: JSON.parse(await new Response(body).text()),
  };
  for (const headers of [{}, { "content-encoding": "identity" }]) {
    const res = await app.request("/read", post(body, headers));
    assert.deepEqual(await res.json(), expected);
  }
  const gz = await app.request(
    "/read",
    post(new Uint8Array(gzipSync(body)), { "content-encoding": "gzip" }),
  );
  assert.deepEqual(await gz.json(), expected);
});
