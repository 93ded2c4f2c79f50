/**
 * BLAKE3-256 through the batch kernel: one input of any length, or many short messages
 * packed in one buffer and hashed in one crossing into WebAssembly per batch.
 *
 * @module
 */
import { kernel } from "./_kernel.ts";

/** Digest size (bytes). */
export const DIGEST_BYTES = 32;

/**
 * Many messages in one buffer, written back to back (wire layout):
 *
 *   bytes:   message 0 || message 1 || … || message count-1   (any bytes may precede or follow)
 *   offsets: count + 1 boundaries (u32), non-decreasing; message i = bytes[offsets[i], offsets[i+1])
 *
 * A caller fills both without allocating per message (`TextEncoder.encodeInto` at the
 * running end, then record the new end).
 */
export interface PackedMessages {
  bytes: Uint8Array;
  offsets: Uint32Array;
}

/**
 * BLAKE3-256 (hash mode, 32 bytes) of `bytes`, any length (full tree mode: inputs over one
 * 1 MiB window are streamed through it chunk-aligned, so memory stays bounded).
 *
 * @example
 * ```ts
 * blake3(new Uint8Array(0)); // af1349b9… (the official vector for the empty input)
 * ```
 */
export function blake3(bytes: Uint8Array): Uint8Array {
  const k = kernel;
  const out = new Uint8Array(DIGEST_BYTES);
  let pos = 0;
  if (bytes.length > k.dataBytesMax) {
    k.fn.b3_begin();
    // Whole windows that are not the end of the input (the last chunk is hashed by finish).
    for (; bytes.length - pos > k.dataBytesMax; pos += k.dataBytesMax) {
      k.heap.set(bytes.subarray(pos, pos + k.dataBytesMax), k.dataPtr);
      k.fn.b3_update_chunks(k.dataPtr, k.dataBytesMax);
    }
    k.heap.set(bytes.subarray(pos), k.dataPtr);
    k.fn.b3_finish(k.dataPtr, bytes.length - pos, k.outPtr);
  } else {
    k.heap.set(bytes, k.dataPtr);
    k.fn.b3_hash(k.dataPtr, bytes.length, k.outPtr);
  }
  out.set(k.heap.subarray(k.outPtr, k.outPtr + DIGEST_BYTES));
  return out;
}

/** Checks the packed layout once at the entry; throws `RangeError` (a programmer error). */
function checkPacked(messages: PackedMessages, count: number): void {
  const { bytes, offsets } = messages;
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`Cannot hash messages as count is not a count: current value is ${count}`);
  }
  if (offsets.length < count + 1) {
    throw new RangeError(
      `Cannot hash ${count} messages as offsets has fewer than count + 1 entries: current length is ${offsets.length}`,
    );
  }
  for (let i = 0; i < count; i++) {
    if (offsets[i + 1]! < offsets[i]!) {
      throw new RangeError(`Cannot hash messages as offsets decrease: at index ${i + 1}`);
    }
  }
  if (offsets[count]! > bytes.length) {
    throw new RangeError(
      `Cannot hash messages as the last offset is past the bytes: current value is ${
        offsets[count]
      }`,
    );
  }
}

/**
 * BLAKE3-256 of each of `count` packed messages (layout: {@link PackedMessages}), as
 * `count` digests back to back: digest i is `result[32 i, 32 i + 32)`. Messages of up to
 * 1024 bytes (one chunk) are hashed four at a time in SIMD lanes; longer ones alone.
 *
 * @throws {RangeError} when `offsets` has fewer than `count + 1` entries, decreases, or
 * points past `bytes`.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("abc");
 * const digests = blake3LeavesPacked({ bytes, offsets: Uint32Array.of(0, 1, 3) }, 2);
 * // digests = BLAKE3("a") || BLAKE3("bc"), 64 bytes
 * ```
 */
export function blake3LeavesPacked(messages: PackedMessages, count: number): Uint8Array {
  checkPacked(messages, count);
  const { bytes, offsets } = messages;
  const k = kernel;
  const out = new Uint8Array(DIGEST_BYTES * count);
  let i = 0;
  while (i < count) {
    const base = offsets[i]!;
    if (offsets[i + 1]! - base > k.dataBytesMax) {
      // One message over the whole window: the streamed path.
      out.set(blake3(bytes.subarray(base, offsets[i + 1])), DIGEST_BYTES * i);
      i++;
      continue;
    }
    // The longest run of messages from i that fits both windows.
    let j = i + 1;
    const jMax = Math.min(count, i + k.messagesMax);
    while (j < jMax && offsets[j + 1]! - base <= k.dataBytesMax) j++;
    for (let m = i; m <= j; m++) k.offsets[m - i] = offsets[m]! - base;
    k.heap.set(bytes.subarray(base, offsets[j]), k.dataPtr);
    k.fn.b3_hash_many(k.dataPtr, k.offsetsPtr, j - i, k.outPtr);
    out.set(k.heap.subarray(k.outPtr, k.outPtr + DIGEST_BYTES * (j - i)), DIGEST_BYTES * i);
    i = j;
  }
  return out;
}
