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

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);
const SEPARATOR = new Uint8Array([0x00]);

/** One proof step: the sibling hash (hex) and the side it sits on. */
export interface ProofStep {
  side: "L" | "R";
  hash: string;
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
