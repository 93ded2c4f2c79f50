/**
 * The operator's chores (contract §11): `keygen`, `policy-sign`, `cas-put`.
 * Secrets are read from and written to files (0600), never taken from arguments.
 *
 * @module
 */
import { link, lstat, readFile } from "node:fs/promises";
import { toBase64Url } from "../core/base64url.ts";
import { canonicalJson } from "../core/canonical_json.ts";
import { POLICY_SIG_DOMAIN } from "../core/policy_envelope.ts";
import { signStatement } from "../core/seal.ts";
import { casPut } from "../shell/sources/cas.ts";
import {
  generateSigningKeyDocument,
  loadSigningKey,
  publishedKey,
  readPublicJson,
  writeSecretFile,
} from "../shell/keys/key_files.ts";
import { type CliIo, DocumentError, parseArgs, required, UsageError } from "./args.ts";
import { parsePolicy, policyHashOf, type Signature } from "../core/mod.ts";

/**
 * `keygen --kid <kid> --out <file> [--alg ed25519|ml-dsa-65] [--force]`: prints the public key.
 * An existing key file is never overwritten silently: without `--force` the command refuses;
 * with it, the old file is first renamed to `<file>.bak-<n>` (the lowest free n), so a key that
 * signed something is never lost by a typo.
 */
export async function keygenCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["kid", "out", "alg"], ["force"]);
  const alg = parsed.flags.get("alg") ?? "ed25519";
  if (alg !== "ed25519" && alg !== "ml-dsa-65") {
    throw new UsageError("--alg", "is ed25519 or ml-dsa-65");
  }
  const kid = required(parsed, "kid");
  const out = required(parsed, "out");
  const backup = await backUpExisting(out, parsed.flags.has("force"));
  const { secret, publicKey } = generateSigningKeyDocument(kid, alg);
  try {
    await writeSecretFile(out, secret);
  } finally {
    secret.fill(0);
  }
  if (backup !== undefined) io.stderr(`keygen: the previous key file was kept as ${backup}\n`);
  io.stdout(
    JSON.stringify({ keys: [publishedKey({ kid, alg, publicKey, status: "active" })] }) + "\n",
  );
  return 0;
}

/** Largest backup suffix tried before giving up (`<file>.bak-1` … `.bak-1000`). */
const KEY_BACKUPS_MAX = 1000;

/** Renames an existing `path` to a free `<path>.bak-<n>` when `force`; refuses otherwise. */
async function backUpExisting(path: string, force: boolean): Promise<string | undefined> {
  if (!(await exists(path))) return undefined;
  if (!force) {
    throw new UsageError(
      `${path}: a key file already exists (--force replaces it, keeping a backup)`,
    );
  }
  for (let n = 1; n <= KEY_BACKUPS_MAX; n++) {
    const backup = `${path}.bak-${n}`;
    if (await exists(backup)) continue;
    await link(path, backup); // fails if `backup` appeared meanwhile: never overwrites
    return backup;
  }
  throw new UsageError(`${path}: ${KEY_BACKUPS_MAX} backups exist already; remove some first`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return false;
    throw err;
  }
}

/**
 * `policy-sign --policy <file> --key <governance key file>`: adds one Ed25519 signature to a
 * policy document or envelope and prints the envelope (JCS), so governors can sign in turn.
 */
export async function policySignCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["policy", "key"]);
  const policyPath = required(parsed, "policy");
  const keyPath = required(parsed, "key");
  const doc = await readPublicJson(policyPath) as Record<string, unknown>;
  const isEnvelope = typeof doc === "object" && doc !== null && "policy_hash" in doc;
  const policy = isEnvelope ? doc.policy : doc;
  const checked = parsePolicy(policy);
  if (!checked.ok) {
    const { code, reason, path } = checked.error;
    throw new DocumentError(policyPath, `${code} ${reason}${path ? ` at ${path}` : ""}`);
  }
  const policyHash = policyHashOf(policy);
  if (isEnvelope && doc.policy_hash !== policyHash) {
    throw new DocumentError(policyPath, "the envelope's policy_hash is not its policy's hash");
  }
  const existing = (isEnvelope ? doc.signatures : []) as Signature[];
  const key = await loadSigningKey(keyPath);
  if (key.alg !== "ed25519") {
    throw new DocumentError(keyPath, "not an Ed25519 key (governance keys are Ed25519)");
  }
  if (existing.some((s) => s.kid === key.kid)) {
    throw new DocumentError(policyPath, `kid ${key.kid} has already signed this policy`);
  }
  const [signature] = await signStatement(POLICY_SIG_DOMAIN, policyHash, [key]);
  key.seed.fill(0);
  io.stdout(
    canonicalJson({ policy, policy_hash: policyHash, signatures: [...existing, signature] }) + "\n",
  );
  return 0;
}

/** `cas-put <file> [--data-dir <dir>]`: stores the file in the local store, prints its CID. */
export async function casPutCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["data-dir"]);
  const file = parsed.positionals[0];
  if (file === undefined || parsed.positionals.length !== 1) {
    throw new UsageError("cas-put takes one <file>");
  }
  const dataDir = parsed.flags.get("data-dir") ?? io.env("DATA_DIR") ?? "./.rewarder-data";
  io.stdout((await casPut(dataDir, new Uint8Array(await readFile(file)))) + "\n");
  return 0;
}

/** `gov-pubkey --key <file>`: prints the base64url public key of a governance key file. */
export async function govPubkeyCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["key"]);
  const key = await loadSigningKey(required(parsed, "key"));
  io.stdout(toBase64Url(key.publicKey) + "\n");
  return 0;
}
