/**
 * Reads a response body to the end, refusing more than `bytesMax` bytes: the read stops and the
 * stream is cancelled as soon as the count passes the cap, so an oversized body is never
 * buffered whole. Web streams only (no file system, no runtime API): the service's sources and
 * the edge's origin reader share it.
 *
 * @module
 */

/**
 * The bytes of `body`, at most `bytesMax` of them; past the cap the stream is cancelled and
 * `tooLarge()` is thrown.
 *
 * @example
 * ```ts
 * const bytes = await readBodyCapped(response.body, 1024, () => new RangeError("too large"));
 * ```
 */
export async function readBodyCapped(
  body: ReadableStream<Uint8Array> | null,
  bytesMax: number,
  tooLarge: () => Error,
): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > bytesMax) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
