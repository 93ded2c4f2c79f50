/**
 * The bundled CLI (`deno task bundle` → `dist/rewarder.mjs`) behaves the same on Deno, Node and
 * Bun: `verify` exits 0 on a valid envelope, 1 on a tampered one, 2 on a bad command line;
 * `--help` exits 0 and a missing file is one line naming it.
 * (On Node 20, a CLI guarded by `import.meta.main` did nothing and exited 0.)
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const REPO = new URL("../", import.meta.url).pathname;
const ENVELOPE = join(REPO, "vectors/cases/rustyonions-interop/envelope.json");
const KEYS = join(REPO, "vectors/keys/vector-keys.json");
/** Longest a bundle or one CLI run may take. */
const RUN_MS_MAX = 60_000;

async function run(cmd: string, args: string[]): Promise<number | "missing"> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd: REPO,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(RUN_MS_MAX),
    }).output();
    return out.code;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "missing";
    throw err;
  }
}

/** Runs and captures stderr (for the one-line error checks). */
async function runErr(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: REPO,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(RUN_MS_MAX),
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

function bunPath(): string {
  const local = join(REPO, ".tools/node_modules/.bin/bun");
  try {
    Deno.statSync(local);
    return local;
  } catch {
    return "bun";
  }
}

Deno.test("bundled CLI: verify accepts, rejects and refuses alike on Deno, Node and Bun", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_bundle_" });
  try {
    const bundle = join(dir, "rewarder.mjs");
    const bundled = await run(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--format",
      "esm",
      "-o",
      bundle,
      "src/cli/rewarder.ts",
    ]);
    assert.equal(bundled, 0, "deno bundle of src/cli/rewarder.ts");
    const tampered = join(dir, "tampered.json");
    const text = await Deno.readTextFile(ENVELOPE);
    assert.match(text, /"amount_minor":"356"/);
    await Deno.writeTextFile(
      tampered,
      text.replace('"amount_minor":"356"', '"amount_minor":"357"'),
    );

    const runtimes: [string, string, string[]][] = [
      ["deno", Deno.execPath(), ["run", "-A"]],
      ["node", "node", []],
      ["bun", bunPath(), []],
    ];
    for (const [name, cmd, pre] of runtimes) {
      const verify = (envelope: string) =>
        run(cmd, [...pre, bundle, "verify", "--envelope", envelope, "--keys", KEYS]);
      const valid = await verify(ENVELOPE);
      if (valid === "missing") {
        if (Deno.env.get("CI") === "true") assert.fail(`${name} is required in CI`);
        console.warn(`SKIP ${name}: not installed`);
        continue;
      }
      assert.equal(valid, 0, `${name}: a valid envelope verifies`);
      assert.equal(await verify(tampered), 1, `${name}: a tampered envelope is refused`);
      assert.equal(await run(cmd, [...pre, bundle, "verify", "--nope"]), 2, `${name}: usage`);
      assert.equal(await run(cmd, [...pre, bundle, "--help"]), 0, `${name}: --help`);
      assert.equal(
        await run(cmd, [...pre, bundle, "verify", "--help"]),
        0,
        `${name}: verify --help`,
      );
      const missing = await runErr(cmd, [
        ...pre,
        bundle,
        "verify",
        "--envelope",
        "/nope.json",
        "--keys",
        KEYS,
      ]);
      assert.equal(missing.code, 2, `${name}: a missing file exits 2`);
      assert.match(
        missing.stderr,
        /^error: \/nope\.json: no such file[^\n]*\n$/,
        `${name}: one line naming the file`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
