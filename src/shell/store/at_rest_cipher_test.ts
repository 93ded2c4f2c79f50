import assert from "node:assert/strict";
import fc from "fast-check";
import {
  createAtRestCipher,
  NATIVE_XCHACHA,
  NOBLE_XCHACHA,
  pickXChaCha,
} from "./at_rest_cipher.ts";
import { isStoreUndecryptable } from "./run_store.ts";

// draft-irtf-cfrg-xchacha-03 §A.3.1 (XChaCha20-Poly1305 AEAD test vector).
const hex = (s: string) => new Uint8Array(s.match(/../g)!.map((b) => parseInt(b, 16)));
const VECTOR = {
  key: hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
  nonce: hex("404142434445464748494a4b4c4d4e4f5051525354555657"),
  aad: hex("50515253c0c1c2c3c4c5c6c7"),
  plaintext: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  sealed: hex(
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb" +
      "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452" +
      "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9" +
      "21f9664c97637da9768812f615c68b13b52e" +
      "c0875924c1c7987947deafd8780acf49",
  ),
};

Deno.test("native XChaCha20-Poly1305 gives the draft's test vector, like @noble/ciphers", () => {
  for (const aead of [NATIVE_XCHACHA, NOBLE_XCHACHA]) {
    assert.deepEqual(
      aead.seal(VECTOR.key, VECTOR.nonce, VECTOR.aad, VECTOR.plaintext),
      VECTOR.sealed,
    );
    assert.deepEqual(
      aead.open(VECTOR.key, VECTOR.nonce, VECTOR.aad, VECTOR.sealed),
      VECTOR.plaintext,
    );
  }
});

Deno.test("Deno has the native cipher: it is the one picked", () => {
  assert.equal(pickXChaCha(), NATIVE_XCHACHA);
});

Deno.test("native and @noble/ciphers seal the same bytes and open each other's (any size)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 24, maxLength: 24 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.uint8Array({ maxLength: 4_200 }),
      (key, nonce, aad, pt) => {
        const a = NATIVE_XCHACHA.seal(key, nonce, aad, pt);
        assert.deepEqual(a, NOBLE_XCHACHA.seal(key, nonce, aad, pt));
        assert.deepEqual(NATIVE_XCHACHA.open(key, nonce, aad, a), pt);
        assert.deepEqual(NOBLE_XCHACHA.open(key, nonce, aad, a), pt);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("a blob sealed by one implementation opens under the other; tamper and a moved name fail", () => {
  const key = new Uint8Array(32).fill(9);
  const native = createAtRestCipher(key, NATIVE_XCHACHA);
  const noble = createAtRestCipher(key, NOBLE_XCHACHA);
  const pt = new TextEncoder().encode("x".repeat(1_048_577));
  const blob = native.seal("tenants/a/log/000000000001.bin", pt);
  assert.deepEqual(noble.open("tenants/a/log/000000000001.bin", blob), pt);
  const old = noble.seal("runs/r.bin", pt);
  assert.deepEqual(native.open("runs/r.bin", old), pt);
  // The logical name is the AAD: the same bytes under another name do not open.
  assert.throws(() => native.open("runs/other.bin", old), isStoreUndecryptable);
  for (const at of [30, old.length - 1, old.length - 20]) {
    const bad = new Uint8Array(old);
    bad[at]! ^= 1;
    assert.throws(() => native.open("runs/r.bin", bad), isStoreUndecryptable);
  }
  assert.throws(() => native.open("runs/r.bin", old.subarray(0, 40)), isStoreUndecryptable);
  const otherKey = createAtRestCipher(new Uint8Array(32).fill(8), NATIVE_XCHACHA);
  assert.throws(() => otherKey.open("runs/r.bin", old), isStoreUndecryptable);
});
