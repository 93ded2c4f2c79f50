/**
 * The BLAKE3 batch kernel against Debian's `b3sum` (the BLAKE3 team's Rust implementation):
 * single inputs across chunk and window edges, a batch of leaf-shaped messages, and a Merkle
 * node. `b3sum` is installed in CI by `.ci/setup.d/15-b3sum.sh`; elsewhere without it these
 * checks are skipped visibly, and in CI its absence fails.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { toHex } from "../merkle.ts";
import { blake3, blake3LeavesPacked, merkleLevelPacked } from "./mod.ts";

const IN_CI = process.env.CI === "true";
/** Longest one b3sum run may take (ms). */
const B3SUM_MS_MAX = 10_000;

function b3sum(bytes: Uint8Array): string {
  const run = spawnSync("b3sum", ["--no-names"], { input: bytes, timeout: B3SUM_MS_MAX });
  if (run.status !== 0) throw new Error(`b3sum failed: ${run.stderr}`);
  return run.stdout.toString().trim();
}

const present = spawnSync("b3sum", ["--version"]).status === 0;
if (!present && !IN_CI) {
  console.warn("SKIP blake3 kernel vs b3sum: b3sum absent (apt-get install b3sum)");
}

/** Deterministic bytes (xorshift32) so a failure reproduces. */
function filled(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13, s >>>= 0, s ^= s >>> 17, s ^= s << 5, s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

Deno.test({
  name: "blake3 kernel agrees with b3sum",
  ignore: !present && !IN_CI,
  fn: () => {
    assert.ok(present, "b3sum is required in CI (.ci/setup.d/15-b3sum.sh)");
    const lengths = [
      0,
      1,
      63,
      64,
      65,
      1023,
      1024,
      1025,
      4096,
      4097,
      65_537,
      (1 << 20) + 1,
      5_000_001,
    ];
    for (const n of lengths) {
      const bytes = filled(n, n + 1);
      assert.equal(toHex(blake3(bytes)), b3sum(bytes), `length ${n}`);
    }
    // A batch: 40 leaf-shaped messages of 0..195 bytes, each checked on its own.
    const bytes = filled(40 * 196, 7);
    const offsets = new Uint32Array(41);
    for (let i = 0; i < 40; i++) offsets[i + 1] = offsets[i]! + ((i * 37) % 196);
    const digests = blake3LeavesPacked({ bytes, offsets }, 40);
    for (let i = 0; i < 40; i++) {
      const message = bytes.subarray(offsets[i]!, offsets[i + 1]!);
      assert.equal(toHex(digests.subarray(32 * i, 32 * i + 32)), b3sum(message), `message ${i}`);
    }
    // A Merkle node: BLAKE3(0x01 || left || right) (contract §6).
    const pair = filled(64, 3);
    const node = new Uint8Array(65);
    node[0] = 0x01;
    node.set(pair, 1);
    assert.equal(toHex(merkleLevelPacked(pair, 2)), b3sum(node));
  },
});
