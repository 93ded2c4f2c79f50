/**
 * Private helpers shared by the body cap and the decompression middleware: read a request
 * body with a byte cap (chunked bodies counted as they stream) and swap the request body.
 * Not exported from the middleware set; import only from this folder.
 *
 * @module
 */
import type { Context } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";
import { type Deadline, sharedDeadlines } from "./_deadlines.ts";

/** Bytes counted in a declared `Content-Length`: digits only, ≤ 15 digits (fits a double). */
const CONTENT_LENGTH_RE = /^[0-9]{1,15}$/;

/**
 * True when the request declares a content coding other than `identity` (the decompress
 * middleware reads such a body again from the request; middleware/decompress.ts).
 */
export function hasContentCoding(c: Context<AppEnv>): boolean {
  const coding = c.req.header("content-encoding")?.trim().toLowerCase() ?? "";
  return coding !== "" && coding !== "identity";
}

/**
 * Hands the buffered `body` to the rest of the chain through Hono's body cache: the route's
 * `c.req.arrayBuffer()` (and `text()`, `json()`) answer it without a second read. The request
 * itself is not rebuilt (a Request costs more than a replay's whole validation, docs/PROFILE.md):
 * nothing after the body cap reads `c.req.raw`'s body, except the decompress middleware, which
 * gets a rebuilt request ({@link replaceBody}) when there is a coding to undo.
 */
export function keepBody(c: Context<AppEnv>, body: Uint8Array<ArrayBuffer>): void {
  const exact = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength
    ? body.buffer
    : body.slice().buffer;
  // At run time Hono keeps each read's promise there (request.ts `#cachedBody`); its type
  // names the resolved values.
  (c.req.bodyCache as unknown as { arrayBuffer?: Promise<ArrayBuffer> }).arrayBuffer = Promise
    .resolve(exact);
}

/**
 * The declared `Content-Length` as a number, `undefined` when absent. A malformed value is a
 * 400 (`content_length`): the runtimes reject it before us, this guards in-process callers.
 */
export function declaredLength(req: Request): number | undefined {
  const raw = req.headers.get("content-length");
  if (raw === null) return undefined;
  const text = raw.trim();
  if (!CONTENT_LENGTH_RE.test(text)) throw new RewarderError("BAD_REQUEST", "content_length");
  return Number(text);
}

/**
 * Reads the whole body of `req` and returns its bytes, `null` when there is none.
 *
 * Throws BAD_REQUEST `oversize` (413) as soon as the declared length or the bytes received
 * exceed `bytesMax` — whatever `Content-Length` claims, the bytes are counted, so a bogus or
 * absent length cannot slip a larger body through. With `readTimeoutMs`, a body that is not
 * complete in time is cancelled and TIMEOUT `timeout` (503) thrown (Deno.serve has no body
 * timeout of its own, RUNTIME-NOTES "Serving").
 */
export async function readBodyCapped(
  req: Request,
  bytesMax: number,
  readTimeoutMs?: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  if (req.body === null) return null;
  const declared = declaredLength(req);
  if (declared !== undefined && declared > bytesMax) {
    await req.body.cancel().catch(() => undefined);
    throw new RewarderError("BAD_REQUEST", "oversize");
  }
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // The read deadline shares one timer with every other body read (middleware/_deadlines.ts).
  const deadlines = readTimeoutMs === undefined ? undefined : sharedDeadlines(readTimeoutMs);
  let deadline: Deadline | undefined;
  const expired = deadlines === undefined ? undefined : new Promise<"expired">((resolve) => {
    deadline = deadlines.add(() => resolve("expired"));
  });
  try {
    // Bounded: each round consumes ≥ 1 byte or ends; total bytes ≤ bytesMax + one chunk.
    for (;;) {
      const step = expired === undefined ? await reader.read() : await Promise.race([
        reader.read(),
        expired,
      ]);
      if (step === "expired") {
        await reader.cancel().catch(() => undefined);
        throw new RewarderError("TIMEOUT", "timeout", { retryAfterS: 1 });
      }
      if (step.done) break;
      size += step.value.byteLength;
      if (size > bytesMax) {
        await reader.cancel().catch(() => undefined);
        throw new RewarderError("BAD_REQUEST", "oversize");
      }
      chunks.push(step.value);
    }
  } finally {
    if (deadline !== undefined) deadlines!.settle(deadline);
  }
  return concat(chunks, size);
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Replaces the request the rest of the chain sees with one carrying `body` and a matching
 * `Content-Length`; `dropEncoding` also removes `Content-Encoding` (after inflating).
 */
export function replaceBody(c: Context<AppEnv>, body: Uint8Array, dropEncoding: boolean): void {
  const headers = new Headers(c.req.raw.headers);
  headers.delete("transfer-encoding");
  if (dropEncoding) headers.delete("content-encoding");
  headers.set("content-length", String(body.byteLength));
  c.req.raw = new Request(c.req.raw.url, {
    method: c.req.raw.method,
    headers,
    body: new Uint8Array(body),
    signal: c.req.raw.signal,
  });
}
