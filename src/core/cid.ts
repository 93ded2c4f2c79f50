/**
 * Content ids (contract §1): `b3:` + 64 lowercase hex of BLAKE3-256 over the exact bytes.
 *
 * @module
 */
import { blake3Hex } from "./blake3.ts";

/** Matches a well-formed CID. Uppercase is rejected, never re-cased (contract §1). */
export const CID_PATTERN: RegExp = /^b3:[0-9a-f]{64}$/;

/** The CID of `bytes` (or of the UTF-8 of a string). */
export function cidOf(bytes: Uint8Array | string): string {
  return "b3:" + blake3Hex(bytes);
}

/** True when `value` is a well-formed CID string. */
export function isCid(value: unknown): value is string {
  return typeof value === "string" && CID_PATTERN.test(value);
}
