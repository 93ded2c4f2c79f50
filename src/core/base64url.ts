/**
 * base64url without padding (contract §1: binary in JSON), strict on decode.
 *
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const PATTERN = /^[A-Za-z0-9_-]*$/;

/** The runtime's `Uint8Array.prototype.toBase64` (Deno, Bun, browsers; not Node 20), if any. */
// deno-lint-ignore no-explicit-any
const nativeToBase64 = (Uint8Array.prototype as any).toBase64 as
  | ((this: Uint8Array, options: { alphabet: string; omitPadding: boolean }) => string)
  | undefined;
const ALPHABET_CODES = new TextEncoder().encode(ALPHABET);
const ascii = new TextDecoder();

/**
 * Encodes bytes as base64url without padding: the runtime's native encoder when it has one,
 * else {@link toBase64UrlPortable}. Both give the same text (base64url_test.ts).
 */
export function toBase64Url(bytes: Uint8Array): string {
  if (nativeToBase64 !== undefined) {
    return nativeToBase64.call(bytes, { alphabet: "base64url", omitPadding: true });
  }
  return toBase64UrlPortable(bytes);
}

/**
 * base64url without padding in plain JS: the characters are written into one byte array and
 * decoded once (a string grown character by character costs ~40–140 ms per megabyte, the
 * sealed body of a 10k-transfer intent, before it is even flattened).
 */
export function toBase64UrlPortable(bytes: Uint8Array): string {
  const full = bytes.length - (bytes.length % 3);
  const rest = bytes.length - full;
  const out = new Uint8Array((full / 3) * 4 + (rest === 0 ? 0 : rest + 1));
  let o = 0;
  for (let i = 0; i < full; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = ALPHABET_CODES[(n >> 18) & 63]!;
    out[o++] = ALPHABET_CODES[(n >> 12) & 63]!;
    out[o++] = ALPHABET_CODES[(n >> 6) & 63]!;
    out[o++] = ALPHABET_CODES[n & 63]!;
  }
  if (rest === 1) {
    const n = bytes[full]! << 16;
    out[o++] = ALPHABET_CODES[(n >> 18) & 63]!;
    out[o++] = ALPHABET_CODES[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[full]! << 16) | (bytes[full + 1]! << 8);
    out[o++] = ALPHABET_CODES[(n >> 18) & 63]!;
    out[o++] = ALPHABET_CODES[(n >> 12) & 63]!;
    out[o++] = ALPHABET_CODES[(n >> 6) & 63]!;
  }
  return ascii.decode(out);
}

/**
 * Decodes base64url without padding. Throws `TypeError` on any other alphabet, on padding,
 * on an impossible length, or on non-zero trailing bits (so each byte string has exactly one
 * accepted encoding).
 */
export function fromBase64Url(text: string): Uint8Array {
  if (!PATTERN.test(text) || text.length % 4 === 1) {
    throw new TypeError("Cannot decode base64url: malformed input");
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    acc = (acc << 6) | ALPHABET.indexOf(text[i]!);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  if (acc !== 0) throw new TypeError("Cannot decode base64url: non-canonical trailing bits");
  return out;
}
