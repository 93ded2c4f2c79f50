/**
 * The `rewarder` program: runs the CLI of `./main.ts` on the process's arguments.
 *
 * A separate entry rather than an `import.meta.main` guard: Node 20 has no `import.meta.main`,
 * so a guarded bundle did nothing and exited 0 there. This file always runs; `main.ts` is a
 * library (tests and the vector generator import it without running it). Bundled as
 * `dist/rewarder.mjs` by `deno task bundle`, it runs on Node 20 and Bun with the exit codes it
 * has on Deno.
 *
 * @module
 */
import process from "node:process";
import { processIo, runCli } from "./main.ts";

const io = processIo();
const code = await runCli(process.argv.slice(2), io);
try {
  await io.flush();
  process.exitCode = code;
} catch (err) {
  // stdout could not take the output (e.g. its reader went away): not a success.
  process.stderr.write(`error: stdout: ${err instanceof Error ? err.name : "write failed"}\n`);
  process.exitCode = code === 0 ? 1 : code;
}
