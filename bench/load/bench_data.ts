/**
 * The data directory every load bench starts from: development keys (as `deno task start`
 * makes them), the generated policy signed with the development governance key by the real
 * CLI (`rewarder policy-sign`) and installed as `policies/gen.json`.
 *
 * @module
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ensureDevMaterial } from "../../src/shell/keys/dev_bootstrap.ts";
import { GENERATED_POLICY } from "../../vectors/generate_epoch.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Runs a command in the repository; its standard output, trimmed (throws with its stderr). */
export async function runIn(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd[0]!, { args: cmd.slice(1), env, cwd: ROOT }).output();
  if (!out.success) {
    throw new Error(`${cmd.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Empties `dataDir` and fills it with development keys and the signed generated policy;
 * returns the key paths and samples of {@link ensureDevMaterial} and the policy's hash.
 */
export async function prepareBenchData(dataDir: string) {
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const material = await ensureDevMaterial(dataDir, join(ROOT, "vectors"));
  const policyFile = join(dataDir, "gen-policy.json");
  await writeFile(policyFile, JSON.stringify(GENERATED_POLICY));
  const envelope = await runIn([
    "deno",
    "run",
    "-A",
    "src/cli/rewarder.ts",
    "policy-sign",
    "--policy",
    policyFile,
    "--key",
    join(dataDir, "keys", "gov-dev.key.json"),
  ]);
  await writeFile(join(dataDir, "policies", "gen.json"), envelope + "\n", { mode: 0o600 });
  return { ...material, policyHash: String(JSON.parse(envelope).policy_hash) };
}
