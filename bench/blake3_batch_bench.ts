/**
 * The BLAKE3 batch kernel (`src/core/blake3_batch/`) against the current per-call paths, in
 * one run: 1M payout leaves + the Merkle root (contract §6), and one 80 MB input.
 *
 * Rows (median of REPS or REPS_SLOW runs each, same payouts, same process):
 * - kernel: `leafPreimagesPacked` → `blake3LeavesPacked` → `merkleRootPacked` (batch WASM);
 * - merkle.ts: `packedLeavesOf` → `merkleRootPacked` of `src/core/merkle.ts` (hash-wasm, one
 *   call per leaf and per node, no per-leaf allocation);
 * - hash-wasm per call: the same packed preimages and levels hashed one `init/update/digest`
 *   at a time (the floor of any per-call design: no encoding, no allocation).
 * Every row's root is compared with the others; a mismatch aborts the bench.
 *
 * Run: `deno run -A bench/blake3_batch_bench.ts [--leaves N]` (prints only).
 *
 * @module
 */
import { createBLAKE3 } from "hash-wasm";
import {
  blake3,
  blake3LeavesPacked,
  leafPreimagesPacked,
  merkleRootPacked,
} from "../src/core/blake3_batch/mod.ts";
import { toHex } from "../src/core/merkle.ts";
// The per-call hash-wasm path (one BLAKE3 call per leaf and per node), which src/core/merkle.ts
// used before it moved onto the batch kernel.
import {
  referenceLeavesPacked as packedLeavesOf,
  referenceRootPacked as merkleRootPerCall,
} from "../src/core/blake3_batch/_reference.ts";

/** Default leaves (one per recipient of the 1M epoch). */
const LEAVES_DEFAULT = 1_000_000;
/** Large-input size (bytes): about the 1M epoch's inputs file. */
const BIG_BYTES = 80_000_000;
/** Repetitions per kernel row; the median is reported. */
const REPS = 5;
/** Repetitions of the per-call rows (seconds each at 1M). */
const REPS_SLOW = 3;
const DIGEST_BYTES = 32;

const leavesArg = Deno.args.indexOf("--leaves");
const leafCount = leavesArg >= 0 ? Number(Deno.args[leavesArg + 1]) : LEAVES_DEFAULT;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Times `fn` REPS times (after one warm-up run); returns the median ms and the last value. */
function time<T>(fn: () => T, reps = REPS): { ms: number; value: T } {
  let value = fn();
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    value = fn();
    samples.push(performance.now() - t0);
  }
  return { ms: median(samples), value };
}

/** Payouts shaped like the generated epochs (`node:%08x`, amounts up to 10^9 minor units). */
function payoutsOf(n: number): { account: string; amount_minor: string }[] {
  let s = 0x9e3779b9;
  const out = new Array<{ account: string; amount_minor: string }>(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13, s >>>= 0, s ^= s >>> 17, s ^= s << 5, s >>>= 0;
    out[i] = { account: `node:${i.toString(16).padStart(8, "0")}`, amount_minor: String(s % 1e9) };
  }
  return out;
}

const hasher = await createBLAKE3(256);

/** hash-wasm, one call per leaf and per node, over the packed preimages. */
function perCallRoot(bytes: Uint8Array, offsets: Uint32Array, count: number): Uint8Array {
  let level = new Uint8Array(DIGEST_BYTES * count);
  for (let i = 0; i < count; i++) {
    hasher.init();
    hasher.update(bytes.subarray(offsets[i]!, offsets[i + 1]!));
    level.set(hasher.digest("binary"), DIGEST_BYTES * i);
  }
  const node = new Uint8Array(1 + 2 * DIGEST_BYTES);
  node[0] = 0x01;
  for (; count > 1; count = Math.ceil(count / 2)) {
    const next = new Uint8Array(DIGEST_BYTES * Math.ceil(count / 2));
    for (let i = 0; i + 1 < count; i += 2) {
      node.set(level.subarray(DIGEST_BYTES * i, DIGEST_BYTES * (i + 2)), 1);
      hasher.init();
      hasher.update(node);
      next.set(hasher.digest("binary"), (DIGEST_BYTES * i) / 2);
    }
    if (count % 2 === 1) {
      next.set(
        level.subarray(DIGEST_BYTES * (count - 1), DIGEST_BYTES * count),
        next.length - DIGEST_BYTES,
      );
    }
    level = next;
  }
  return level.slice(0, DIGEST_BYTES);
}

const payouts = payoutsOf(leafCount);
const packed = leafPreimagesPacked(payouts);

const pack = time(() => leafPreimagesPacked(payouts));
const leaves = time(() => blake3LeavesPacked(packed, leafCount));
const root = time(() => merkleRootPacked(leaves.value, leafCount));
const kernelE2e = time(() => {
  const p = leafPreimagesPacked(payouts);
  return merkleRootPacked(blake3LeavesPacked(p, leafCount), leafCount);
});
const refLeaves = time(() => packedLeavesOf(payouts), REPS_SLOW);
const refRoot = time(() => merkleRootPerCall(refLeaves.value, leafCount), REPS_SLOW);
const refE2e = time(() => merkleRootPerCall(packedLeavesOf(payouts), leafCount), REPS_SLOW);
const perCall = time(() => perCallRoot(packed.bytes, packed.offsets, leafCount), REPS_SLOW);

const roots = [kernelE2e.value, root.value, refE2e.value, refRoot.value, perCall.value].map(toHex);
if (new Set(roots).size !== 1) throw new Error(`roots disagree: ${roots.join(" ")}`);

const big = new Uint8Array(BIG_BYTES);
for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
const bigKernel = time(() => blake3(big));
const bigHashWasm = time(() => {
  hasher.init();
  hasher.update(big);
  return hasher.digest("binary");
});
if (toHex(bigKernel.value) !== toHex(bigHashWasm.value)) throw new Error("80 MB digests disagree");

const f = (ms: number) => ms.toFixed(1).padStart(8);
const mbps = (ms: number) => ((BIG_BYTES / 1e6) / (ms / 1e3)).toFixed(0);
console.log(
  `blake3 batch bench: ${leafCount} leaves, median of ${REPS} (kernel) / ${REPS_SLOW} (per call)` +
    ` runs, ${Deno.build.target}, load average ${Deno.loadavg()[0]!.toFixed(1)}`,
);
console.log(
  `| path                          | leaves ms | root ms | leaves+root ms (with encoding) |`,
);
console.log(
  `|-------------------------------|----------:|--------:|-------------------------------:|`,
);
console.log(
  `| kernel (batch WASM, SIMD128)  | ${f(leaves.ms)}  | ${f(root.ms)} | ${f(kernelE2e.ms)} (pack ${
    pack.ms.toFixed(1)
  }) |`,
);
console.log(
  `| src/core/merkle.ts (hash-wasm)| ${f(refLeaves.ms)}  | ${f(refRoot.ms)} | ${f(refE2e.ms)} |`,
);
console.log(
  `| hash-wasm per call, packed    |        —  |       — | ${f(perCall.ms)} (no encoding) |`,
);
console.log(
  `80 MB: kernel ${bigKernel.ms.toFixed(0)} ms (${mbps(bigKernel.ms)} MB/s), hash-wasm ${
    bigHashWasm.ms.toFixed(0)
  } ms (${mbps(bigHashWasm.ms)} MB/s)`,
);
console.log(`root ${roots[0]}`);
