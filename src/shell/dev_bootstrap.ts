/**
 * The embedded default (issue 3 §6): with no key paths configured, `deno task start` creates
 * development keys (0600) under DATA_DIR, loads the sample vectors into the local content
 * store, signs their policies with a development governance key into POLICY_DIR, and mints a
 * short-lived development token. PRODUCTION=on refuses all of this (config requires paths).
 *
 * @module
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { toBase64Url } from "../core/base64url.ts";
import { canonicalJson } from "../core/canonical_json.ts";
import { policyHashOf } from "../core/policy.ts";
import { POLICY_SIG_DOMAIN } from "../core/policy_envelope.ts";
import { signStatement } from "../core/seal.ts";
import { casPut } from "./cas.ts";
import { loadCapsKeys } from "./caps/key_file.ts";
import { mintToken } from "./caps/mint.ts";
import { DEFAULT_OPERATOR_TENANT } from "./caps/identifier.ts";
import { toHex } from "../core/merkle.ts";
import { generateSigningKeyDocument, loadSigningKey, writeSecretFile } from "./key_files.ts";

/** Lifetime of the printed development token (s). */
export const DEV_TOKEN_TTL_S = 3600;

/** Paths the bootstrap fills in. */
export interface DevPaths {
  capsKeysPath: string;
  signingKeysDir: string;
  govKeysPath: string;
  atRestKeyPath: string;
}

/** Sample epochs loaded into a fresh data dir: (epoch, inputs file, policy file) of vectors/. */
const SAMPLES = [
  { epochId: "interop-epoch-1", dir: "rustyonions-interop" },
  { epochId: "apportion-1", dir: "hamilton-10-largest-remainder" },
];

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/** Creates whatever development material is missing; idempotent. */
export async function ensureDevMaterial(
  dataDir: string,
  vectorsDir: string,
): Promise<
  {
    paths: DevPaths;
    samples: { epochId: string; inputsCid: string; policyId: string; policyHash: string }[];
  }
> {
  const keysDir = join(dataDir, "keys");
  await mkdir(join(keysDir, "signing"), { recursive: true, mode: 0o700 });
  const paths: DevPaths = {
    capsKeysPath: join(keysDir, "caps.json"),
    signingKeysDir: join(keysDir, "signing"),
    govKeysPath: join(keysDir, "gov.json"),
    atRestKeyPath: join(keysDir, "at-rest.key"),
  };
  if (!(await exists(paths.capsKeysPath))) {
    const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
    await writeSecretFile(
      paths.capsKeysPath,
      new TextEncoder().encode(
        JSON.stringify({ current_epoch: 1, epochs: { "1": secret }, revoked: [] }) + "\n",
      ),
    );
  }
  const signingPath = join(paths.signingKeysDir, "dev-ed25519.json");
  if (!(await exists(signingPath))) {
    await writeSecretFile(signingPath, generateSigningKeyDocument("dev-1", "ed25519").secret);
  }
  if (!(await exists(paths.atRestKeyPath))) {
    await writeSecretFile(
      paths.atRestKeyPath,
      new TextEncoder().encode(toBase64Url(crypto.getRandomValues(new Uint8Array(32)))),
    );
  }
  const govSecretPath = join(keysDir, "gov-dev.key.json");
  if (!(await exists(govSecretPath))) {
    await writeSecretFile(govSecretPath, generateSigningKeyDocument("gov-dev", "ed25519").secret);
  }
  const gov = await loadSigningKey(govSecretPath);
  if (!(await exists(paths.govKeysPath))) {
    await writeSecretFile(
      paths.govKeysPath,
      new TextEncoder().encode(
        JSON.stringify({ threshold: 1, keys: { [gov.kid]: toBase64Url(gov.publicKey) } }) + "\n",
      ),
    );
  }
  const policyDir = join(dataDir, "policies");
  await mkdir(policyDir, { recursive: true, mode: 0o700 });
  const samples = [];
  for (const sample of SAMPLES) {
    const inputs = new Uint8Array(
      await readFile(join(vectorsDir, "cases", sample.dir, "inputs.json")),
    );
    const inputsCid = await casPut(dataDir, inputs);
    const policy = JSON.parse(
      await readFile(join(vectorsDir, "cases", sample.dir, "policy.json"), "utf8"),
    );
    const policyHash = policyHashOf(policy);
    const envelopePath = join(policyDir, `${policy.policy_id}-v${policy.version}.json`);
    if (!(await exists(envelopePath))) {
      const signatures = await signStatement(POLICY_SIG_DOMAIN, policyHash, [gov]);
      await writeSecretFile(
        envelopePath,
        new TextEncoder().encode(
          canonicalJson({ policy, policy_hash: policyHash, signatures }) + "\n",
        ),
      );
    }
    samples.push({ epochId: sample.epochId, inputsCid, policyId: policy.policy_id, policyHash });
  }
  if (gov.alg === "ed25519") gov.seed.fill(0);
  return { paths, samples };
}

/** The development tenant the printed token is for. */
export const DEV_TENANT = "dev";

/**
 * Mints the development token (a v2 identifier, contract §9) for tenant `dev`: it grants
 * `rewarder.run` and `rewarder.inspect`, plus `rewarder.quarantine` when `dev` is the
 * operator tenant (OPERATOR_TENANT=dev); the only caveat is `time <` now + 1 h.
 */
export async function devToken(
  capsKeysPath: string,
  nowMs: number,
  options: { operatorTenant?: string } = {},
): Promise<string> {
  const keys = await loadCapsKeys(capsKeysPath);
  const masterSecret = keys.epochs.get(keys.currentEpoch);
  if (masterSecret === undefined) {
    throw new Error("Cannot mint the dev token: no current epoch secret");
  }
  const expiry = new Date(nowMs + DEV_TOKEN_TTL_S * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const operatorTenant = options.operatorTenant ?? DEFAULT_OPERATOR_TENANT;
  return mintToken({
    masterSecret,
    tenant: DEV_TENANT,
    keyEpoch: keys.currentEpoch,
    scopes: DEV_TENANT === operatorTenant
      ? ["rewarder.run", "rewarder.inspect", "rewarder.quarantine"]
      : ["rewarder.run", "rewarder.inspect"],
    operatorTenant,
    nonceHex: toHex(crypto.getRandomValues(new Uint8Array(16))),
    caveats: [`time < ${expiry}`],
  });
}
