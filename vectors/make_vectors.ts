/**
 * Writes the golden vectors: `vectors/cases/<name>/{inputs.json,policy.json,expected.json,
 * envelope.json}` from `cases.ts`, `vectors/v2/` from `extras.ts` (run and intent keys, the
 * two-tenant pair, header-only proofs, refusals), v1 proofs of the frozen v1 envelopes in
 * `vectors/v1/` (never regenerated), and `vectors/generated.json` with the hashes of the
 * generated epochs. The envelope is the exact stdout of `rewarder compute` with the vector
 * signing key; hand-known expectations come from `cases.ts` and `extras.ts`, not from here.
 *
 * Run: `deno run -A vectors/make_vectors.ts` (only when the contract or the cases change; the
 * diff of the pinned files must then be explained in the commit).
 *
 * @module
 */
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCliCaptured } from "../src/cli/main.ts";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { VECTOR_CASES } from "./cases.ts";
import { writeV1Proofs, writeV2Extras } from "./make_extras.ts";
import { GENERATED_POLICY, GENERATED_SIZES, generateEpochInputs } from "./generate_epoch.ts";

const root = new URL(".", import.meta.url).pathname;
const keyCopyDir = await mkdtemp(join(tmpdir(), "vector-key-"));
const keyPath = join(keyCopyDir, "signing.key.json");
await copyFile(join(root, "keys/vector-signing.key.json"), keyPath);
await chmod(keyPath, 0o600);

const cli = runCliCaptured;

for (const vector of VECTOR_CASES) {
  const dir = join(root, "cases", vector.name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "inputs.json"), vector.inputs);
  await writeFile(join(dir, "policy.json"), canonicalJson(vector.policy) + "\n");
  const out = await cli([
    "compute",
    "--epoch",
    vector.epochId,
    "--inputs",
    join(dir, "inputs.json"),
    "--policy",
    join(dir, "policy.json"),
    "--signing-key",
    keyPath,
  ]);
  const expected: Record<string, unknown> = {
    name: vector.name,
    why: vector.why,
    epoch_id: vector.epochId,
    exit_code: out.code,
    expect: vector.expect,
  };
  if (out.code === 0 || out.code === 3) {
    const envelope = JSON.parse(out.stdout);
    expected.manifest_hash = envelope.manifest_hash;
    expected.run_key = envelope.manifest.run_key;
    expected.inputs_cid = envelope.manifest.inputs_cid;
    await writeFile(join(dir, "envelope.json"), out.stdout);
  } else {
    expected.stderr = out.stderr.replaceAll(root, "vectors/"); // no checkout path pinned
    await rm(join(dir, "envelope.json"), { force: true });
  }
  await writeFile(join(dir, "expected.json"), JSON.stringify(expected, null, 2) + "\n");
  console.log(`${vector.name}: exit ${out.code}`);
}

await writeV2Extras(root);
await writeV1Proofs(root);

const generated: Record<string, unknown>[] = [];
const genDir = await mkdtemp(join(tmpdir(), "vector-gen-"));
await writeFile(join(genDir, "policy.json"), JSON.stringify(GENERATED_POLICY));
for (const size of GENERATED_SIZES) {
  const inputsPath = join(genDir, `${size.name}.json`);
  await writeFile(inputsPath, generateEpochInputs(size.name, size.recipients));
  const out = await cli([
    "compute",
    "--epoch",
    size.name,
    "--inputs",
    inputsPath,
    "--policy",
    join(genDir, "policy.json"),
    "--signing-key",
    keyPath,
  ]);
  const envelope = JSON.parse(out.stdout);
  generated.push({
    name: size.name,
    recipients: size.recipients,
    exit_code: out.code,
    inputs_cid: envelope.manifest.inputs_cid,
    run_key: envelope.manifest.run_key,
    manifest_hash: envelope.manifest_hash,
    payouts_root: envelope.manifest.payouts_root,
    totals: envelope.manifest.totals,
    envelope_cid: "b3:" + (await import("../src/core/blake3.ts")).blake3Hex(out.stdout),
  });
  console.log(`${size.name}: exit ${out.code}`);
}
await writeFile(join(root, "generated.json"), JSON.stringify(generated, null, 2) + "\n");
await rm(genDir, { recursive: true });
await rm(keyCopyDir, { recursive: true });
