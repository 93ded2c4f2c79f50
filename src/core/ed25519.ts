/**
 * Ed25519 (RFC 8032) signing and verification: WebCrypto `crypto.subtle` where the runtime
 * implements Ed25519, `@noble/ed25519` otherwise. RFC 8032 signatures are deterministic, so
 * both paths give the same bytes (pinned by `ed25519_test.ts`, which runs both).
 *
 * Private keys are 32-byte seeds. WebCrypto cannot import a raw Ed25519 private key, so the
 * seed is wrapped in the fixed 16-byte PKCS#8 prefix of RFC 8410 §7.
 *
 * @module
 */
import * as noble from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";

noble.hashes.sha512 = sha512;

/** RFC 8410 PKCS#8 header for an Ed25519 private key (the 32-byte seed follows). */
const PKCS8_ED25519_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);
/** Seed and public key length in bytes (RFC 8032 §5.1.5). */
export const ED25519_KEY_BYTES = 32;
/** Signature length in bytes (RFC 8032 §5.1.6). */
export const ED25519_SIGNATURE_BYTES = 64;

let subtleSupport: Promise<boolean> | undefined;

/** Whether this runtime's WebCrypto implements Ed25519 (probed once). */
export function hasSubtleEd25519(): Promise<boolean> {
  subtleSupport ??= (async () => {
    try {
      const key = await importSeed(new Uint8Array(ED25519_KEY_BYTES));
      await crypto.subtle.sign("Ed25519", key, new Uint8Array(1));
      return true;
    } catch {
      return false;
    }
  })();
  return subtleSupport;
}

function importSeed(seed: Uint8Array): Promise<CryptoKey> {
  const pkcs8 = new Uint8Array(PKCS8_ED25519_PREFIX.length + ED25519_KEY_BYTES);
  pkcs8.set(PKCS8_ED25519_PREFIX);
  pkcs8.set(seed, PKCS8_ED25519_PREFIX.length);
  const imported = crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", false, ["sign"]);
  pkcs8.fill(0);
  return imported;
}

function checkLength(bytes: Uint8Array, expected: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== expected) {
    throw new TypeError(`Cannot use ${what}: expected ${expected} bytes`);
  }
}

/** The public key of a 32-byte seed. */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  checkLength(seed, ED25519_KEY_BYTES, "Ed25519 seed");
  return noble.getPublicKey(seed);
}

/** Signs `message` with a 32-byte seed; `backend` forces a path (tests). */
export async function signEd25519(
  seed: Uint8Array,
  message: Uint8Array,
  backend?: "subtle" | "noble",
): Promise<Uint8Array> {
  checkLength(seed, ED25519_KEY_BYTES, "Ed25519 seed");
  const useSubtle = backend === undefined ? await hasSubtleEd25519() : backend === "subtle";
  if (!useSubtle) return noble.sign(message, seed);
  const key = await importSeed(seed);
  return new Uint8Array(await crypto.subtle.sign("Ed25519", key, new Uint8Array(message)));
}

/**
 * Verifies an Ed25519 signature. Malformed keys or signatures verify as false. Uses noble's
 * strict (ZIP-215-off, RFC 8032 §5.1.7) verification so every runtime agrees.
 */
export function verifyEd25519(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.length !== ED25519_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) {
    return false;
  }
  try {
    return noble.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
