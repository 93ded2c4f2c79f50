/**
 * The committed kernel is what its source builds: `scripts/build_blake3_wasm.sh` rebuilds
 * `blake3_batch.wasm` and `blake3_batch_wasm.ts` into a temporary directory and both must
 * equal the committed files byte for byte. Needs clang 14.0.6 and lld (installed in CI by
 * `.ci/setup.d/16-clang-wasm.sh`); elsewhere without them the rebuild is skipped visibly, and
 * in CI their absence fails. The embedding is always checked against the `.wasm`.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { BLAKE3_BATCH_WASM_BASE64 } from "./blake3_batch_wasm.ts";

const HERE = new URL("./", import.meta.url);
const SCRIPT = new URL("../../../scripts/build_blake3_wasm.sh", import.meta.url).pathname;
const IN_CI = process.env.CI === "true";
/** Longest a rebuild may take (ms): one C file, a few seconds on this machine. */
const BUILD_MS_MAX = 120_000;

function toolchainPresent(): boolean {
  const clang = spawnSync("clang-14", ["--version"], { encoding: "utf8" });
  return clang.status === 0 && /clang version 14\.0\.6/.test(clang.stdout) &&
    spawnSync("/usr/lib/llvm-14/bin/wasm-ld", ["--version"]).status === 0;
}

Deno.test("blake3 kernel: the base64 embedding is the committed .wasm", () => {
  const wasm = readFileSync(new URL("blake3_batch.wasm", HERE));
  assert.equal(Buffer.from(BLAKE3_BATCH_WASM_BASE64, "base64").compare(wasm), 0);
});

const present = toolchainPresent();
if (!present && !IN_CI) {
  console.warn(
    "SKIP blake3 kernel rebuild: clang-14 14.0.6 + lld-14 absent (.ci/setup.d/16-clang-wasm.sh)",
  );
}

Deno.test({
  name: "blake3 kernel: scripts/build_blake3_wasm.sh rebuilds the committed files byte for byte",
  ignore: !present && !IN_CI,
  fn: () => {
    assert.ok(
      present,
      "clang-14 14.0.6 and lld-14 are required in CI (.ci/setup.d/16-clang-wasm.sh)",
    );
    const out = mkdtempSync(join(tmpdir(), "blake3-wasm-"));
    try {
      const run = spawnSync("bash", [SCRIPT, out], { encoding: "utf8", timeout: BUILD_MS_MAX });
      assert.equal(run.status, 0, `build failed: ${run.stderr}`);
      for (const file of ["blake3_batch.wasm", "blake3_batch_wasm.ts"]) {
        const rebuilt = readFileSync(join(out, file));
        const committed = readFileSync(new URL(file, HERE));
        assert.equal(rebuilt.compare(committed), 0, `${file} differs from its rebuild`);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
});
