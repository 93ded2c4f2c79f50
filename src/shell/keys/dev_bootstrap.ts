/**
 * The embedded default (README, quick start): with no key paths configured, `deno task start` creates
 * development keys (0600) under DATA_DIR, loads the sample vectors into the local content
 * store, signs their policies with a development governance key into POLICY_DIR, and mints a
 * short-lived development token. A partial key configuration is honoured key by key: only
 * what is unset is made for development, and each such item is announced at start
 * ({@link resolveKeyMaterial}). PRODUCTION=on and AMNESIA=on refuse any of this (the
 * configuration requires every key path, see `missingKeyPaths`).
 *
 * @module
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { toBase64Url } from "../../core/base64url.ts";
import { canonicalJson } from "../../core/canonical_json.ts";
import { policyHashOf } from "../../core/policy.ts";
import { POLICY_SIG_DOMAIN } from "../../core/policy_envelope.ts";
import { signStatement } from "../../core/seal.ts";
import { casPut } from "../sources/cas.ts";
import { loadCapsKeys } from "../caps/key_file.ts";
import { mintToken } from "../caps/mint.ts";
import { DEFAULT_OPERATOR_TENANT } from "../caps/identifier.ts";
import { toHex } from "../../core/merkle.ts";
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

/**
 * Sample epochs loaded into a fresh data dir, from vectors/cases/<dir>/{inputs,policy}.json; the
 * start banner (main.ts) prints a compute, or on a restart a GET, for each of them.
 */
const SAMPLES = [
  { epochId: "interop-epoch-1", dir: "rustyonions-interop" },
  { epochId: "apportion-1", dir: "hamilton-10-largest-remainder" },
];

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false);
}

/** A development key the bootstrap stands in for an unset variable. */
export interface DevItem {
  /** The variable left unset. */
  variable: "CAPS_KEYS_PATH" | "SIGNING_KEYS_DIR" | "GOV_KEYS_PATH" | "AT_REST_KEY_PATH";
  /** What it is, for the start line. */
  what: string;
  /** Where the development material is. */
  path: string;
}

const ITEM_WHAT: Record<DevItem["variable"], string> = {
  CAPS_KEYS_PATH: "caps keys",
  SIGNING_KEYS_DIR: "signing keys",
  GOV_KEYS_PATH: "governance keys",
  AT_REST_KEY_PATH: "at-rest key",
};

/**
 * Creates whatever development material is missing; idempotent. `given` holds the key paths
 * the operator configured: those are used as they are, key by key, and development material
 * is made (or reused) only for the others, each listed in `generated`. Sample policies are
 * signed with the development governance key, so they are placed only when GOV_KEYS_PATH is
 * not given (an operator's governance keys would refuse them).
 */
export async function ensureDevMaterial(
  dataDir: string,
  vectorsDir: string,
  given: { [K in keyof DevPaths]?: string | undefined } = {},
): Promise<
  {
    paths: DevPaths;
    samples: { epochId: string; inputsCid: string; policyId: string; policyHash: string }[];
    generated: DevItem[];
  }
> {
  const keysDir = join(dataDir, "keys");
  await mkdir(join(keysDir, "signing"), { recursive: true, mode: 0o700 });
  const dev: DevPaths = {
    capsKeysPath: join(keysDir, "caps.json"),
    signingKeysDir: join(keysDir, "signing"),
    govKeysPath: join(keysDir, "gov.json"),
    atRestKeyPath: join(keysDir, "at-rest.key"),
  };
  const paths: DevPaths = { ...dev, ...definedOnly(given) };
  const generated: DevItem[] = [];
  const note = (variable: DevItem["variable"], path: string) =>
    generated.push({ variable, what: ITEM_WHAT[variable], path });
  if (given.capsKeysPath === undefined) {
    note("CAPS_KEYS_PATH", dev.capsKeysPath);
    if (!(await exists(dev.capsKeysPath))) {
      const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
      await writeSecretFile(
        dev.capsKeysPath,
        new TextEncoder().encode(
          JSON.stringify({ current_epoch: 1, epochs: { "1": secret }, revoked: [] }) + "\n",
        ),
      );
    }
  }
  if (given.signingKeysDir === undefined) {
    note("SIGNING_KEYS_DIR", dev.signingKeysDir);
    const signingPath = join(dev.signingKeysDir, "dev-ed25519.json");
    if (!(await exists(signingPath))) {
      await writeSecretFile(signingPath, generateSigningKeyDocument("dev-1", "ed25519").secret);
    }
  }
  if (given.atRestKeyPath === undefined) {
    note("AT_REST_KEY_PATH", dev.atRestKeyPath);
    if (!(await exists(dev.atRestKeyPath))) {
      await writeSecretFile(
        dev.atRestKeyPath,
        new TextEncoder().encode(toBase64Url(crypto.getRandomValues(new Uint8Array(32)))),
      );
    }
  }
  const samples = [];
  if (given.govKeysPath === undefined) {
    note("GOV_KEYS_PATH", dev.govKeysPath);
    samples.push(...await devGovernanceAndSamples(dataDir, vectorsDir, keysDir, dev.govKeysPath));
  }
  return { paths, samples, generated };
}

function definedOnly(given: { [K in keyof DevPaths]?: string | undefined }): Partial<DevPaths> {
  return Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
}

/** The development governance key, its public key file, and the signed sample policies. */
async function devGovernanceAndSamples(
  dataDir: string,
  vectorsDir: string,
  keysDir: string,
  govKeysPath: string,
): Promise<{ epochId: string; inputsCid: string; policyId: string; policyHash: string }[]> {
  const govSecretPath = join(keysDir, "gov-dev.key.json");
  if (!(await exists(govSecretPath))) {
    await writeSecretFile(govSecretPath, generateSigningKeyDocument("gov-dev", "ed25519").secret);
  }
  const gov = await loadSigningKey(govSecretPath);
  if (!(await exists(govKeysPath))) {
    await writeSecretFile(
      govKeysPath,
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
  return samples;
}

/** What the service starts on: key paths, whether the caps key is a development one. */
export interface KeyMaterial {
  paths: DevPaths;
  /** The caps key is a development key: the start prints a first request with a token. */
  devCaps: boolean;
  samples: { epochId: string; inputsCid: string; policyId: string; policyHash: string }[];
  /** One line per development item in use, for the start output. */
  notices: string[];
}

/**
 * The key paths a start uses: every configured one as given, development material for the
 * rest (never for PRODUCTION=on or AMNESIA=on: the configuration refuses those first).
 */
export async function resolveKeyMaterial(
  config: {
    dataDir: string;
    store: string;
    production: boolean;
    amnesia: boolean;
    capsKeysPath: string | undefined;
    signingKeysDir: string | undefined;
    govKeysPath: string | undefined;
    atRestKeyPath: string | undefined;
  },
  vectorsDir: string,
): Promise<KeyMaterial> {
  const given = {
    capsKeysPath: config.capsKeysPath,
    signingKeysDir: config.signingKeysDir,
    govKeysPath: config.govKeysPath,
    atRestKeyPath: config.atRestKeyPath,
  };
  const needed = config.store === "memory"
    ? [given.capsKeysPath, given.signingKeysDir, given.govKeysPath]
    : Object.values(given);
  if (needed.every((v) => v !== undefined)) {
    return { paths: given as DevPaths, devCaps: false, samples: [], notices: [] };
  }
  if (config.production || config.amnesia) {
    // loadConfig refuses these first; kept so no caller can reach development keys here.
    throw new Error("Cannot start: development keys are refused with PRODUCTION=on or AMNESIA=on");
  }
  const { paths, samples, generated } = await ensureDevMaterial(config.dataDir, vectorsDir, given);
  const notices = generated
    .filter((item) => !(item.variable === "AT_REST_KEY_PATH" && config.store === "memory"))
    .map((item) =>
      `${item.variable} unset: ${item.what} generated for development at ${item.path}`
    );
  return { paths, devCaps: given.capsKeysPath === undefined, samples, notices };
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
