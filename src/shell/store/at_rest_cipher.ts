/**
 * At-rest encryption of stored artifacts (docs/KEYS.md): XChaCha20-Poly1305 with a fresh
 * random 24-byte nonce per sealed blob and AAD binding the blob's logical name, so a file moved
 * or swapped under another name fails authentication exactly like a flipped byte.
 *
 * Wire format of a sealed blob: `MAGIC (4 bytes "RWS1") || nonce (24) || ciphertext+tag (≥16)`.
 *
 * @module
 */
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { readFile, stat } from "node:fs/promises";
import { fromBase64Url } from "../../core/base64url.ts";
import { RewarderError } from "../../core/errors.ts";
import { storeUndecryptable } from "./run_store.ts";

/** Key size of XChaCha20-Poly1305, bytes. */
export const AT_REST_KEY_BYTES = 32;
/** Nonce size of XChaCha20-Poly1305, bytes (random nonces are safe at this size). */
export const AT_REST_NONCE_BYTES = 24;
/** Poly1305 tag size, bytes. */
export const AT_REST_TAG_BYTES = 16;
const MAGIC = new TextEncoder().encode("RWS1");
const AAD_PREFIX = "svc-rewarder/at-rest/v1:";
/** A key file is 32 raw bytes or base64url text of them; anything bigger is not a key file. */
const KEY_FILE_BYTES_MAX = 256;

/** Seals and opens blobs under one key. */
export interface AtRestCipher {
  seal(logicalName: string, plaintext: Uint8Array): Uint8Array;
  /** Throws the typed `store_undecryptable` error on any authentication failure. */
  open(logicalName: string, blob: Uint8Array): Uint8Array;
}

/** Creates a cipher from a 32-byte key (the caller keeps and may wipe the key). */
export function createAtRestCipher(key: Uint8Array): AtRestCipher {
  if (key.length !== AT_REST_KEY_BYTES) {
    throw new TypeError(`Cannot use at-rest key: length is ${key.length}, expected 32`);
  }
  const keyCopy = new Uint8Array(key);
  const aad = (name: string) => new TextEncoder().encode(AAD_PREFIX + name);
  return {
    seal(logicalName, plaintext) {
      const nonce = crypto.getRandomValues(new Uint8Array(AT_REST_NONCE_BYTES));
      const ct = xchacha20poly1305(keyCopy, nonce, aad(logicalName)).encrypt(plaintext);
      const out = new Uint8Array(MAGIC.length + nonce.length + ct.length);
      out.set(MAGIC, 0);
      out.set(nonce, MAGIC.length);
      out.set(ct, MAGIC.length + nonce.length);
      return out;
    },
    open(logicalName, blob) {
      const head = MAGIC.length + AT_REST_NONCE_BYTES;
      if (blob.length < head + AT_REST_TAG_BYTES) throw storeUndecryptable();
      for (let i = 0; i < MAGIC.length; i++) if (blob[i] !== MAGIC[i]) throw storeUndecryptable();
      const nonce = blob.subarray(MAGIC.length, head);
      try {
        return xchacha20poly1305(keyCopy, nonce, aad(logicalName)).decrypt(blob.subarray(head));
      } catch (cause) {
        throw new RewarderError("INTERNAL", "store_undecryptable", { cause });
      }
    },
  };
}

/**
 * Reads the at-rest key from `path`: mode must deny group/other (0600 or stricter), content is
 * 32 raw bytes or the base64url text of 32 bytes. Errors are typed `INTERNAL key_file_*`.
 */
export async function readAtRestKey(path: string): Promise<Uint8Array> {
  const info = await stat(path).catch((cause) => {
    throw new RewarderError("INTERNAL", "key_file_unreadable", { cause });
  });
  if ((info.mode & 0o077) !== 0) throw new RewarderError("INTERNAL", "key_file_mode");
  if (info.size > KEY_FILE_BYTES_MAX) throw new RewarderError("INTERNAL", "key_file_format");
  const raw = new Uint8Array(await readFile(path));
  if (raw.length === AT_REST_KEY_BYTES) return raw;
  try {
    const key = fromBase64Url(new TextDecoder().decode(raw).trim());
    if (key.length === AT_REST_KEY_BYTES) return key;
  } catch {
    // fall through to the typed error below: the content is neither form
  }
  throw new RewarderError("INTERNAL", "key_file_format");
}
