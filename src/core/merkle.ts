/**
 * `payouts_root` and inclusion proofs (contract §6).
 *
 * leaf = BLAKE3(0x00 || account || 0x00 || amount_minor) (UTF-8), node = BLAKE3(0x01 || left ||
 * right); an odd last node moves up unchanged; one leaf → that leaf; no payouts → BLAKE3 of
 * the empty input. A proof lists `{side, hash}` from the leaf up, where `side` says on which
 * side the sibling sits.
 *
 * @module
 */
import { blake3 } from "./blake3.ts";
import {
  blake3LeavesPacked,
  merkleLevelPacked,
  merkleRootPacked as kernelRootPacked,
  putUtf8,
} from "./blake3_batch/mod.ts";
import { type Checkpoint, NEVER_CANCELLED } from "./checkpoint.ts";
import type { ProofStep } from "./types.ts";

export type { ProofStep };

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);
const SEPARATOR = new Uint8Array([0x00]);

/** Digest size in bytes. */
const DIGEST_BYTES = 32;

/**
 * Payouts packed and hashed per slice in {@link packedLeavesOf}, with a checkpoint between
 * slices (each leaf is hashed alone, so slicing does not change a byte).
 */
const LEAVES_SLICE = 65_536;

/**
 * The Merkle root over `count` packed 32-byte leaves (same rules as {@link merkleRoot}),
 * folded inside the batch BLAKE3 kernel (src/core/blake3_batch/): one WebAssembly call per
 * window of levels instead of one hash-wasm call per node (measured at 1M leaves:
 * bench/blake3_batch_bench.ts).
 */
export function merkleRootPacked(leaves: Uint8Array, count: number): Uint8Array {
  return kernelRootPacked(leaves, count);
}

/** The leaf hash of one payout. */
export function leafHash(account: string, amountMinor: string): Uint8Array {
  return blake3(LEAF_PREFIX, account, SEPARATOR, amountMinor);
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return blake3(NODE_PREFIX, left, right);
}

/** The next level up; an odd last node moves up unchanged. */
function levelUp(level: readonly Uint8Array[]): Uint8Array[] {
  const next: Uint8Array[] = new Array(Math.ceil(level.length / 2));
  for (let i = 0; i + 1 < level.length; i += 2) next[i / 2] = nodeHash(level[i]!, level[i + 1]!);
  if (level.length % 2 === 1) next[next.length - 1] = level[level.length - 1]!;
  return next;
}

/** The Merkle root (32 bytes) over `leaves` in order. */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return blake3();
  let level: readonly Uint8Array[] = leaves;
  while (level.length > 1) level = levelUp(level);
  return level[0]!;
}

/** The inclusion proof of leaf `index`, from the leaf up. */
export function merkleProof(leaves: readonly Uint8Array[], index: number): ProofStep[] {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError("Cannot build proof: index is out of range");
  }
  const proof: ProofStep[] = [];
  let level: readonly Uint8Array[] = leaves;
  let position = index;
  while (level.length > 1) {
    const sibling = position % 2 === 0 ? position + 1 : position - 1;
    if (sibling < level.length) {
      proof.push({ side: position % 2 === 0 ? "R" : "L", hash: toHex(level[sibling]!) });
    }
    level = levelUp(level);
    position = Math.floor(position / 2);
  }
  return proof;
}

/**
 * The inclusion proof of packed leaf `index` among `count` (same steps as {@link merkleProof};
 * the packed form lets a caller cache one flat buffer per manifest instead of `count` arrays).
 */
export function merkleProofPacked(leaves: Uint8Array, count: number, index: number): ProofStep[] {
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError("Cannot build proof: index is out of range");
  }
  if (leaves.length !== DIGEST_BYTES * count) {
    throw new RangeError("Cannot build proof: leaves buffer does not hold count digests");
  }
  const proof: ProofStep[] = [];
  let level = leaves;
  let position = index;
  while (count > 1) {
    const sibling = position % 2 === 0 ? position + 1 : position - 1;
    if (sibling < count) {
      proof.push({
        side: position % 2 === 0 ? "R" : "L",
        hash: toHex(level.subarray(DIGEST_BYTES * sibling, DIGEST_BYTES * (sibling + 1))),
      });
    }
    level = merkleLevelPacked(level, count);
    count = Math.ceil(count / 2);
    position = Math.floor(position / 2);
  }
  return proof;
}

/**
 * The sides of the inclusion path that leaf `index` of a `count`-leaf tree has (contract §6):
 * one entry per level where the node has a sibling, `"R"` when the sibling is on the right;
 * a level where the node is promoted unchanged has no step. A verifier compares a proof's
 * sides with these, so a path cannot claim another position or tree size.
 */
export function expectedProofSides(index: number, count: number): ("L" | "R")[] {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 0 || index >= count) {
    throw new RangeError("Cannot derive proof sides: index is out of range");
  }
  const sides: ("L" | "R")[] = [];
  let position = index;
  let size = count;
  while (size > 1) {
    if (position % 2 === 1) sides.push("L");
    else if (position + 1 < size) sides.push("R");
    position = Math.floor(position / 2);
    size = Math.ceil(size / 2);
  }
  return sides;
}

/** Longest leaf preimage (bytes): 1 + 160 (account) + 1 + 39 (amount), rounded up, minus 1. */
const LEAF_PREIMAGE_BYTES_MAX = 255;

/** Room reserved per leaf of a slice before growing (bytes): a 40-char account, 20 digits. */
const TYPICAL_PREIMAGE_BYTES = 64;

/**
 * Leaf hashes of payouts given one at a time, in payout order: each preimage
 * `0x00 ‖ account ‖ 0x00 ‖ amount_minor` (UTF-8, contract §6) is written straight into one
 * reused slice buffer, and every LEAVES_SLICE leaves the slice is hashed by the batch kernel
 * into the packed output (32 bytes per leaf). No object or string per leaf; `checkpoint()`
 * runs between slices (each leaf is hashed alone, so slicing does not change a byte).
 *
 * @throws {RangeError} when a leaf preimage exceeds 255 bytes (ids are far shorter, §1).
 */
export class LeafHasher {
  readonly #out: Uint8Array;
  readonly #count: number;
  readonly #checkpoint: Checkpoint;
  #bytes = new Uint8Array(TYPICAL_PREIMAGE_BYTES * LEAVES_SLICE + LEAF_PREIMAGE_BYTES_MAX + 1);
  readonly #offsets = new Uint32Array(LEAVES_SLICE + 1);
  /** Leaves added so far, and the first of them not hashed yet. */
  #added = 0;
  #sliceStart = 0;
  #pos = 0;

  constructor(count: number, checkpoint: Checkpoint = NEVER_CANCELLED) {
    this.#count = count;
    this.#out = new Uint8Array(DIGEST_BYTES * count);
    this.#checkpoint = checkpoint;
  }

  /** Adds the next payout's leaf. */
  add(account: string, amountMinor: string): void {
    if (this.#added >= this.#count) throw new RangeError("Cannot add a leaf past the count");
    let bytes = this.#bytes;
    let pos = this.#pos;
    if (bytes.length - pos <= LEAF_PREIMAGE_BYTES_MAX) {
      const grown = new Uint8Array(2 * bytes.length);
      grown.set(bytes.subarray(0, pos));
      this.#bytes = bytes = grown;
    }
    const end = pos + LEAF_PREIMAGE_BYTES_MAX;
    bytes[pos] = 0x00;
    const afterAccount = putUtf8(account, bytes, pos + 1, end);
    if (afterAccount >= 0) bytes[afterAccount] = 0x00;
    const afterAmount = afterAccount < 0 ? -1 : putUtf8(amountMinor, bytes, afterAccount + 1, end);
    if (afterAmount < 0) {
      throw new RangeError(
        `Cannot pack leaf ${this.#added} as its preimage is too long: limit is ${LEAF_PREIMAGE_BYTES_MAX} bytes`,
      );
    }
    pos = afterAmount;
    this.#added++;
    const inSlice = this.#added - this.#sliceStart;
    this.#offsets[inSlice] = pos;
    this.#pos = pos;
    if (inSlice === LEAVES_SLICE) this.#flush();
  }

  #flush(): void {
    const n = this.#added - this.#sliceStart;
    if (n === 0) return;
    this.#checkpoint();
    const digests = blake3LeavesPacked(
      { bytes: this.#bytes.subarray(0, this.#pos), offsets: this.#offsets },
      n,
    );
    this.#out.set(digests, DIGEST_BYTES * this.#sliceStart);
    this.#sliceStart = this.#added;
    this.#pos = 0;
  }

  /** The packed leaf hashes (32 bytes each); every one of `count` leaves must have been added. */
  finish(): Uint8Array {
    if (this.#added !== this.#count) {
      throw new RangeError(`Cannot finish: ${this.#added} of ${this.#count} leaves added`);
    }
    this.#flush();
    return this.#out;
  }
}

/**
 * Packed leaf hashes (32 bytes each, payout order) of a payout list, through
 * {@link LeafHasher} (the per-leaf {@link leafHash} is the reference it is tested against).
 * `checkpoint()` runs between slices (it throws to abandon; src/core/checkpoint.ts).
 *
 * @throws {RangeError} when a leaf preimage exceeds 255 bytes (ids are far shorter, §1).
 */
export function packedLeavesOf(
  payouts: readonly { account: string; amount_minor: string }[],
  checkpoint: Checkpoint = NEVER_CANCELLED,
): Uint8Array {
  const hasher = new LeafHasher(payouts.length, checkpoint);
  for (let i = 0; i < payouts.length; i++) {
    const p = payouts[i]!;
    hasher.add(p.account, p.amount_minor);
  }
  return hasher.finish();
}

/** Folds a proof from `leaf` (hex) and returns the root it implies (hex). */
export function rootFromProof(leaf: string, proof: readonly ProofStep[]): string {
  let acc = fromHex(leaf);
  for (const step of proof) {
    const sibling = fromHex(step.hash);
    acc = step.side === "L" ? nodeHash(sibling, acc) : nodeHash(acc, sibling);
  }
  return toHex(acc);
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Bytes of a 64-char lowercase hex digest; throws `TypeError` otherwise. */
export function fromHex(hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError("Cannot decode digest: malformed hex");
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
