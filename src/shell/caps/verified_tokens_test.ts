import assert from "node:assert/strict";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { RewarderError } from "../../core/errors.ts";
import type { RequestDescription } from "./authorize.ts";
import { openKeyRing } from "./key_file.ts";
import { mintToken } from "./mint.ts";
import { verifyToken } from "./verifier.ts";
import { createVerifiedTokenCache, verifiedTokenCacheFor } from "./verified_tokens.ts";

const SECRET_1 = new Uint8Array(32).fill(1);
const SECRET_2 = new Uint8Array(32).fill(2);
const T0 = Date.parse("2031-01-01T00:00:00Z");
const DEADLINE = "2031-01-01T00:10:00Z";
const REQ: RequestDescription = {
  method: "GET",
  path: "/rewarder/epochs/e1",
  scope: "rewarder.inspect",
  epochId: "e1",
  peer: { transport: "tcp", address: "10.0.0.7" },
  nowMs: T0,
};

function keyFile(o: { current: number; epochs: Record<string, Uint8Array>; revoked?: number[] }) {
  const epochs = Object.fromEntries(Object.entries(o.epochs).map(([k, v]) => [k, toBase64Url(v)]));
  return JSON.stringify({ current_epoch: o.current, epochs, revoked: o.revoked ?? [] });
}

/** A ring over an in-memory key file, with its clock and its file text settable. */
async function ring(text: string) {
  const state = { text, now: T0 };
  const keys = await openKeyRing({
    path: "/caps.json",
    reloadIntervalMs: 60_000,
    nowMs: () => state.now,
    reader: () => Promise.resolve({ mode: 0o600, text: state.text }),
  });
  return { keys, state };
}

function token(keyEpoch: number, secret: Uint8Array, caveats: string[], nonce = "00") {
  return mintToken({
    masterSecret: secret,
    tenant: "acme",
    keyEpoch,
    scopes: ["rewarder.inspect"],
    nonceHex: nonce.padStart(16, "0"),
    caveats,
  });
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RewarderError) return `${err.code}/${err.reason}`;
    throw err;
  }
  return "allowed";
}

Deno.test("a cached token still fails its `time <` caveat once the clock passes it", async () => {
  const { keys } = await ring(keyFile({ current: 1, epochs: { "1": SECRET_1 } }));
  const cache = createVerifiedTokenCache();
  const t = token(1, SECRET_1, [`time < ${DEADLINE}`, "ip = 10.0.0.0/8"]);
  assert.equal((await verifyToken(t, REQ, keys, { cache })).tenant, "acme");
  assert.equal((await verifyToken(t, REQ, keys, { cache })).tenant, "acme");
  assert.deepEqual([cache.stats().misses, cache.stats().hits], [1, 1]);
  const late = { ...REQ, nowMs: Date.parse(DEADLINE) };
  assert.equal(await refusal(verifyToken(t, late, keys, { cache })), "UNAUTHORIZED/caveat_time");
  // The request's own facts too: another peer, path, scope or epoch, on the cached entry.
  const elsewhere = { ...REQ, peer: { transport: "tcp" as const, address: "192.0.2.1" } };
  assert.equal(await refusal(verifyToken(t, elsewhere, keys, { cache })), "UNAUTHORIZED/caveat_ip");
  const run = { ...REQ, scope: "rewarder.run" };
  assert.equal(await refusal(verifyToken(t, run, keys, { cache })), "UNAUTHORIZED/scope");
  assert.deepEqual([cache.stats().misses, cache.stats().hits], [1, 4], "every check was a hit");
});

Deno.test("every request-dependent caveat is evaluated on a cache hit", async () => {
  const { keys } = await ring(keyFile({ current: 1, epochs: { "1": SECRET_1 } }));
  const cache = createVerifiedTokenCache();
  const t = token(1, SECRET_1, [
    "method = GET",
    "path ^= /rewarder/epochs/e1",
    "epoch_id = e1",
    "tenant = acme",
    "scope = rewarder.inspect",
    "max_runs = 3",
  ]);
  const first = await verifyToken(t, REQ, keys, { cache });
  const again = await verifyToken(t, REQ, keys, { cache });
  assert.deepEqual(again, first, "a hit answers what the full check answered");
  assert.deepEqual(again.maxRuns, [{ counterKey: `${first.identifier}#5`, limit: 3 }]);
  const cases: [Partial<RequestDescription>, string][] = [
    [{ method: "POST" }, "caveat_method"],
    [{ path: "/rewarder/epochs/e10", epochId: "e10" }, "caveat_path"],
    [{ epochId: "e2" }, "caveat_epoch_id"],
  ];
  for (const [change, reason] of cases) {
    assert.equal(
      await refusal(verifyToken(t, { ...REQ, ...change }, keys, { cache })),
      `UNAUTHORIZED/${reason}`,
    );
  }
  const acc = token(1, SECRET_1, ["account = alice"], "01");
  const proof = { ...REQ, account: "alice" };
  await verifyToken(acc, proof, keys, { cache });
  await verifyToken(acc, proof, keys, { cache });
  assert.equal(
    await refusal(verifyToken(acc, { ...proof, account: "bob" }, keys, { cache })),
    "UNAUTHORIZED/caveat_account",
  );
  assert.equal(cache.stats().misses, 2);
});

Deno.test("a revoked key epoch stops a cached token right after the ring reloads", async () => {
  const { keys, state } = await ring(
    keyFile({ current: 2, epochs: { "1": SECRET_1, "2": SECRET_2 } }),
  );
  const subscribed = verifiedTokenCacheFor(keys);
  const unsubscribed = createVerifiedTokenCache(); // relies on the ring's answer alone
  const t = token(1, SECRET_1, []);
  for (const cache of [subscribed, unsubscribed]) {
    await verifyToken(t, REQ, keys, { cache });
    await verifyToken(t, REQ, keys, { cache });
    assert.equal(cache.stats().hits, 1);
  }
  state.text = keyFile({ current: 2, epochs: { "1": SECRET_1, "2": SECRET_2 }, revoked: [1] });
  await keys.reload();
  assert.equal(subscribed.stats().entries, 0, "the ring's change emptied the cache");
  assert.equal(unsubscribed.stats().entries, 1);
  for (const cache of [subscribed, unsubscribed]) {
    assert.equal(await refusal(verifyToken(t, REQ, keys, { cache })), "UNAUTHENTICATED/key_epoch");
  }
  assert.equal(unsubscribed.stats().entries, 0, "a refused hit is dropped");
  subscribed.close();
});

Deno.test("a lazy reload (the interval passed) stops a cached token of a revoked epoch", async () => {
  const { keys, state } = await ring(
    keyFile({ current: 2, epochs: { "1": SECRET_1, "2": SECRET_2 } }),
  );
  const cache = createVerifiedTokenCache();
  const t = token(1, SECRET_1, []);
  await verifyToken(t, REQ, keys, { cache });
  state.text = keyFile({ current: 2, epochs: { "1": SECRET_1, "2": SECRET_2 }, revoked: [1] });
  assert.equal((await verifyToken(t, REQ, keys, { cache })).tenant, "acme", "not reloaded yet");
  state.now += 60_000;
  assert.equal(
    await refusal(verifyToken(t, { ...REQ, nowMs: state.now }, keys, { cache })),
    "UNAUTHENTICATED/key_epoch",
  );
});

Deno.test("a new secret under the same key epoch refuses tokens cached under the old one", async () => {
  const { keys, state } = await ring(keyFile({ current: 1, epochs: { "1": SECRET_1 } }));
  const cache = createVerifiedTokenCache();
  const t = token(1, SECRET_1, []);
  await verifyToken(t, REQ, keys, { cache });
  // A reload of the same keys (new arrays, same bytes) keeps the entry.
  await keys.reload();
  await verifyToken(t, REQ, keys, { cache });
  assert.deepEqual([cache.stats().hits, cache.stats().entries], [1, 1]);
  state.text = keyFile({ current: 1, epochs: { "1": SECRET_2 } });
  await keys.reload();
  assert.equal(await refusal(verifyToken(t, REQ, keys, { cache })), "UNAUTHENTICATED/signature");
  assert.equal(cache.stats().entries, 0);
});

Deno.test("a token with a flipped byte is a miss and is refused; refusals are not cached", async () => {
  const { keys } = await ring(keyFile({ current: 1, epochs: { "1": SECRET_1 } }));
  const cache = createVerifiedTokenCache();
  const t = token(1, SECRET_1, ["method = GET"]);
  await verifyToken(t, REQ, keys, { cache });
  const bytes = fromBase64Url(t);
  for (const at of [bytes.length - 1, bytes.length - 20, 10]) {
    const flipped = bytes.slice();
    flipped[at]! ^= 0x01;
    const misses = cache.stats().misses;
    const r = await refusal(verifyToken(toBase64Url(flipped), REQ, keys, { cache }));
    assert.match(r, /^UNAUTHENTICATED\/(signature|identifier|token_malformed)$/);
    assert.equal(cache.stats().misses, misses + 1);
  }
  assert.equal(cache.stats().entries, 1, "only the authentic token is kept");
  // A forged token sent twice costs the full check twice: it is never a hit.
  const forged = bytes.slice();
  forged[bytes.length - 1]! ^= 0x80;
  for (let i = 0; i < 2; i++) {
    assert.equal(
      await refusal(verifyToken(toBase64Url(forged), REQ, keys, { cache })),
      "UNAUTHENTICATED/signature",
    );
  }
  assert.equal(cache.stats().hits, 0);
});

Deno.test("the cache stays bounded by entries and by token characters", async () => {
  const { keys } = await ring(keyFile({ current: 1, epochs: { "1": SECRET_1 } }));
  const byEntries = createVerifiedTokenCache({ entriesMax: 8 });
  const tokens = Array.from({ length: 50 }, (_, i) => token(1, SECRET_1, [], i.toString(16)));
  for (const t of tokens) await verifyToken(t, REQ, keys, { cache: byEntries });
  assert.deepEqual(
    [byEntries.stats().entries, byEntries.stats().evictions],
    [8, 42],
  );
  // The 8 most recent are hits, the first is gone.
  await verifyToken(tokens[49]!, REQ, keys, { cache: byEntries });
  await verifyToken(tokens[0]!, REQ, keys, { cache: byEntries });
  assert.equal(byEntries.stats().hits, 1);
  const charsMax = tokens[0]!.length * 3;
  const byChars = createVerifiedTokenCache({ charsMax });
  for (const t of tokens) await verifyToken(t, REQ, keys, { cache: byChars });
  assert.equal(byChars.stats().entries, 3);
  assert.ok(byChars.stats().bytes <= charsMax);
});
