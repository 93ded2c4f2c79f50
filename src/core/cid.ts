/**
 * Content ids (contract §1): `b3:` + 64 lowercase hex of BLAKE3-256 over the exact bytes.
 *
 * @module
 */
import { blake3Hex, blake3HexChunked } from "./blake3.ts";
import { type Checkpoint, CHECKPOINT_HASH_BYTES } from "./checkpoint.ts";
import { badRequest } from "./errors.ts";

/** Matches a well-formed CID. Uppercase is rejected, never re-cased (contract §1). */
export const CID_PATTERN: RegExp = /^b3:[0-9a-f]{64}$/;

/**
 * A well-formed CID (contract §1), checked once where it enters: made by {@link cidOf} or
 * {@link asCid}, never by a cast. On the wire it is the plain string (the brand is erased).
 */
export type Cid = string & { readonly __brand: "Cid" };

/** The CID of `bytes` (or of the UTF-8 of a string). */
export function cidOf(bytes: Uint8Array | string): Cid {
  return ("b3:" + blake3Hex(bytes)) as Cid;
}

/**
 * The CID of large `bytes`, hashed CHECKPOINT_HASH_BYTES at a time with `checkpoint()` between
 * chunks (it throws to abandon); the same CID as {@link cidOf}.
 */
export function cidOfChecked(bytes: Uint8Array, checkpoint: Checkpoint): Cid {
  return ("b3:" + blake3HexChunked(bytes, CHECKPOINT_HASH_BYTES, checkpoint)) as Cid;
}

/** True when `value` is a well-formed CID string. */
export function isCid(value: unknown): value is Cid {
  return typeof value === "string" && CID_PATTERN.test(value);
}

/**
 * `s` as a {@link Cid}; a malformed one throws 400 `schema` at `path` (default `cid`).
 */
export function asCid(s: string, path = "cid"): Cid {
  if (!isCid(s)) throw badRequest("schema", path);
  return s;
}
