/**
 * Fuzzing in CI (docs/SUPPLY-CHAIN.md): every target in `fuzz/targets.ts` for FUZZ_RUNS cases
 * (default 10,000) against the in-process app, plus the replay of every kept counterexample
 * in `fuzz/regressions/`. Each target must also reach both sides of its decisions (accepted
 * and rejected inputs), so a generator that degrades into noise fails the test.
 *
 *   deno test --allow-all tests/fuzz_test.ts            # CI size
 *   FUZZ_RUNS=100000 deno test --allow-all tests/fuzz_test.ts
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import {
  fromSavable,
  fuzzRuns,
  type FuzzService,
  REGRESSIONS_DIR,
  runTarget,
  startFuzzService,
} from "../fuzz/_harness.ts";
import { buildTarget, TARGET_NAMES, type TargetName } from "../fuzz/targets.ts";

/** Outcomes each target must reach at least once in a CI-sized run. */
const MUST_REACH: Readonly<Record<TargetName, readonly string[]>> = {
  compute_body: ["200", "400", "404"],
  inputs: ["accepted", "rejected", "computed"],
  policy: ["document_accepted", "document_rejected", "envelope_accepted", "envelope_schema"],
  macaroon: ["200", "401", "403"],
  compressed: ["200", "413", "415"],
  blake3_batch: ["hashed", "hashed_multi_chunk", "refused"],
};

let svc: FuzzService | undefined;
async function service(): Promise<FuzzService> {
  svc ??= await startFuzzService();
  return svc;
}

for (const name of TARGET_NAMES) {
  Deno.test({
    name: `fuzz ${name}: no crash, no 5xx, no hang`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const target = await buildTarget(name, await service());
      const run = await runTarget(target, fuzzRuns());
      console.log(`fuzz ${name}: ${run.runs} cases in ${run.ms} ms ${JSON.stringify(run.stats)}`);
      if (run.runs >= 1000) {
        for (const outcome of MUST_REACH[name]) {
          assert.ok((run.stats[outcome] ?? 0) > 0, `${name} never reached ${outcome}`);
        }
      }
    },
  });
}

Deno.test({
  name: "fuzz regressions: every kept counterexample passes",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const files = readdirSync(REGRESSIONS_DIR).filter((f) => f.endsWith(".json")).sort();
    for (const file of files) {
      const saved = JSON.parse(readFileSync(new URL(file, REGRESSIONS_DIR), "utf8"));
      assert.ok((TARGET_NAMES as readonly string[]).includes(saved.target), `${file}: target`);
      const target = await buildTarget(saved.target as TargetName, await service());
      await target.check(target.decode(fromSavable(saved.input))).catch((err) => {
        throw new Error(`${file}: ${(err as Error).message}`);
      });
    }
    console.log(`fuzz regressions: ${files.length} replayed`);
  },
});

Deno.test({
  name: "fuzz: close the service",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await svc?.close();
  },
});
