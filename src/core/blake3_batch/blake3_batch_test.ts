/**
 * The BLAKE3 batch kernel against the official test vectors and, differentially, against
 * hash-wasm (`src/core/blake3.ts`'s backend) and `src/core/merkle.ts` (contract §6).
 *
 * `test_vectors.json` is the BLAKE3 reference repository's `test_vectors/test_vectors.json`
 * unchanged (BLAKE3-team/BLAKE3 at 77b257eee7da5cd608eaf6be8343d3a4c9776af2): input byte i
 * is i mod 251; the first 32 bytes of `hash` are the BLAKE3-256 digest.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { createBLAKE3 } from "hash-wasm";
import { packedLeavesOf, toHex } from "../merkle.ts";
import { referenceLeavesPacked, referenceRootPacked as referenceRoot } from "./_reference.ts";
import { kernel } from "./_kernel.ts";
import {
  blake3,
  blake3LeavesPacked,
  leafPreimagesPacked,
  merkleLevelPacked,
  merkleRootPacked,
  type PackedMessages,
} from "./mod.ts";

const hashWasm = await createBLAKE3(256);
function referenceHash(bytes: Uint8Array): string {
  hashWasm.init();
  hashWasm.update(bytes);
  return hashWasm.digest("hex");
}

/** Packs messages back to back (layout of `PackedMessages`), after `lead` junk bytes. */
function pack(messages: readonly Uint8Array[], lead = 0): PackedMessages {
  const total = messages.reduce((n, m) => n + m.length, lead);
  const bytes = new Uint8Array(total + 3).fill(0xa5); // junk before and after
  const offsets = new Uint32Array(messages.length + 1);
  let pos = lead;
  offsets[0] = pos;
  messages.forEach((m, i) => {
    bytes.set(m, pos);
    pos += m.length;
    offsets[i + 1] = pos;
  });
  return { bytes, offsets };
}

function digestsHex(digests: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < digests.length; i += 32) out.push(toHex(digests.subarray(i, i + 32)));
  return out;
}

const VECTORS = JSON.parse(
  readFileSync(new URL("./test_vectors.json", import.meta.url), "utf8"),
) as {
  cases: { input_len: number; hash: string }[];
};
function officialInput(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i % 251);
}

Deno.test("blake3: every official test vector (hash mode, 32 bytes)", () => {
  assert.equal(VECTORS.cases.length, 35);
  for (const c of VECTORS.cases) {
    assert.equal(
      toHex(blake3(officialInput(c.input_len))),
      c.hash.slice(0, 64),
      `len ${c.input_len}`,
    );
  }
});

Deno.test("blake3LeavesPacked: the official vectors as one batch, in any order", () => {
  const cases = [...VECTORS.cases].reverse();
  const packed = pack(cases.map((c) => officialInput(c.input_len)), 5);
  const got = digestsHex(blake3LeavesPacked(packed, cases.length));
  assert.deepEqual(got, cases.map((c) => c.hash.slice(0, 64)));
});

Deno.test("blake3: inputs around the 1 MiB window and chunk edges agree with hash-wasm", () => {
  const window = kernel.dataBytesMax;
  for (const n of [window - 1, window, window + 1, 2 * window + 1024, 3 * window + 4097]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + (i >>> 11)) & 0xff);
    assert.equal(toHex(blake3(bytes)), referenceHash(bytes), `len ${n}`);
  }
});

Deno.test("blake3: random inputs up to 20 KiB agree with hash-wasm (property)", () => {
  fc.assert(
    fc.property(
      fc.nat(20_480).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      (bytes) => {
        assert.equal(toHex(blake3(bytes)), referenceHash(bytes));
      },
    ),
    { numRuns: 300 },
  );
});

/** Mostly short messages (leaf-sized, all block counts of one chunk), some longer. */
const message = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 130 }) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 1025 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1025, maxLength: 5000 }) },
);

Deno.test("blake3LeavesPacked: random message lists agree with hash-wasm per message (property)", () => {
  fc.assert(
    fc.property(fc.array(message, { maxLength: 60 }), fc.nat(40), (messages, lead) => {
      const got = digestsHex(blake3LeavesPacked(pack(messages, lead), messages.length));
      assert.deepEqual(got, messages.map(referenceHash));
    }),
    { numRuns: 400 },
  );
});

Deno.test("blake3LeavesPacked: batches split by the message and byte windows", () => {
  const count = 2 * kernel.messagesMax + 3;
  const messages = Array.from({ length: count }, (_, i) => {
    // One message larger than the whole data window; the rest 0..199 bytes.
    const len = i === kernel.messagesMax + 1 ? kernel.dataBytesMax + 5 : (i * 7919) % 200;
    return Uint8Array.from({ length: len }, (_, j) => (i + j) & 0xff);
  });
  const got = digestsHex(blake3LeavesPacked(pack(messages), count));
  for (let i = 0; i < count; i++) assert.equal(got[i], referenceHash(messages[i]!), `message ${i}`);
});

Deno.test("blake3LeavesPacked: refuses a layout that does not describe count messages", () => {
  const bytes = new Uint8Array(10);
  assert.throws(() => blake3LeavesPacked({ bytes, offsets: Uint32Array.of(0, 4) }, 2), RangeError);
  assert.throws(
    () => blake3LeavesPacked({ bytes, offsets: Uint32Array.of(0, 4, 3) }, 2),
    RangeError,
  );
  assert.throws(() => blake3LeavesPacked({ bytes, offsets: Uint32Array.of(0, 11) }, 1), RangeError);
  assert.throws(() => blake3LeavesPacked({ bytes, offsets: Uint32Array.of(0) }, -1), RangeError);
  assert.equal(blake3LeavesPacked({ bytes, offsets: Uint32Array.of(0) }, 0).length, 0);
});

/** Payouts whose accounts mix ASCII, other UTF-8 and lone surrogates (U+FFFD on both sides). */
const payout = fc.record({
  account: fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.string({ unit: "grapheme", maxLength: 20 }),
    fc.string({ unit: "binary", maxLength: 30 }),
  ),
  amount_minor: fc.bigInt({ min: 0n, max: 10n ** 38n }).map(String),
});

Deno.test("merkle: leaves and root agree with src/core/merkle.ts on random payout lists (property)", () => {
  fc.assert(
    fc.property(fc.array(payout, { maxLength: 70 }), (payouts) => {
      const expected = referenceLeavesPacked(payouts);
      const leaves = blake3LeavesPacked(leafPreimagesPacked(payouts), payouts.length);
      assert.equal(toHex(leaves), toHex(expected));
      assert.equal(
        toHex(merkleRootPacked(leaves, payouts.length)),
        toHex(referenceRoot(expected, payouts.length)),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("merkle: roots across the kernel's node window agree with src/core/merkle.ts", () => {
  const windowNodes = kernel.dataBytesMax / 32;
  const leaves = Uint8Array.from({ length: 32 * (2 * windowNodes + 3) }, (_, i) => (i * 131) >>> 3);
  const copy = leaves.slice();
  const counts = [0, 1, 2, 3, 5, 9, windowNodes, windowNodes + 1, 2 * windowNodes + 3];
  for (const n of counts) {
    assert.equal(toHex(merkleRootPacked(leaves, n)), toHex(referenceRoot(leaves, n)), `count ${n}`);
  }
  assert.ok(leaves.every((b, i) => b === copy[i]), "leaves must not be modified");
});

Deno.test("merkle: no payouts → BLAKE3(''), one leaf → that leaf, odd last node moves up", () => {
  assert.equal(toHex(merkleRootPacked(new Uint8Array(0), 0)), VECTORS.cases[0]!.hash.slice(0, 64));
  const one = new Uint8Array(32).fill(9);
  assert.deepEqual(merkleRootPacked(one, 1), one);
  const nodes = Uint8Array.from({ length: 96 }, (_, i) => i);
  const parents = merkleLevelPacked(nodes, 3);
  const preimage = new Uint8Array(65);
  preimage[0] = 0x01;
  preimage.set(nodes.subarray(0, 64), 1);
  assert.equal(toHex(parents.subarray(0, 32)), referenceHash(preimage));
  assert.deepEqual(parents.subarray(32), nodes.subarray(64));
  assert.throws(() => merkleLevelPacked(nodes, 4), RangeError);
  assert.throws(() => merkleRootPacked(nodes, 1.5), RangeError);
});

Deno.test("leafPreimagesPacked: 255 bytes pass, 256 are refused, as src/core/merkle.ts", () => {
  const fits = [{ account: "a".repeat(250), amount_minor: "123" }]; // 1 + 250 + 1 + 3 = 255
  assert.equal(
    toHex(blake3LeavesPacked(leafPreimagesPacked(fits), 1)),
    toHex(referenceLeavesPacked(fits)),
  );
  const over = [{ account: "é".repeat(126), amount_minor: "1234" }]; // 1 + 252 + 1 + 4 = 258
  assert.throws(() => packedLeavesOf(over), RangeError);
  assert.throws(() => leafPreimagesPacked(over), RangeError);
  const exactly = [{ account: "a".repeat(250), amount_minor: "1234" }]; // 256
  assert.throws(() => packedLeavesOf(exactly), RangeError);
  assert.throws(() => leafPreimagesPacked(exactly), RangeError);
});
