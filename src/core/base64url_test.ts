import assert from "node:assert/strict";
import fc from "fast-check";
import { fromBase64Url, toBase64Url, toBase64UrlPortable } from "./base64url.ts";

Deno.test("base64url round-trips and matches the RFC 4648 alphabet without padding", () => {
  assert.equal(toBase64Url(new Uint8Array([0xfb, 0xff])), "-_8");
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const text = toBase64Url(bytes);
      assert.ok(!text.includes("="));
      assert.deepEqual(fromBase64Url(text), bytes);
      assert.equal(
        text,
        btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
          /=+$/,
          "",
        ),
      );
    }),
    { numRuns: 1000 },
  );
});

Deno.test("base64url decoding is strict", () => {
  for (const bad of ["a", "ab=", "a+b/", "ab c", "-_9"]) {
    assert.throws(() => fromBase64Url(bad), TypeError);
  }
});

Deno.test("base64url: the native and the portable encoder give the same text (any length)", () => {
  const reference = (bytes: Uint8Array) => {
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3_000 }), (bytes) => {
      const expected = reference(bytes);
      assert.equal(toBase64Url(bytes), expected);
      assert.equal(toBase64UrlPortable(bytes), expected);
    }),
    { numRuns: 500 },
  );
  const big = new Uint8Array(1_000_001).map((_, i) => (i * 131) & 255);
  assert.equal(toBase64UrlPortable(big), toBase64Url(big));
  assert.deepEqual(fromBase64Url(toBase64UrlPortable(big)), big);
});
