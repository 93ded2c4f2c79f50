/**
 * Money and large integers on the wire (contract §1): decimal strings, no sign, no leading
 * zeros, value ≤ I128_MAX. Inside the core they are `bigint` minor units.
 *
 * @module
 */
import { I128_MAX } from "./limits.ts";

/** Canonical decimal: "0" or a non-zero digit followed by at most 38 digits. */
export const MONEY_PATTERN: RegExp = /^(0|[1-9][0-9]{0,38})$/;

/** True when `text` is a canonical money string whose value is ≤ I128_MAX. */
export function isMoney(text: unknown): text is string {
  if (typeof text !== "string" || !MONEY_PATTERN.test(text)) return false;
  // ≤ 38 digits is < 10^38 < I128_MAX (≈ 1.7·10^38): only 39-digit values need the compare.
  return text.length < 39 || BigInt(text) <= I128_MAX;
}

/** Prints minor units as the contract's decimal string. Negative values are a bug. */
export function formatMinor(value: bigint): string {
  if (value < 0n) throw new RangeError("Cannot format money: value is negative");
  return value.toString();
}
