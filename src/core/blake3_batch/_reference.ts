/**
 * Test-only: the per-call hash-wasm path the batch kernel is checked against (the leaf and
 * root rules of contract §6 written with one BLAKE3 call per hash, src/core/merkle.ts's
 * `leafHash` and `merkleRoot`). Never imported by production code.
 *
 * @module
 */
import { leafHash, merkleRoot } from "../merkle.ts";

/** Packed leaf digests of `payouts`, one hash-wasm call per leaf. */
export function referenceLeavesPacked(
  payouts: readonly { account: string; amount_minor: string }[],
): Uint8Array {
  const out = new Uint8Array(32 * payouts.length);
  payouts.forEach((p, i) => out.set(leafHash(p.account, p.amount_minor), 32 * i));
  return out;
}

/** The root over `count` packed digests, one hash-wasm call per node. */
export function referenceRootPacked(leaves: Uint8Array, count: number): Uint8Array {
  if (leaves.length < 32 * count) throw new RangeError("Cannot fold: too few digests");
  return merkleRoot(Array.from({ length: count }, (_, i) => leaves.slice(32 * i, 32 * i + 32)));
}
