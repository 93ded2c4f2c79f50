/**
 * BLAKE3-256 over bytes, backed by `hash-wasm`'s WebAssembly build.
 *
 * Why hash-wasm rather than `@noble/hashes`: measured on this 2-core machine
 * (`deno task bench`, see docs/RESULTS.md), hash-wasm hashes 64 MiB at ~450 MB/s against
 * noble's ~60 MB/s, and a 20-byte Merkle leaf in ~0.65 µs against ~2.6 µs. Both are
 * deterministic and agree byte for byte (pinned by `blake3_test.ts` against the official
 * BLAKE3 test vectors and against noble).
 *
 * The hasher is created once (top-level await) and then used synchronously: init → update →
 * digest runs without yielding, so sharing one instance is safe in single-threaded JS.
 *
 * @module
 */
import { createBLAKE3 } from "hash-wasm";

import type { Checkpoint } from "./checkpoint.ts";

const hasher = await createBLAKE3(256);
const encoder = new TextEncoder();

/** BLAKE3-256 digest (32 bytes) of the concatenation of `parts`. */
export function blake3(...parts: (Uint8Array | string)[]): Uint8Array {
  hasher.init();
  for (const part of parts) hasher.update(typeof part === "string" ? encoder.encode(part) : part);
  return hasher.digest("binary");
}

/** BLAKE3-256 digest of `parts`, as 64 lowercase hex characters. */
export function blake3Hex(...parts: (Uint8Array | string)[]): string {
  hasher.init();
  for (const part of parts) hasher.update(typeof part === "string" ? encoder.encode(part) : part);
  return hasher.digest("hex");
}

/**
 * BLAKE3-256 hex of `bytes`, fed `chunkBytes` at a time with `checkpoint()` between chunks (it
 * throws to abandon; the shared hasher is re-initialised by its next use). Same digest as
 * {@link blake3Hex}: BLAKE3 is a stream, chunking does not change it.
 */
export function blake3HexChunked(
  bytes: Uint8Array,
  chunkBytes: number,
  checkpoint: Checkpoint,
): string {
  hasher.init();
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    if (at > 0) checkpoint();
    hasher.update(bytes.subarray(at, Math.min(bytes.length, at + chunkBytes)));
  }
  return hasher.digest("hex");
}
