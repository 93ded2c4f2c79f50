/**
 * BLAKE3-256 batch kernel (WebAssembly, SIMD128): many short messages, a Merkle level or a
 * whole Merkle root (contract §6) per call, plus BLAKE3 of any length. The single way in.
 *
 * @example
 * ```ts
 * import { blake3LeavesPacked, leafPreimagesPacked, merkleRootPacked } from "./mod.ts";
 * const payouts = [{ account: "alice", amount_minor: "10" }];
 * const leaves = blake3LeavesPacked(leafPreimagesPacked(payouts), payouts.length);
 * const root = merkleRootPacked(leaves, payouts.length); // = leaves (one leaf → that leaf)
 * ```
 *
 * @module
 */
export { blake3, blake3LeavesPacked, DIGEST_BYTES, type PackedMessages } from "./blake3_batch.ts";
export {
  LEAF_PREIMAGE_BYTES_MAX,
  leafPreimagesPacked,
  merkleLevelPacked,
  merkleRootPacked,
  putUtf8,
} from "./merkle_packed.ts";
