/**
 * Test material written into a bootstrapped data dir before the real server starts: extra
 * content-store objects and signed policy envelopes (signed with the development governance
 * key, as `rewarder policy-sign` does), plus the deliberately broken ones (a policy envelope
 * with a bad signature, a content-store object whose bytes no longer match its CID).
 *
 * @module
 */
import { join } from "node:path";
import { canonicalJson } from "../../src/core/canonical_json.ts";
import { policyHashOf } from "../../src/core/policy.ts";
import { POLICY_SIG_DOMAIN } from "../../src/core/policy_envelope.ts";
import { signStatement } from "../../src/core/seal.ts";
import { casDir, casPut } from "../../src/shell/sources/cas.ts";
import { loadSigningKey, writeSecretFile } from "../../src/shell/keys/key_files.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../../vectors/generate_epoch.ts";
import { VECTORS_DIR } from "./service.ts";

/** What a compute request needs. */
export interface ComputeRef {
  inputs_cid: string;
  policy_id: string;
  policy_hash: string;
}

/** The material the tests use. */
export interface Fixtures {
  /**
   * RustyOnions snapshot + ron-node-rewards v1. It carries no epoch_id, so it computes for any
   * epoch, but commits under one epoch per tenant only (contract §5).
   */
  interop: ComputeRef;
  /** ron-node-rewards v2 (same id, another hash). */
  policyV2Hash: string;
  /** Another snapshot (different bytes, same shape). */
  altInputsCid: string;
  /** Native inputs of epoch `apportion-1` (stale for any other epoch) + their policy. */
  hamilton: ComputeRef & { epochId: string };
  /** The overflow vector: quarantines. */
  overflow: ComputeRef & { epochId: string };
  /** A generated 1k-recipient epoch (≈ 80 kB: over MAX_EPOCH_COST_MS=1). */
  generated: ComputeRef & { epochId: string };
  /** A policy whose envelope in POLICY_DIR carries a bad signature. */
  badSig: { policy_id: string; policy_hash: string };
  /** A snapshot CID whose stored bytes were altered afterwards. */
  corruptInputsCid: string;
}

const enc = new TextEncoder();

async function readCase(name: string, file: string): Promise<Uint8Array> {
  return await Deno.readFile(join(VECTORS_DIR, "cases", name, file));
}

async function signedPolicyFile(
  dataDir: string,
  fileName: string,
  policy: unknown,
  options: { signHash?: string } = {},
): Promise<string> {
  const gov = await loadSigningKey(join(dataDir, "keys", "gov-dev.key.json"));
  const policyHash = policyHashOf(policy);
  const signatures = await signStatement(POLICY_SIG_DOMAIN, options.signHash ?? policyHash, [gov]);
  await writeSecretFile(
    join(dataDir, "policies", fileName),
    enc.encode(canonicalJson({ policy, policy_hash: policyHash, signatures }) + "\n"),
  );
  return policyHash;
}

/**
 * Stores another RustyOnions snapshot (same economics as the interop vector, other bytes, so
 * another CID) and returns its CID: one snapshot settles one epoch per tenant (contract §5),
 * so each committed epoch of a test needs its own. Callable while the server runs.
 */
export async function putSnapshot(dataDir: string, producedAtMillis: number): Promise<string> {
  return await casPut(dataDir, snapshot(producedAtMillis));
}

function snapshot(producedAtMillis: number): Uint8Array {
  return enc.encode(JSON.stringify({
    produced_at_millis: producedAtMillis,
    pool_minor_units: "1000",
    contributions: [
      { account: "acct_a", bytes_stored: 100, bytes_served: 50, uptime_seconds: 10 },
      { account: "acct_b", bytes_stored: 200, bytes_served: 0, uptime_seconds: 20 },
    ],
  }));
}

/** Writes every fixture into a bootstrapped data dir (call before the server starts). */
export async function prepareFixtures(dataDir: string): Promise<Fixtures> {
  const interopPolicy = JSON.parse(
    new TextDecoder().decode(await readCase("rustyonions-interop", "policy.json")),
  );
  const interop: ComputeRef = {
    inputs_cid: await casPut(dataDir, await readCase("rustyonions-interop", "inputs.json")),
    policy_id: interopPolicy.policy_id,
    policy_hash: policyHashOf(interopPolicy),
  };
  const policyV2Hash = await signedPolicyFile(dataDir, "ron-node-rewards-v2.json", {
    ...interopPolicy,
    version: 2,
  });
  const altInputsCid = await casPut(dataDir, snapshot(2));

  const hamiltonPolicy = JSON.parse(
    new TextDecoder().decode(await readCase("hamilton-10-largest-remainder", "policy.json")),
  );
  const hamilton = {
    epochId: "apportion-1",
    inputs_cid: await casPut(
      dataDir,
      await readCase("hamilton-10-largest-remainder", "inputs.json"),
    ),
    policy_id: hamiltonPolicy.policy_id,
    policy_hash: policyHashOf(hamiltonPolicy),
  };

  const overflowPolicy = JSON.parse(
    new TextDecoder().decode(await readCase("overflow-quarantines", "policy.json")),
  );
  const overflow = {
    epochId: "overflow",
    inputs_cid: await casPut(dataDir, await readCase("overflow-quarantines", "inputs.json")),
    policy_id: overflowPolicy.policy_id,
    policy_hash: await signedPolicyFile(dataDir, "overflow-vector-policy.json", overflowPolicy),
  };

  const generated = {
    epochId: "gen-1k",
    inputs_cid: await casPut(dataDir, enc.encode(generateEpochInputs("gen-1k", 1_000))),
    policy_id: GENERATED_POLICY.policy_id,
    policy_hash: await signedPolicyFile(dataDir, "generated-policy.json", GENERATED_POLICY),
  };

  const badPolicy = { ...interopPolicy, policy_id: "badsig-policy" };
  const badSig = {
    policy_id: badPolicy.policy_id,
    // Signed over another hash: the signature does not verify for this policy.
    policy_hash: await signedPolicyFile(dataDir, "badsig-policy.json", badPolicy, {
      signHash: interop.policy_hash,
    }),
  };

  const corruptInputsCid = await casPut(dataDir, snapshot(3));
  const corruptPath = join(casDir(dataDir), corruptInputsCid.slice(3));
  await Deno.chmod(corruptPath, 0o600);
  await Deno.writeFile(corruptPath, snapshot(4)); // same length, other bytes

  return {
    interop,
    policyV2Hash,
    altInputsCid,
    hamilton,
    overflow,
    generated,
    badSig,
    corruptInputsCid,
  };
}
