/**
 * Fuzz target: the BLAKE3 batch kernel (`src/core/blake3_batch/`, money-critical: it computes
 * `payouts_root`, contract §6). Inputs: a list of messages (leaf-sized mostly, some across
 * block, chunk and multi-chunk edges) packed after a random lead, and a layout mutation that
 * may make the offsets invalid (decreasing, past the end, too few). Failure: a valid layout
 * whose digests differ from hash-wasm's per message, a Merkle level or root that differs from
 * `src/core/merkle.ts`, a one-shot hash of the concatenation that differs, an invalid layout
 * accepted, or any error other than the documented `RangeError`.
 *
 * @module
 */
import fc from "fast-check";
import { createBLAKE3 } from "hash-wasm";
import { toHex } from "../src/core/merkle.ts";
import { referenceRootPacked as referenceRoot } from "../src/core/blake3_batch/_reference.ts";
import {
  blake3,
  blake3LeavesPacked,
  merkleLevelPacked,
  merkleRootPacked,
} from "../src/core/blake3_batch/mod.ts";
import {
  bytesFromJson,
  bytesToJson,
  CASE_TIME_MS_MAX,
  type FuzzTarget,
  tally,
  withinMs,
} from "./_harness.ts";

/** Layout mutations: none, or one that makes the offsets describe no valid batch. */
const LAYOUTS = ["valid", "decreasing", "past_end", "short_offsets"] as const;

/** One case. */
export interface Blake3BatchCase {
  messages: Uint8Array[];
  lead: number;
  layout: (typeof LAYOUTS)[number];
  /** Which boundary the mutation hits (modulo the count). */
  at: number;
}

const message: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 1100 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 2000, maxLength: 9000 }) },
);

const hasher = await createBLAKE3(256);
function referenceHex(bytes: Uint8Array): string {
  hasher.init();
  hasher.update(bytes);
  return hasher.digest("hex");
}

function packed(c: Blake3BatchCase): { bytes: Uint8Array; offsets: Uint32Array } {
  const total = c.messages.reduce((n, m) => n + m.length, c.lead);
  const bytes = new Uint8Array(total).fill(0x5a);
  const offsets = new Uint32Array(c.messages.length + 1);
  let pos = c.lead;
  offsets[0] = pos;
  c.messages.forEach((m, i) => {
    bytes.set(m, pos);
    pos += m.length;
    offsets[i + 1] = pos;
  });
  return { bytes, offsets };
}

/** Applies the layout mutation; returns whether the result is still a valid layout. */
function mutate(c: Blake3BatchCase, layout: { bytes: Uint8Array; offsets: Uint32Array }) {
  const n = c.messages.length;
  const i = 1 + (c.at % Math.max(n, 1));
  switch (c.layout) {
    case "valid":
      return { ...layout, valid: true };
    case "decreasing": // boundary i strictly below boundary i-1 (kept valid when it cannot be)
      if (n === 0 || layout.offsets[i - 1] === 0) return { ...layout, valid: true };
      layout.offsets[i] = Math.max(0, layout.offsets[i - 1]! - 1 - (c.at % 3));
      return { ...layout, valid: false };
    case "past_end": // the last boundary past the bytes (also for an empty batch)
      layout.offsets[n] = layout.bytes.length + 1 + (c.at % 5);
      return { ...layout, valid: false };
    case "short_offsets":
      return { ...layout, offsets: layout.offsets.subarray(0, n), valid: false };
  }
}

function checkValid(c: Blake3BatchCase, digests: Uint8Array): void {
  const n = c.messages.length;
  for (let i = 0; i < n; i++) {
    if (toHex(digests.subarray(32 * i, 32 * i + 32)) !== referenceHex(c.messages[i]!)) {
      throw new Error(`digest ${i} of ${n} differs from hash-wasm`);
    }
  }
  if (toHex(merkleRootPacked(digests, n)) !== toHex(referenceRoot(digests, n))) {
    throw new Error(`Merkle root over ${n} leaves differs from src/core/merkle.ts`);
  }
  const level = merkleLevelPacked(digests, n);
  if (
    n >= 2 && toHex(merkleRootPacked(level, Math.ceil(n / 2))) !== toHex(referenceRoot(digests, n))
  ) {
    throw new Error(`Merkle level over ${n} nodes does not fold to the root`);
  }
  const all = new Uint8Array(c.messages.reduce((k, m) => k + m.length, 0));
  let pos = 0;
  for (const m of c.messages) all.set(m, pos), pos += m.length;
  if (toHex(blake3(all)) !== referenceHex(all)) {
    throw new Error(`one-shot hash of ${all.length} bytes differs from hash-wasm`);
  }
}

/** The BLAKE3 batch kernel target (pure; no service needed). */
export function blake3BatchTarget(): FuzzTarget<Blake3BatchCase> {
  const stats: Record<string, number> = {};
  return {
    name: "blake3_batch",
    stats,
    arbitrary: fc.record({
      messages: fc.array(message, { maxLength: 40 }),
      lead: fc.nat(70),
      layout: fc.oneof(
        { weight: 5, arbitrary: fc.constant("valid" as const) },
        { weight: 1, arbitrary: fc.constantFrom("decreasing", "past_end", "short_offsets") },
      ),
      at: fc.nat(1000),
    }),
    async check(c) {
      await withinMs(CASE_TIME_MS_MAX, "blake3 batch", () => {
        const { bytes, offsets, valid } = mutate(c, packed(c));
        let digests: Uint8Array;
        try {
          digests = blake3LeavesPacked({ bytes, offsets }, c.messages.length);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err;
          if (valid) throw new Error(`valid layout refused: ${err.message}`);
          tally(stats, "refused");
          return Promise.resolve();
        }
        if (!valid) throw new Error(`invalid layout (${c.layout}) accepted`);
        checkValid(c, digests);
        tally(stats, c.messages.some((m) => m.length > 1024) ? "hashed_multi_chunk" : "hashed");
        return Promise.resolve();
      });
    },
    encode: (c) => ({ ...c, messages: c.messages.map(bytesToJson) }),
    decode: (saved) => {
      const s = saved as Omit<Blake3BatchCase, "messages"> & { messages: string[] };
      return { ...s, messages: s.messages.map(bytesFromJson) };
    },
  };
}
