import assert from "node:assert/strict";
import { hasSubtleEd25519, publicKeyOf, signEd25519, verifyEd25519 } from "./ed25519.ts";
import { toHex } from "./merkle.ts";

const hex = (s: string) => Uint8Array.from(s.match(/../g)!.map((b) => parseInt(b, 16)));

// RFC 8032 §7.1 TEST 2 (one-byte message 0x72).
const SEED = hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
const PUB = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const SIG = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

Deno.test("Ed25519 matches RFC 8032 test 2 on both backends", async () => {
  assert.equal(toHex(publicKeyOf(SEED)).slice(0, 64), PUB);
  const noble = await signEd25519(SEED, new Uint8Array([0x72]), "noble");
  assert.equal(Array.from(noble, (b) => b.toString(16).padStart(2, "0")).join(""), SIG);
  if (await hasSubtleEd25519()) {
    const subtle = await signEd25519(SEED, new Uint8Array([0x72]), "subtle");
    assert.deepEqual(subtle, noble);
  }
  assert.ok(verifyEd25519(hex(PUB), new Uint8Array([0x72]), noble));
});

Deno.test("Ed25519 verification rejects a flipped bit and malformed input", async () => {
  const sig = await signEd25519(SEED, new Uint8Array([1, 2, 3]));
  assert.ok(verifyEd25519(publicKeyOf(SEED), new Uint8Array([1, 2, 3]), sig));
  const flipped = sig.slice();
  flipped[10]! ^= 1;
  assert.ok(!verifyEd25519(publicKeyOf(SEED), new Uint8Array([1, 2, 3]), flipped));
  assert.ok(!verifyEd25519(publicKeyOf(SEED), new Uint8Array([1, 2, 4]), sig));
  assert.ok(!verifyEd25519(new Uint8Array(31), new Uint8Array([1]), sig));
  assert.ok(!verifyEd25519(publicKeyOf(SEED), new Uint8Array([1]), sig.subarray(1)));
});
