import assert from "node:assert/strict";
import zlib from "node:zlib";
import { bodyCap } from "./body_cap.ts";
import { decompress, zstdAvailable } from "./decompress.ts";
import { rawRequest, testApp, withServer } from "./_test_app.ts";

const MIB = 1024 * 1024;
const DEFAULTS = { bodyBytesMax: MIB, inflatedBytesMax: 8 * MIB, ratioMax: 10 };
const enc = new TextEncoder();
const JSON_BODY = enc.encode(JSON.stringify({ inputs_cid: "b3:" + "a".repeat(64), dry_run: true }));

function post(bytes: Uint8Array, encoding?: string): RequestInit {
  const body = new Uint8Array(bytes); // Buffer → plain Uint8Array<ArrayBuffer> (BodyInit)
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (encoding !== undefined) headers["content-encoding"] = encoding;
  return { method: "POST", body, headers };
}

/** Inflates to `bytes` of pseudo-random hex text (ratio about 2), for post-inflate cap tests. */
function hexText(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = 0x12345678;
  for (let i = 0; i < bytes; i += 1) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = "0123456789abcdef".charCodeAt((x >>> 16) & 15);
  }
  return out;
}

async function reasonOf(res: Response): Promise<[number, string]> {
  return [res.status, (await res.json()).error.reason];
}

Deno.test("identity and absent encodings pass untouched", async () => {
  const app = testApp(decompress(DEFAULTS));
  for (const e of [undefined, "identity", " Identity "]) {
    const res = await app.request("/echo", post(JSON_BODY, e));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).bytes, JSON_BODY.byteLength);
  }
});

Deno.test("gzip is inflated and the handler sees the plain body without Content-Encoding", async () => {
  const app = testApp(decompress(DEFAULTS));
  for (const e of ["gzip", "GZIP", "x-gzip"]) {
    const res = await app.request("/echo", post(zlib.gzipSync(JSON_BODY), e));
    assert.equal(res.status, 200, e);
    const body = await res.json();
    assert.equal(body.text, new TextDecoder().decode(JSON_BODY));
    assert.equal(body.encoding, null);
  }
});

Deno.test("zstd is inflated where the runtime has it, refused when disabled", async () => {
  const z = (zlib as unknown as { zstdCompressSync?: (b: Uint8Array) => Uint8Array })
    .zstdCompressSync;
  if (!zstdAvailable() || z === undefined) {
    console.log("skip: node:zlib has no zstd on this runtime (Node 20); 415 is covered below");
  } else {
    const res = await testApp(decompress(DEFAULTS)).request("/echo", post(z(JSON_BODY), "zstd"));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).bytes, JSON_BODY.byteLength);
  }
  const off = testApp(decompress({ ...DEFAULTS, zstd: false }));
  assert.deepEqual(await reasonOf(await off.request("/echo", post(JSON_BODY, "zstd"))), [
    415,
    "encoding",
  ]);
});

Deno.test("unknown, several and nested encodings are 415 encoding", async () => {
  const reasons: string[] = [];
  const app = testApp(decompress({ ...DEFAULTS, onReject: (r) => reasons.push(r) }));
  const gz = zlib.gzipSync(JSON_BODY);
  const cases: Array<[Uint8Array, string]> = [
    [JSON_BODY, "br"],
    [JSON_BODY, "deflate"],
    [JSON_BODY, "compress"],
    [zlib.gzipSync(gz), "gzip, gzip"],
    [gz, "gzip,identity"],
    [zlib.gzipSync(gz), "gzip"], // a gzip inside the gzip: nested archive
    [enc.encode("not gzip at all"), "gzip"], // corrupt
    [new Uint8Array(0), "gzip"],
  ];
  for (const [body, e] of cases) {
    assert.deepEqual(
      await reasonOf(await testApp(decompress(DEFAULTS)).request("/echo", post(body, e))),
      [
        415,
        "encoding",
      ],
      e,
    );
  }
  await app.request("/echo", post(JSON_BODY, "br"));
  assert.deepEqual(reasons, ["encoding"]);
});

Deno.test("ratio over DECOMP_RATIO_MAX and size over POST_INFLATE_MAX are 413 decompress_cap", async () => {
  // 64 KiB of zeros gzips to ~100 bytes: ratio far over 10.
  const bomb = zlib.gzipSync(new Uint8Array(64 * 1024));
  const app = testApp(decompress(DEFAULTS));
  assert.deepEqual(await reasonOf(await app.request("/echo", post(bomb, "gzip"))), [
    413,
    "decompress_cap",
  ]);
  // Ratio ~2 (hex text) but 96 KiB inflated against a 64 KiB post-inflate cap.
  const big = zlib.gzipSync(hexText(96 * 1024));
  const small = testApp(decompress({ ...DEFAULTS, inflatedBytesMax: 64 * 1024 }));
  assert.deepEqual(await reasonOf(await small.request("/echo", post(big, "gzip"))), [
    413,
    "decompress_cap",
  ]);
  const fits = zlib.gzipSync(hexText(60 * 1024));
  assert.equal((await small.request("/echo", post(fits, "gzip"))).status, 200);
});

Deno.test("compressed bodies over the body cap are 413 oversize before inflating", async () => {
  const app = testApp(decompress({ ...DEFAULTS, bodyBytesMax: 1024 }));
  const gz = zlib.gzipSync(hexText(8 * 1024));
  assert.deepEqual(await reasonOf(await app.request("/echo", post(gz, "gzip"))), [413, "oversize"]);
});

Deno.test("decompress validates options at wiring time", () => {
  assert.throws(() => decompress({ ...DEFAULTS, ratioMax: 0 }), RangeError);
  assert.throws(() => decompress({ ...DEFAULTS, inflatedBytesMax: 1.5 }), RangeError);
  assert.throws(() => decompress({ ...DEFAULTS, bodyBytesMax: -1 }), RangeError);
});

Deno.test("zip bombs over a real socket are refused; nested codings too", async () => {
  const app = testApp(bodyCap({ bodyBytesMax: MIB }), decompress(DEFAULTS));
  const tenMiB = zlib.gzipSync(new Uint8Array(10 * MIB));
  await withServer(app, async (origin, port) => {
    const res = await fetch(`${origin}/echo`, post(tenMiB, "gzip"));
    assert.deepEqual(await reasonOf(res), [413, "decompress_cap"]);
    const nested = await fetch(`${origin}/echo`, post(zlib.gzipSync(tenMiB), "gzip, gzip"));
    assert.deepEqual(await reasonOf(nested), [415, "encoding"]);
    const gz = zlib.gzipSync(JSON_BODY);
    const head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
      `Content-Encoding: gzip\r\nContent-Length: ${gz.byteLength}\r\nConnection: close\r\n\r\n`;
    assert.equal(await rawRequest(port, head, gz), 200);
  });
});

Deno.test("a 512 MiB gzip bomb is refused with bounded memory (own process)", async () => {
  const probe = new URL("./_bomb_probe.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-net=127.0.0.1", probe],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr).slice(-2000));
  const result = JSON.parse(text);
  assert.deepEqual(result.statuses, [413, 413, 413, 413]);
  assert.ok(result.bombBytes < MIB, "the bomb fits the body cap, so inflating is what is tested");
  const grownMiB = result.rssGrowthBytes / MIB;
  // Unbounded inflating needs 512 MiB per request; the caps allow ≤ 8 MiB each.
  assert.ok(grownMiB < 96, `rss grew ${grownMiB.toFixed(1)} MiB`);
});
