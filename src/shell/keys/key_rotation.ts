/**
 * Signing-key rotation chores on SIGNING_KEYS_DIR (docs/KEYS.md):
 * - {@link rotateSigningKey} writes a new key file with `not_before = now + overlap`: the
 *   service publishes it at its next (re)start and signs with it once `not_before` passes; the
 *   previous key keeps signing until then and is published as `retired` afterwards;
 * - {@link setSigningKeyStatus} marks a key `retired` (published, never signs) or `revoked`
 *   (neither published nor used).
 *
 * @module
 */
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { KID_PATTERN } from "../../core/ids.ts";
import {
  generateSigningKeyDocument,
  KeyFileError,
  type KeyFileStatus,
  loadSigningKey,
  type StoredSigningKey,
  updateSigningKeyFile,
  writeSecretFile,
} from "./key_files.ts";
import { createSigner, SIGNING_KEYS_MAX } from "./signer.ts";

/** Default overlap between publishing a new key and its first signature (seconds): 1 day. */
export const KEY_ROTATION_OVERLAP_S_DEFAULT = 86_400;
/** Longest accepted overlap (seconds): 90 days. */
export const KEY_ROTATION_OVERLAP_S_MAX = 90 * 86_400;

async function loadDir(dir: string): Promise<{ name: string; key: StoredSigningKey }[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
  if (names.length > SIGNING_KEYS_MAX) {
    throw new KeyFileError(`Cannot use ${dir}: more than ${SIGNING_KEYS_MAX} key files`);
  }
  const out: { name: string; key: StoredSigningKey }[] = [];
  for (const name of names) out.push({ name, key: await loadSigningKey(join(dir, name)) });
  return out;
}

function wipe(keys: readonly { key: StoredSigningKey }[]): void {
  for (const { key } of keys) {
    if (key.alg === "ed25519") key.seed.fill(0);
    else key.secretKey.fill(0);
  }
}

/** Result of {@link rotateSigningKey}. */
export interface RotatedKey {
  path: string;
  publicKey: Uint8Array;
  notBeforeMs: number;
}

/**
 * Adds `<dir>/<kid>.json` with `not_before` = now + `overlapS` (rounded up to the second).
 * Refuses an existing kid or file, and checks the directory still loads afterwards.
 */
export async function rotateSigningKey(
  dir: string,
  options: { kid: string; alg: "ed25519" | "ml-dsa-65"; overlapS: number; nowMs: () => number },
): Promise<RotatedKey> {
  if (!KID_PATTERN.test(options.kid)) throw new KeyFileError("Cannot rotate: kid is malformed");
  if (
    !Number.isSafeInteger(options.overlapS) || options.overlapS < 0 ||
    options.overlapS > KEY_ROTATION_OVERLAP_S_MAX
  ) {
    throw new KeyFileError(`Cannot rotate: overlap must be 0..${KEY_ROTATION_OVERLAP_S_MAX} s`);
  }
  const existing = await loadDir(dir);
  wipe(existing);
  if (existing.length >= SIGNING_KEYS_MAX) {
    throw new KeyFileError(`Cannot rotate: ${dir} already holds ${SIGNING_KEYS_MAX} key files`);
  }
  if (existing.some((e) => e.key.kid === options.kid)) {
    throw new KeyFileError("Cannot rotate: this kid already exists");
  }
  const path = join(dir, `${options.kid}.json`);
  if (await stat(path).then(() => true, () => false)) {
    throw new KeyFileError("Cannot rotate: the key file already exists");
  }
  const notBeforeMs = Math.ceil((options.nowMs() + options.overlapS * 1000) / 1000) * 1000;
  const { secret, publicKey } = generateSigningKeyDocument(options.kid, options.alg, {
    notBeforeMs,
  });
  try {
    await writeSecretFile(path, secret);
  } finally {
    secret.fill(0);
  }
  const after = await loadDir(dir);
  try {
    createSigner(after.map((e) => e.key), { requirePq: false, nowMs: options.nowMs, dir });
  } catch (err) {
    await unlink(path); // the directory must stay loadable: undo
    throw err;
  } finally {
    wipe(after);
  }
  return { path, publicKey, notBeforeMs };
}

/** Rewrites the status of the key file holding `kid` (its private key is kept). */
export async function setSigningKeyStatus(
  dir: string,
  kid: string,
  status: KeyFileStatus,
): Promise<string> {
  const all = await loadDir(dir);
  wipe(all);
  const hit = all.find((e) => e.key.kid === kid);
  if (hit === undefined) throw new KeyFileError("Cannot change status: no key file with this kid");
  const path = join(dir, hit.name);
  await updateSigningKeyFile(path, { status });
  return path;
}
