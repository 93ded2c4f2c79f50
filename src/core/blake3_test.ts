import assert from "node:assert/strict";
import { blake3 as nobleBlake3 } from "@noble/hashes/blake3.js";
import fc from "fast-check";
import { blake3, blake3Hex } from "./blake3.ts";
import { toHex } from "./merkle.ts";

// Official BLAKE3 test vectors (test_vectors.json): input byte i = i % 251.
function officialInput(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i % 251);
}

Deno.test("blake3 matches the official test vectors", () => {
  assert.equal(
    blake3Hex(officialInput(0)),
    "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
  );
  assert.equal(
    blake3Hex(officialInput(1)),
    "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
  );
  assert.equal(
    blake3Hex(officialInput(1024)),
    "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
  );
});

Deno.test("blake3 agrees with @noble/hashes on random inputs and part splits", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(3000), (bytes, cut) => {
      const at = Math.min(cut, bytes.length);
      const expected = toHex(nobleBlake3(bytes));
      assert.equal(toHex(blake3(bytes.subarray(0, at), bytes.subarray(at))), expected);
    }),
    { numRuns: 500 },
  );
});

Deno.test("blake3 hashes strings as UTF-8", () => {
  assert.equal(blake3Hex("é"), toHex(nobleBlake3(new TextEncoder().encode("é"))));
});
