/**
 * Test probe run in its own process by decompress_test.ts, so the resident-memory figure is
 * not disturbed by other test files running in parallel: serves the body cap and the
 * decompression middleware on 127.0.0.1:0, posts a gzip bomb four times and prints one JSON
 * line `{"statuses":[…],"rssGrowthBytes":n}`.
 *
 * @module
 */
import zlib from "node:zlib";
import { bodyCap } from "./body_cap.ts";
import { decompress } from "./decompress.ts";
import { testApp, withServer } from "./_test_app.ts";

const MIB = 1024 * 1024;
/** Bomb members: 32 × 16 MiB of zeros = 512 MiB inflated from about 0.5 MiB. */
const MEMBERS = 32;

const one = zlib.gzipSync(new Uint8Array(16 * MIB), { level: 9 });
const bomb = new Uint8Array(one.byteLength * MEMBERS);
for (let i = 0; i < MEMBERS; i += 1) bomb.set(one, i * one.byteLength);

const app = testApp(
  bodyCap({ bodyBytesMax: MIB }),
  decompress({ bodyBytesMax: MIB, inflatedBytesMax: 8 * MIB, ratioMax: 10 }),
);
const statuses: number[] = [];
let rssGrowthBytes = 0;
await withServer(app, async (origin) => {
  const rssBefore = Deno.memoryUsage().rss;
  for (let i = 0; i < 4; i += 1) {
    const res = await fetch(`${origin}/echo`, {
      method: "POST",
      body: bomb,
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
    });
    statuses.push(res.status);
    await res.body?.cancel();
  }
  rssGrowthBytes = Deno.memoryUsage().rss - rssBefore;
});
console.log(JSON.stringify({ statuses, bombBytes: bomb.byteLength, rssGrowthBytes }));
