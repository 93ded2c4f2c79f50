import assert from "node:assert/strict";
import fc from "fast-check";
import { blake3 } from "./blake3.ts";
import {
  expectedProofSides,
  leafHash,
  merkleProof,
  merkleProofPacked,
  merkleRoot,
  merkleRootPacked,
  packedLeavesOf,
  rootFromProof,
  toHex,
} from "./merkle.ts";

Deno.test("merkleRoot: empty is BLAKE3 of nothing, one leaf is itself, odd node moves up", () => {
  assert.equal(toHex(merkleRoot([])), toHex(blake3()));
  const a = leafHash("a", "1");
  const b = leafHash("b", "2");
  const c = leafHash("c", "3");
  assert.equal(toHex(merkleRoot([a])), toHex(a));
  const ab = blake3(new Uint8Array([1]), a, b);
  assert.equal(toHex(merkleRoot([a, b])), toHex(ab));
  assert.equal(toHex(merkleRoot([a, b, c])), toHex(blake3(new Uint8Array([1]), ab, c)));
});

Deno.test("leafHash is BLAKE3(0x00 || account || 0x00 || amount)", () => {
  assert.equal(
    toHex(leafHash("acct", "12")),
    toHex(blake3(new TextEncoder().encode("\0acct\x0012"))),
  );
});

Deno.test("every inclusion proof folds to the root; a tampered proof does not", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), (n, pick) => {
      const leaves = Array.from({ length: n }, (_, i) => leafHash(`acct-${i}`, String(i + 1)));
      const root = toHex(merkleRoot(leaves));
      const index = pick % n;
      const proof = merkleProof(leaves, index);
      assert.equal(rootFromProof(toHex(leaves[index]!), proof), root);
      if (proof.length > 0) {
        const bad = proof.map((s, i) =>
          i === 0 ? { ...s, side: s.side === "L" ? "R" as const : "L" as const } : s
        );
        assert.notEqual(rootFromProof(toHex(leaves[index]!), bad), root);
      }
      if (n > 1) {
        const other = toHex(leafHash(`acct-${index}`, String(index + 2)));
        assert.notEqual(rootFromProof(other, proof), root);
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("packed leaves and root agree with the list form", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.stringMatching(/^[a-z:/.]{1,160}$/),
          fc.bigInt({ min: 1n, max: (1n << 127n) - 1n }),
        ),
        { maxLength: 40 },
      ),
      (pairs) => {
        const list = pairs.map(([a, v]) => leafHash(a, v.toString()));
        // The kernel's packed leaves against the per-leaf hash-wasm reference.
        const packed = packedLeavesOf(
          pairs.map(([a, v]) => ({ account: a, amount_minor: `${v}` })),
        );
        assert.deepEqual(packed, new Uint8Array(list.flatMap((l) => [...l])));
        assert.equal(toHex(merkleRootPacked(packed, pairs.length)), toHex(merkleRoot(list)));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("packed proofs equal list proofs, and their sides are exactly expectedProofSides", () => {
  for (let n = 1; n <= 33; n++) {
    const payouts = Array.from({ length: n }, (_, i) => ({
      account: `acct-${i}`,
      amount_minor: String(i + 1),
    }));
    const packed = packedLeavesOf(payouts);
    const list = payouts.map((p) => leafHash(p.account, p.amount_minor));
    for (let index = 0; index < n; index++) {
      const proof = merkleProofPacked(packed, n, index);
      assert.deepEqual(proof, merkleProof(list, index));
      assert.deepEqual(proof.map((s) => s.side), expectedProofSides(index, n), `${index}/${n}`);
    }
  }
});

Deno.test("expectedProofSides: promoted levels emit no step (contract §6)", () => {
  assert.deepEqual(expectedProofSides(0, 1), []);
  assert.deepEqual(expectedProofSides(2, 3), ["L"]); // c promoted, then sibling ab on the left
  assert.deepEqual(expectedProofSides(0, 3), ["R", "R"]);
  assert.deepEqual(expectedProofSides(4, 5), ["L"]);
  assert.throws(() => expectedProofSides(3, 3), RangeError);
});
