/**
 * A JSON answer with its `Content-Length`. `c.json()` answers without one, and response
 * compression (middleware/compression.ts) judges a body's size by that header only, so every
 * `c.json()` answer was gzipped whatever its size — a ~1 KB replayed run record included
 * (~10 % of a replay's CPU). With the length known, answers below the threshold go as they are.
 *
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

const encoder = new TextEncoder();

/** Answers `value` as JSON with `status`, its exact length in `Content-Length`. */
export function jsonAnswer(c: Context, value: unknown, status: ContentfulStatusCode = 200) {
  const bytes = encoder.encode(JSON.stringify(value));
  return c.body(bytes, status, {
    "content-type": "application/json",
    "content-length": String(bytes.byteLength),
  });
}
