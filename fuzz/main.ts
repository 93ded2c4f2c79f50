/**
 * Nightly fuzz runner: `deno run --allow-all fuzz/main.ts [target…]` runs the named targets
 * (default all) for FUZZ_RUNS cases each (default 10,000) from FUZZ_SEED (default random;
 * printed so a run can be repeated). Counterexamples go to `fuzz/regressions/`; the exit
 * status is 1 if any target failed.
 *
 * @module
 */
import process from "node:process";
import { fuzzRuns, runTarget, startFuzzService } from "./_harness.ts";
import { buildTarget, TARGET_NAMES, type TargetName } from "./targets.ts";

const asked = process.argv.slice(2);
for (const name of asked) {
  if (!(TARGET_NAMES as readonly string[]).includes(name)) {
    process.stderr.write(`unknown target ${name}; known: ${TARGET_NAMES.join(", ")}\n`);
    process.exit(2);
  }
}
const names = (asked.length > 0 ? asked : [...TARGET_NAMES]) as TargetName[];
const runs = fuzzRuns();
const seed = process.env.FUZZ_SEED === undefined
  ? (Math.random() * 2 ** 31) | 0
  : Number(process.env.FUZZ_SEED);
process.stdout.write(`fuzz: ${names.join(",")} runs=${runs} seed=${seed}\n`);
const svc = await startFuzzService();
let failed = 0;
try {
  for (const name of names) {
    try {
      const r = await runTarget(await buildTarget(name, svc), runs, seed);
      process.stdout.write(
        `fuzz: ${name} ok ${r.runs} cases in ${r.ms} ms ${JSON.stringify(r.stats)}\n`,
      );
    } catch (err) {
      failed++;
      process.stdout.write(`fuzz: ${name} FAILED ${(err as Error).message}\n`);
    }
  }
} finally {
  await svc.close();
}
process.stdout.write(`fuzz: ${names.length - failed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
