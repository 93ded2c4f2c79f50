/**
 * The service's signing keys (issue 6): a directory of key files (0600), each
 * `{"kid","alg","private_key","status"?}`. The one active Ed25519 key (and, when present, the
 * active ML-DSA-65 key) sign new manifests; retired keys are published so old manifests
 * still verify. REQUIRE_PQ_ON refuses to start without an active ML-DSA-65 key.
 *
 * JavaScript cannot guarantee zeroization: seeds are wiped (`fill(0)`) after use where we
 * own the buffer, but the engine may have copied them (JIT, GC moves, WebCrypto internals).
 *
 * @module
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import type { SigningKey } from "../core/seal.ts";
import { KeyFileError, loadSigningKey, publishedKey, type StoredSigningKey } from "./key_files.ts";

/** Most key files in SIGNING_KEYS_DIR. */
export const SIGNING_KEYS_MAX = 64;

/** Loaded signing keys. */
export interface Signer {
  /** The keys that sign new manifests: one Ed25519, optionally one ML-DSA-65. */
  active(): SigningKey[];
  /** Every verification key (active and retired), for `/rewarder/keys`. */
  published(): ReturnType<typeof publishedKey>[];
}

/** Loads every `*.json` key file of `dir`; exactly one active Ed25519 key is required. */
export async function loadSigner(dir: string, options: { requirePq: boolean }): Promise<Signer> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
  if (names.length > SIGNING_KEYS_MAX) {
    throw new KeyFileError(`Cannot load signing keys: more than ${SIGNING_KEYS_MAX} files`);
  }
  const keys: StoredSigningKey[] = [];
  for (const name of names) keys.push(await loadSigningKey(join(dir, name)));
  const kids = new Set(keys.map((k) => k.kid));
  if (kids.size !== keys.length) throw new KeyFileError("Cannot load signing keys: duplicate kid");
  const activeEd = keys.filter((k) => k.alg === "ed25519" && k.status === "active");
  const activePq = keys.filter((k) => k.alg === "ml-dsa-65" && k.status === "active");
  if (activeEd.length !== 1) {
    throw new KeyFileError(
      `Cannot load signing keys: need exactly one active ed25519 key in ${dir}, found ${activeEd.length}`,
    );
  }
  if (activePq.length > 1) {
    throw new KeyFileError("Cannot load signing keys: more than one active ml-dsa-65 key");
  }
  if (options.requirePq && activePq.length === 0) {
    throw new KeyFileError("Cannot start with REQUIRE_PQ_ON: no active ml-dsa-65 key");
  }
  const active: SigningKey[] = [...activeEd, ...activePq];
  const published = keys.map((k) => publishedKey(k));
  return { active: () => active, published: () => published };
}
