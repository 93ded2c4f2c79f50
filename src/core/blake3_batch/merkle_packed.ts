/**
 * `payouts_root` (contract §6) through the batch kernel: leaf preimages packed in one buffer,
 * whole Merkle levels hashed in one crossing into WebAssembly per 32,768 nodes.
 *
 * leaf = BLAKE3(0x00 || account || 0x00 || amount_minor) (UTF-8); node = BLAKE3(0x01 || left
 * || right); an odd last node moves up unchanged; one leaf → that leaf; no payouts → BLAKE3
 * of the empty input (the RFC 6962 tree shape). Same bytes as `src/core/merkle.ts`.
 *
 * @module
 */
import { kernel } from "./_kernel.ts";
import { blake3, DIGEST_BYTES, type PackedMessages } from "./blake3_batch.ts";

/** Leaf preimage bound (bytes), as `src/core/merkle.ts`: 1 + 160 (account) + 1 + 39 (amount),
 * rounded up; a longer preimage means the payout escaped validation. */
export const LEAF_PREIMAGE_BYTES_MAX = 256;

/** Initial room per leaf (bytes): a 40-character account and a 20-digit amount fit. */
const TYPICAL_PREIMAGE_BYTES = 64;

const utf8 = new TextEncoder();

function checkNodes(nodes: Uint8Array, count: number, what: string): void {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`Cannot ${what} as count is not a count: current value is ${count}`);
  }
  if (nodes.length < DIGEST_BYTES * count) {
    throw new RangeError(
      `Cannot ${what} as nodes holds fewer than ${count} digests: current length is ${nodes.length}`,
    );
  }
}

/** One level from `src` (count nodes) into `dst` (may be `src`: each window is copied into
 * the kernel before any parent of it is written back, and parents land at or below it). */
function levelInto(src: Uint8Array, count: number, dst: Uint8Array): void {
  const k = kernel;
  const windowNodes = k.dataBytesMax / DIGEST_BYTES; // even: a window never splits a pair
  for (let start = 0; start < count; start += windowNodes) {
    const n = Math.min(windowNodes, count - start);
    k.heap.set(src.subarray(DIGEST_BYTES * start, DIGEST_BYTES * (start + n)), k.dataPtr);
    k.fn.b3_merkle_level(k.dataPtr, n, k.dataPtr);
    const parents = Math.ceil(n / 2);
    dst.set(
      k.heap.subarray(k.dataPtr, k.dataPtr + DIGEST_BYTES * parents),
      (DIGEST_BYTES * start) / 2,
    );
  }
}

/**
 * The next Merkle level over `count` packed 32-byte digests (contract §6): parent i =
 * BLAKE3(0x01 || node 2i || node 2i+1); an odd last node moves up unchanged. Returns
 * `ceil(count / 2)` digests back to back.
 *
 * @throws {RangeError} when `nodes` holds fewer than `count` digests.
 *
 * @example
 * ```ts
 * const parents = merkleLevelPacked(new Uint8Array(96), 3); // 64 bytes: H(0x01‖0⁶⁴), 0³²
 * ```
 */
export function merkleLevelPacked(nodes: Uint8Array, count: number): Uint8Array {
  checkNodes(nodes, count, "hash a Merkle level");
  const parents = new Uint8Array(DIGEST_BYTES * Math.ceil(count / 2));
  levelInto(nodes, count, parents);
  return parents;
}

/**
 * The Merkle root (32 bytes) over `count` packed leaf digests (contract §6): no leaves →
 * BLAKE3 of the empty input; one leaf → that leaf. `leaves` is not modified. Levels wider
 * than the kernel's window go through {@link merkleLevelPacked}'s path window by window
 * (one scratch buffer of half the leaves); the rest is folded inside the kernel in one call.
 *
 * @throws {RangeError} when `leaves` holds fewer than `count` digests.
 *
 * @example
 * ```ts
 * const leaves = blake3LeavesPacked(leafPreimagesPacked(payouts), payouts.length);
 * const root = merkleRootPacked(leaves, payouts.length);
 * ```
 */
export function merkleRootPacked(leaves: Uint8Array, count: number): Uint8Array {
  checkNodes(leaves, count, "compute a Merkle root");
  if (count === 0) return blake3(new Uint8Array(0));
  const k = kernel;
  const windowNodes = k.dataBytesMax / DIGEST_BYTES;
  let level = leaves;
  if (count > windowNodes) {
    level = new Uint8Array(DIGEST_BYTES * Math.ceil(count / 2));
    levelInto(leaves, count, level);
    count = Math.ceil(count / 2);
    for (; count > windowNodes; count = Math.ceil(count / 2)) levelInto(level, count, level);
  }
  k.heap.set(level.subarray(0, DIGEST_BYTES * count), k.dataPtr);
  k.fn.b3_merkle_root(k.dataPtr, count, k.outPtr);
  return k.heap.slice(k.outPtr, k.outPtr + DIGEST_BYTES);
}

/**
 * Writes `text` as UTF-8 into `bytes` from `pos`, not reaching `end`; returns the position
 * after it, or -1 when it does not fit. ASCII is copied unit by unit (measured: ~3× faster
 * than two `encodeInto` calls per leaf at 1M leaves); the first non-ASCII unit hands the rest
 * to `TextEncoder.encodeInto` (lone surrogates become U+FFFD, as in `src/core/merkle.ts`).
 */
export function putUtf8(text: string, bytes: Uint8Array, pos: number, end: number): number {
  // UTF-8 takes at least one byte per UTF-16 unit, so a longer string cannot fit.
  if (pos + text.length > end) return -1;
  for (let c = 0; c < text.length; c++) {
    const unit = text.charCodeAt(c);
    if (unit >= 0x80) {
      const r = utf8.encodeInto(text.slice(c), bytes.subarray(pos, end));
      return r.read === text.length - c ? pos + r.written : -1;
    }
    bytes[pos++] = unit;
  }
  return pos;
}

/**
 * Packs the leaf preimages `0x00 || account || 0x00 || amount_minor` (UTF-8, contract §6) of
 * `payouts` in payout order (layout: {@link PackedMessages}), with one buffer for all leaves.
 *
 * @throws {RangeError} when a preimage exceeds {@link LEAF_PREIMAGE_BYTES_MAX} bytes.
 *
 * @example
 * ```ts
 * const packed = leafPreimagesPacked([{ account: "alice", amount_minor: "10" }]);
 * // packed.bytes.subarray(0, packed.offsets[1]) = 00 61 6c 69 63 65 00 31 30
 * ```
 */
export function leafPreimagesPacked(
  payouts: readonly { account: string; amount_minor: string }[],
): PackedMessages {
  const offsets = new Uint32Array(payouts.length + 1);
  // One buffer for all leaves, sized for typical preimages and doubled when a leaf might not
  // fit (the worst case, 256 bytes per leaf, would reserve 256 MB at 1M payouts).
  let bytes = new Uint8Array(TYPICAL_PREIMAGE_BYTES * payouts.length + LEAF_PREIMAGE_BYTES_MAX);
  let pos = 0;
  for (let i = 0; i < payouts.length; i++) {
    if (bytes.length - pos < LEAF_PREIMAGE_BYTES_MAX) {
      const grown = new Uint8Array(2 * bytes.length);
      grown.set(bytes.subarray(0, pos));
      bytes = grown;
    }
    const p = payouts[i]!;
    const end = pos + LEAF_PREIMAGE_BYTES_MAX - 1; // a preimage holds at most 255 bytes
    bytes[pos] = 0x00;
    const afterAccount = putUtf8(p.account, bytes, pos + 1, end);
    if (afterAccount >= 0) bytes[afterAccount] = 0x00;
    const afterAmount = afterAccount < 0
      ? -1
      : putUtf8(p.amount_minor, bytes, afterAccount + 1, end);
    if (afterAmount < 0) {
      throw new RangeError(
        `Cannot pack leaf ${i} as its preimage is too long: limit is ${
          LEAF_PREIMAGE_BYTES_MAX - 1
        } bytes`,
      );
    }
    pos = afterAmount;
    offsets[i + 1] = pos;
  }
  return { bytes: bytes.subarray(0, pos), offsets };
}
