/**
 * Work on a large text (a 1M-transfer intent body is ~50 MB) in bounded steps, so the request
 * loop answers other requests between them: slices that never split a surrogate pair, a
 * BLAKE3 digest and a journal line written a slice at a time. Each step is at most
 * {@link TEXT_STEP_CHARS} characters (~10–30 ms of encoding, hashing or sealing here).
 *
 * @module
 */
import { createBLAKE3 } from "hash-wasm";
import { toBase64Url } from "../../core/base64url.ts";

/** Characters handled per step before the loop is given a turn. */
export const TEXT_STEP_CHARS = 1 << 21;

/** Slices of `text` of at most `size` characters (size ≥ 2), never splitting a surrogate pair. */
export function* slicesOf(text: string, size = TEXT_STEP_CHARS): Generator<string> {
  for (let i = 0; i < text.length;) {
    let end = Math.min(text.length, i + size);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && end - i > 1 && last >= 0xd800 && last <= 0xdbff) end -= 1;
    yield text.slice(i, end);
    i = end;
  }
}

/** Gives the event loop a turn (timers and I/O run before this resolves). */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

const encoder = new TextEncoder();

/**
 * BLAKE3-256 hex of the UTF-8 of the texts' concatenation (the same digest as
 * `blake3Hex(parts.join(""))`), a slice at a time with a turn of the loop between slices of
 * a long text. Uses a hasher of its own: the shared one of core/blake3.ts is used
 * synchronously by others, and this one is suspended between slices.
 */
export async function blake3HexOfTexts(parts: readonly string[]): Promise<string> {
  const hasher = await createBLAKE3(256);
  hasher.init();
  for (const part of parts) {
    if (part.length <= TEXT_STEP_CHARS) {
      hasher.update(encoder.encode(part));
      continue;
    }
    for (const slice of slicesOf(part)) {
      hasher.update(encoder.encode(slice));
      await yieldToLoop();
    }
  }
  return hasher.digest("hex");
}

/**
 * The base64url text (no padding) of a byte stream, a chunk at a time: the same text as
 * `toBase64Url` of the chunks joined (each piece but the last covers a multiple of 3 bytes).
 */
export async function* base64UrlChunks(
  chunks: AsyncIterable<Uint8Array>,
): AsyncGenerator<string> {
  let carry = new Uint8Array(0);
  for await (const chunk of chunks) {
    const all = new Uint8Array(carry.length + chunk.length);
    all.set(carry, 0);
    all.set(chunk, carry.length);
    const whole = all.length - (all.length % 3);
    if (whole > 0) yield toBase64Url(all.subarray(0, whole));
    carry = all.slice(whole);
  }
  if (carry.length > 0) yield toBase64Url(carry);
}

/** UTF-8 of the texts, a slice of at most {@link TEXT_STEP_CHARS} characters at a time. */
export function* utf8Slices(parts: readonly string[]): Generator<Uint8Array> {
  for (const part of parts) {
    for (const slice of slicesOf(part)) yield encoder.encode(slice);
  }
}
