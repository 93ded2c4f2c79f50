/**
 * The service's signing keys (docs/KEYS.md): a directory of key files (0600), each
 * `{"kid","alg","private_key","status"?,"not_before"?}` (see key_files.ts, docs/KEYS.md).
 *
 * Rotation with overlap ("publish before sign"), evaluated at every call on the injected clock:
 * - per algorithm, the keys whose file status is `active` and whose `not_before` has passed
 *   (no `not_before` = always passed) are *eligible*; the eligible key with the latest
 *   `not_before` signs new manifests;
 * - an active key whose `not_before` is still in the future is published as `active` but does
 *   not sign yet, so verifiers can fetch it before the first manifest carries its kid;
 * - an active key superseded by a later eligible key is published as `retired`, as are keys whose
 *   file says `retired`: manifests sealed under them still verify;
 * - a key whose file says `revoked` is never loaded for signing and never published (the
 *   contract's `/rewarder/keys` knows only active|retired): a verifier who re-fetches the keys
 *   rejects its signatures as `unknown_kid`, and a keys file that marks it `revoked` rejects
 *   them as `revoked_kid`.
 *
 * At load: two active keys of one algorithm with the same `not_before` are ambiguous (refused);
 * an Ed25519 key must be eligible now; REQUIRE_PQ_ON refuses to start unless an ML-DSA-65 key is
 * eligible now (and, time moving forward, it stays so).
 *
 * Zeroization: JavaScript cannot guarantee it. Seeds are wiped (`fill(0)`) where we own the
 * buffer (revoked keys at load, every key on {@link Signer.wipe}), but the engine may have
 * copied them (JIT, GC compaction, WebCrypto's imported key, the base64url string of the key
 * file, which is an immutable JS string and cannot be wiped at all).
 *
 * @module
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { KeyFileError, loadSigningKey, publishedKey, type StoredSigningKey } from "./key_files.ts";
import { type SigningKey } from "../../core/mod.ts";

/** Most key files in SIGNING_KEYS_DIR. */
export const SIGNING_KEYS_MAX = 64;

/** A published verification key (contract §10). */
export type PublishedKey = ReturnType<typeof publishedKey>;

/** Loaded signing keys. */
export interface Signer {
  /** The keys that sign new manifests now: one Ed25519 and, when eligible, one ML-DSA-65. */
  active(): SigningKey[];
  /** Every non-revoked verification key with its status now, for `/rewarder/keys`. */
  published(): PublishedKey[];
  /** Overwrites every private key buffer with zeros; the signer is unusable afterwards. */
  wipe(): void;
}

/** Options of {@link loadSigner}. */
export interface SignerOptions {
  /** REQUIRE_PQ_ON: refuse to load without an ML-DSA-65 key eligible now. */
  requirePq: boolean;
  /** Injected clock (epoch ms) deciding which key signs; defaults to `Date.now`. */
  nowMs?: () => number;
}

const notBeforeOf = (k: StoredSigningKey) => k.notBeforeMs ?? -Infinity;

/** The key of `alg` that signs at `nowMs`, if any (the eligible one with the latest not_before). */
function signerAt(
  keys: readonly StoredSigningKey[],
  alg: SigningKey["alg"],
  nowMs: number,
): StoredSigningKey | undefined {
  let best: StoredSigningKey | undefined;
  for (const k of keys) {
    if (k.alg !== alg || k.status !== "active" || notBeforeOf(k) > nowMs) continue;
    if (best === undefined || notBeforeOf(k) > notBeforeOf(best)) best = k;
  }
  return best;
}

/** The published status of `key` at `nowMs`, given the current signers. */
function statusAt(
  key: StoredSigningKey,
  signers: readonly (StoredSigningKey | undefined)[],
  nowMs: number,
): "active" | "retired" {
  if (key.status !== "active") return "retired";
  if (signers.includes(key) || notBeforeOf(key) > nowMs) return "active";
  return "retired"; // superseded by a later eligible key of its algorithm
}

function wipeKey(key: SigningKey): void {
  if (key.alg === "ed25519") key.seed.fill(0);
  else key.secretKey.fill(0);
}

/** Builds a signer from loaded keys (validated as described in the module doc). */
export function createSigner(
  loaded: readonly StoredSigningKey[],
  options: SignerOptions & { dir?: string },
): Signer {
  const nowMs = options.nowMs ?? Date.now;
  const where = options.dir === undefined ? "" : ` in ${options.dir}`;
  const kids = new Set(loaded.map((k) => k.kid));
  if (kids.size !== loaded.length) {
    throw new KeyFileError("Cannot load signing keys: duplicate kid");
  }
  for (const k of loaded) if (k.status === "revoked") wipeKey(k);
  const keys = loaded.filter((k) => k.status !== "revoked");
  for (const alg of ["ed25519", "ml-dsa-65"] as const) {
    const starts = keys.filter((k) => k.alg === alg && k.status === "active").map(notBeforeOf);
    if (new Set(starts).size !== starts.length) {
      throw new KeyFileError(
        `Cannot load signing keys: two active ${alg} keys${where} share a not_before (or both lack one)`,
      );
    }
  }
  const now = nowMs();
  if (signerAt(keys, "ed25519", now) === undefined) {
    throw new KeyFileError(
      `Cannot load signing keys: no active ed25519 key${where} whose not_before has passed`,
    );
  }
  if (options.requirePq && signerAt(keys, "ml-dsa-65", now) === undefined) {
    throw new KeyFileError("Cannot start with REQUIRE_PQ_ON: no active ml-dsa-65 key");
  }
  let wiped = false;
  return {
    active() {
      if (wiped) throw new KeyFileError("Cannot sign: the signing keys were wiped");
      const t = nowMs();
      const out: SigningKey[] = [];
      for (const alg of ["ed25519", "ml-dsa-65"] as const) {
        const k = signerAt(keys, alg, t);
        if (k !== undefined) out.push(k);
      }
      return out;
    },
    published() {
      const t = nowMs();
      const signers = [signerAt(keys, "ed25519", t), signerAt(keys, "ml-dsa-65", t)];
      return keys.map((k) => publishedKey({ ...k, status: statusAt(k, signers, t) }));
    },
    wipe() {
      wiped = true;
      for (const k of keys) wipeKey(k);
    },
  };
}

/** Loads every `*.json` key file of `dir` (see the module doc for the rules). */
export async function loadSigner(dir: string, options: SignerOptions): Promise<Signer> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
  if (names.length > SIGNING_KEYS_MAX) {
    throw new KeyFileError(`Cannot load signing keys: more than ${SIGNING_KEYS_MAX} files`);
  }
  const keys: StoredSigningKey[] = [];
  try {
    for (const name of names) keys.push(await loadSigningKey(join(dir, name)));
    return createSigner(keys, { ...options, dir });
  } catch (err) {
    for (const k of keys) wipeKey(k);
    throw err;
  }
}
