/**
 * The BLAKE3 batch kernel, instantiated once from its embedded bytes (`blake3_batch_wasm.ts`,
 * built by `scripts/build_blake3_wasm.sh`), with typed views of its fixed 2 MiB memory.
 *
 * Loading: base64 → bytes → `WebAssembly.instantiate` under a top-level await, the way
 * hash-wasm loads its own module; it works alike on Deno, Bun, Node 20 and in browsers (whose
 * main thread refuses synchronous compilation of modules over 4 KiB). No file is read.
 *
 * Memory windows (addresses and sizes come from the module, named once in blake3_batch.c):
 *
 * | window  | size                         | holds                                          |
 * |---------|------------------------------|------------------------------------------------|
 * | data    | `dataBytesMax` (1 MiB)       | message bytes, input of a streamed hash, nodes |
 * | offsets | 4 × (`messagesMax` + 1) B    | u32 LE message boundaries, relative to `data`  |
 * | out     | 32 × `messagesMax` B         | digests, 32 bytes each                         |
 *
 * The memory cannot grow (min = max), so the views made here stay valid.
 *
 * @module
 */
import { BLAKE3_BATCH_WASM_BASE64 } from "./blake3_batch_wasm.ts";

/** The kernel's exports (see blake3_batch.c for each contract). */
interface KernelExports {
  memory: WebAssembly.Memory;
  b3_data_ptr(): number;
  b3_data_bytes_max(): number;
  b3_offsets_ptr(): number;
  b3_out_ptr(): number;
  b3_messages_max(): number;
  b3_begin(): void;
  b3_update_chunks(inPtr: number, len: number): void;
  b3_finish(inPtr: number, len: number, outPtr: number): void;
  b3_hash(inPtr: number, len: number, outPtr: number): void;
  b3_hash_many(dataPtr: number, offsetsPtr: number, count: number, outPtr: number): void;
  b3_merkle_level(nodesPtr: number, count: number, outPtr: number): void;
  b3_merkle_root(nodesPtr: number, count: number, outPtr: number): void;
}

/** The instantiated kernel and its windows. */
export interface Kernel {
  fn: KernelExports;
  /** The whole linear memory. */
  heap: Uint8Array;
  dataPtr: number;
  /** Data window size (bytes); a multiple of the BLAKE3 chunk (1024) and of 64 (node pairs). */
  dataBytesMax: number;
  offsetsPtr: number;
  /** The offsets window as u32 (`messagesMax + 1` entries). */
  offsets: Uint32Array;
  outPtr: number;
  /** Messages per `b3_hash_many` call. */
  messagesMax: number;
}

/** BLAKE3 chunk size (bytes): the streamed windows must be whole chunks. */
const CHUNK_BYTES = 1024;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

async function instantiate(): Promise<Kernel> {
  const { instance } = await WebAssembly.instantiate(decodeBase64(BLAKE3_BATCH_WASM_BASE64));
  const fn = instance.exports as unknown as KernelExports;
  const heap = new Uint8Array(fn.memory.buffer);
  const dataBytesMax = fn.b3_data_bytes_max();
  const messagesMax = fn.b3_messages_max();
  const offsetsPtr = fn.b3_offsets_ptr();
  if (dataBytesMax % CHUNK_BYTES !== 0 || offsetsPtr % 4 !== 0 || messagesMax < 1) {
    throw new Error("Cannot load the BLAKE3 kernel as its windows are misaligned");
  }
  return {
    fn,
    heap,
    dataPtr: fn.b3_data_ptr(),
    dataBytesMax,
    offsetsPtr,
    offsets: new Uint32Array(fn.memory.buffer, offsetsPtr, messagesMax + 1),
    outPtr: fn.b3_out_ptr(),
    messagesMax,
  };
}

/** The one kernel instance (single-threaded JS: calls never interleave). */
export const kernel: Kernel = await instantiate();
