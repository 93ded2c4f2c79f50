import assert from "node:assert/strict";
import { Hono } from "hono";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { compression } from "./compression.ts";
import type { AppEnv } from "./context.ts";
import { paddedJsonResponse, paddedLength, padJsonBytes, padJsonText } from "./pad_response.ts";

Deno.test("paddedLength buckets: 1 KiB floor, powers of two, then 1 MiB steps", () => {
  const table: Array<[number, number]> = [
    [0, 1024],
    [1, 1024],
    [1024, 1024],
    [1025, 2048],
    [3000, 4096],
    [1_048_576, 1_048_576],
    [1_048_577, 2_097_152],
    [3_000_000, 3_145_728],
  ];
  for (const [n, want] of table) assert.equal(paddedLength(n), want, `${n}`);
  assert.throws(() => paddedLength(-1), RangeError);
  assert.throws(() => paddedLength(1.5), RangeError);
});

Deno.test("padding keeps the JSON value, hence the JCS hash input", () => {
  const envelope = { manifest: { schema: "svc-rewarder.manifest.v1", payouts: [{ a: "1" }] } };
  const json = canonicalJson(envelope);
  const padded = padJsonBytes(json);
  assert.equal(padded.byteLength, 1024);
  const text = new TextDecoder().decode(padded);
  assert.ok(text.startsWith(json));
  assert.match(text.slice(json.length), /^ +$/);
  assert.equal(canonicalJson(JSON.parse(text)), json);
});

Deno.test("padded responses escape compression so the bucket survives on the wire", async () => {
  const app = new Hono<AppEnv>();
  app.use(compression());
  const json = JSON.stringify({ x: "y".repeat(1500) });
  app.get("/m", () => paddedJsonResponse(json));
  app.get("/plain", (c) => c.json({ x: "y".repeat(1500) }));
  const headers = { "Accept-Encoding": "gzip" };
  const padded = await app.request("/m", { headers });
  assert.equal(padded.headers.get("content-encoding"), null);
  assert.match(padded.headers.get("cache-control") ?? "", /no-store.*no-transform/);
  assert.equal((await padded.arrayBuffer()).byteLength, 2048);
  const plain = await app.request("/plain", { headers });
  assert.equal(plain.headers.get("content-encoding"), "gzip");
});

Deno.test("padJsonText encodes to exactly padJsonBytes's bytes (non-ASCII, bucket edges) and counts them", () => {
  const jsons = [
    "{}",
    JSON.stringify({ account: "Zoë 😀 é", n: 1 }),
    `"${"a".repeat(1022)}"`, // 1,024 bytes: the first bucket exactly
    `"${"é".repeat(600)}"`, // 1,202 bytes in 602 chars: the second bucket
    `"${"x".repeat(5000)}"`,
  ];
  for (const json of jsons) {
    const { text, bytes } = padJsonText(json);
    const expected = padJsonBytes(json);
    assert.deepEqual(new TextEncoder().encode(text), expected, json.slice(0, 20));
    assert.equal(bytes, expected.byteLength);
  }
});
