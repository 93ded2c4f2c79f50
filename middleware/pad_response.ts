/**
 * Size-bucketed padding of manifest responses (seed appendix: "pad/bucket manifest response
 * sizes"), so the length of a sealed envelope on the wire says little about its recipients.
 *
 * Padding is JSON whitespace (spaces) AFTER the closing brace: RFC 8259 §2 allows
 * insignificant whitespace around a value, so every JSON parser yields the same value and
 * clients that verify hash the parsed manifest through JCS (contract §6), never the response
 * bytes. The response is marked `Cache-Control: no-store, no-transform` so the compression
 * middleware (hono/compress honours `no-transform`) does not squeeze the padding away.
 *
 * @module
 */

/** Smallest bucket: every padded body is at least this long, bytes. */
export const PAD_BUCKET_BYTES_MIN = 1024;
/** Beyond this size bodies are padded to the next multiple of it instead of a power of two. */
export const PAD_BUCKET_BYTES_STEP_MAX = 1024 * 1024;

/** The padded length for a body of `bytes`: next power of two ≥ 1 KiB, then 1 MiB steps. */
export function paddedLength(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < 0) {
    throw new RangeError(
      `Cannot pad a body as its length must be a natural number: current value is ${bytes}`,
    );
  }
  if (bytes <= PAD_BUCKET_BYTES_MIN) return PAD_BUCKET_BYTES_MIN;
  if (bytes > PAD_BUCKET_BYTES_STEP_MAX) {
    return Math.ceil(bytes / PAD_BUCKET_BYTES_STEP_MAX) * PAD_BUCKET_BYTES_STEP_MAX;
  }
  let n = PAD_BUCKET_BYTES_MIN;
  while (n < bytes) n *= 2; // ≤ 10 doublings: 1 KiB → 1 MiB
  return n;
}

/**
 * Pads the UTF-8 bytes of a JSON text with trailing spaces up to {@link paddedLength}.
 * The input must already be complete JSON (e.g. `canonicalJson(envelope)`).
 */
export function padJsonBytes(json: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(json);
  const out = new Uint8Array(paddedLength(bytes.byteLength));
  out.set(bytes, 0);
  out.fill(0x20, bytes.byteLength);
  return out;
}

/**
 * {@link padJsonBytes} as text: the same bytes once UTF-8 encoded (the JSON, then spaces), and
 * their count. A string body reaches the runtime's response without a copy on the JS heap
 * (a byte body is copied on every answer: docs/PROFILE.md), so cached answers keep this form.
 */
export function padJsonText(json: string): { text: string; bytes: number } {
  const length = new TextEncoder().encode(json).byteLength;
  const bytes = paddedLength(length);
  return { text: json + " ".repeat(bytes - length), bytes };
}

/**
 * A padded JSON response for a manifest or envelope.
 *
 * @example
 * ```ts
 * return paddedJsonResponse(canonicalJson(envelope));
 * ```
 */
export function paddedJsonResponse(json: string, status = 200): Response {
  const body = padJsonBytes(json);
  return new Response(body, {
    status,
    headers: {
      "content-type": "application/json",
      "content-length": String(body.byteLength),
      "cache-control": "no-store, no-transform",
    },
  });
}
