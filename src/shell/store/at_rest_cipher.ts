/**
 * At-rest encryption of stored artifacts (docs/KEYS.md): XChaCha20-Poly1305 with a fresh
 * random 24-byte nonce per sealed blob and AAD binding the blob's logical name, so a file moved
 * or swapped under another name fails authentication exactly like a flipped byte.
 *
 * Wire format of a sealed blob: `MAGIC (4 bytes "RWS1") || nonce (24) || ciphertext+tag (≥16)`.
 *
 * Where the runtime's crypto has ChaCha20-Poly1305 (Deno's and Node's `node:crypto`; Bun 1.4's
 * has not), XChaCha20-Poly1305 runs as its definition: the HChaCha20 subkey of the key and the
 * nonce's first 16 bytes (from @noble/ciphers), then the native IETF ChaCha20-Poly1305 under
 * that subkey with the nonce `0x00000000 || nonce[16..24]`. Same bytes as @noble/ciphers'
 * `xchacha20poly1305` (at_rest_cipher_test.ts checks both ways), ~7–10× faster on the megabyte
 * a 10k-recipient commit seals; elsewhere @noble/ciphers does the whole AEAD.
 *
 * @module
 */
import { hchacha, xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { createCipheriv, createDecipheriv } from "node:crypto";
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
  /**
   * The same blob as {@link AtRestCipher.seal} of the plaintext's chunks joined, sealed a chunk
   * at a time (absent: {@link sealedChunks} joins them and seals once).
   */
  sealer?(logicalName: string): AtRestSealer;
}

/** An incremental seal: `head`, then `update` of each plaintext chunk in order, then `final`. */
export interface AtRestSealer {
  /** Magic and nonce. */
  head: Uint8Array;
  /** Ciphertext of the next chunk. */
  update(plaintext: Uint8Array): Uint8Array;
  /** The rest of the ciphertext and the tag. */
  final(): Uint8Array;
}

/**
 * The sealed blob of the chunks' concatenation under `logicalName`, as chunks: with an
 * incremental sealer each chunk is encrypted when it is read (a large blob never sits whole
 * in memory twice, nor costs one long synchronous step); otherwise joined and sealed once.
 */
export async function* sealedChunks(
  cipher: AtRestCipher,
  logicalName: string,
  plaintext: Iterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const sealer = cipher.sealer?.(logicalName);
  if (sealer === undefined) {
    const chunks = [...plaintext];
    const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      joined.set(c, at);
      at += c.length;
    }
    yield cipher.seal(logicalName, joined);
    return;
  }
  yield sealer.head;
  for (const chunk of plaintext) yield sealer.update(chunk);
  yield sealer.final();
}

/** One XChaCha20-Poly1305 implementation: `seal` answers ciphertext ‖ tag. */
export interface XChaChaAead {
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** An incremental seal (ciphertext of each chunk, then ciphertext rest ‖ tag), if it has one. */
  sealStream?(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
  ): { update(plaintext: Uint8Array): Uint8Array; final(): Uint8Array };
  /** Throws on an authentication failure. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
}

/** @noble/ciphers' XChaCha20-Poly1305 (pure JS, every runtime). */
export const NOBLE_XCHACHA: XChaChaAead = {
  seal: (key, nonce, aad, plaintext) => xchacha20poly1305(key, nonce, aad).encrypt(plaintext),
  open: (key, nonce, aad, sealed) => xchacha20poly1305(key, nonce, aad).decrypt(sealed),
};

/** "expand 32-byte k" as little-endian words (RFC 8439 §2.3). */
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function wordsLE(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

/** The XChaCha20 subkey (HChaCha20 of key and nonce[0..16]) and the IETF 12-byte nonce. */
function xchachaParts(key: Uint8Array, nonce: Uint8Array): { subkey: Uint8Array; iv: Uint8Array } {
  const out = new Uint32Array(8);
  hchacha(SIGMA, wordsLE(key), wordsLE(nonce.subarray(0, 16)), out);
  const subkey = new Uint8Array(32);
  const view = new DataView(subkey.buffer);
  for (let i = 0; i < 8; i++) view.setUint32(i * 4, out[i]!, true);
  const iv = new Uint8Array(12);
  iv.set(nonce.subarray(16, 24), 4);
  return { subkey, iv };
}

/** XChaCha20-Poly1305 over the runtime's native ChaCha20-Poly1305 (`node:crypto`). */
export const NATIVE_XCHACHA: XChaChaAead = {
  seal(key, nonce, aad, plaintext) {
    const { subkey, iv } = xchachaParts(key, nonce);
    const c = createCipheriv("chacha20-poly1305", subkey, iv, {
      authTagLength: AT_REST_TAG_BYTES,
    });
    c.setAAD(aad, { plaintextLength: plaintext.length });
    const head = c.update(plaintext);
    const tail = c.final();
    const tag = c.getAuthTag();
    const out = new Uint8Array(head.length + tail.length + tag.length);
    out.set(head, 0);
    out.set(tail, head.length);
    out.set(tag, head.length + tail.length);
    return out;
  },
  sealStream(key, nonce, aad) {
    const { subkey, iv } = xchachaParts(key, nonce);
    const c = createCipheriv("chacha20-poly1305", subkey, iv, {
      authTagLength: AT_REST_TAG_BYTES,
    });
    // The total length is not known yet; ChaCha20-Poly1305 does not use it (only CCM does).
    (c as unknown as { setAAD(aad: Uint8Array): void }).setAAD(aad);
    return {
      update: (plaintext) => c.update(plaintext),
      final() {
        const tail = c.final();
        const tag = c.getAuthTag();
        const out = new Uint8Array(tail.length + tag.length);
        out.set(tail, 0);
        out.set(tag, tail.length);
        return out;
      },
    };
  },
  open(key, nonce, aad, sealed) {
    if (sealed.length < AT_REST_TAG_BYTES) throw new TypeError("sealed blob shorter than its tag");
    const { subkey, iv } = xchachaParts(key, nonce);
    const d = createDecipheriv("chacha20-poly1305", subkey, iv, {
      authTagLength: AT_REST_TAG_BYTES,
    });
    const ctLength = sealed.length - AT_REST_TAG_BYTES;
    d.setAAD(aad, { plaintextLength: ctLength });
    d.setAuthTag(sealed.subarray(ctLength));
    const head = d.update(sealed.subarray(0, ctLength));
    const tail = d.final(); // throws when the tag does not authenticate
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  },
};

/**
 * The native implementation when the runtime has it and it agrees with @noble/ciphers on a
 * probe (a runtime that lacks the cipher, or computes another one, gets the pure JS one).
 */
export function pickXChaCha(): XChaChaAead {
  try {
    const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const nonce = new Uint8Array(24).map((_, i) => i * 13 + 5);
    const aad = new Uint8Array([1, 2, 3]);
    const pt = new Uint8Array(100).map((_, i) => i);
    const a = NATIVE_XCHACHA.seal(key, nonce, aad, pt);
    const b = NOBLE_XCHACHA.seal(key, nonce, aad, pt);
    if (a.length === b.length && a.every((x, i) => x === b[i])) {
      const back = NATIVE_XCHACHA.open(key, nonce, aad, b);
      if (back.length === pt.length && back.every((x, i) => x === pt[i])) return NATIVE_XCHACHA;
    }
  } catch {
    // the runtime has no ChaCha20-Poly1305: the pure JS one below
  }
  return NOBLE_XCHACHA;
}

let picked: XChaChaAead | undefined;

/**
 * Creates a cipher from a 32-byte key (the caller keeps and may wipe the key); `aead` chooses
 * the implementation (default: the native one when the runtime has it, see {@link pickXChaCha}).
 */
export function createAtRestCipher(key: Uint8Array, aead?: XChaChaAead): AtRestCipher {
  if (key.length !== AT_REST_KEY_BYTES) {
    throw new TypeError(`Cannot use at-rest key: length is ${key.length}, expected 32`);
  }
  const impl = aead ?? (picked ??= pickXChaCha());
  const keyCopy = new Uint8Array(key);
  const aad = (name: string) => new TextEncoder().encode(AAD_PREFIX + name);
  return {
    seal(logicalName, plaintext) {
      const nonce = crypto.getRandomValues(new Uint8Array(AT_REST_NONCE_BYTES));
      const ct = impl.seal(keyCopy, nonce, aad(logicalName), plaintext);
      const out = new Uint8Array(MAGIC.length + nonce.length + ct.length);
      out.set(MAGIC, 0);
      out.set(nonce, MAGIC.length);
      out.set(ct, MAGIC.length + nonce.length);
      return out;
    },
    ...(impl.sealStream === undefined ? {} : {
      sealer(logicalName: string): AtRestSealer {
        const nonce = crypto.getRandomValues(new Uint8Array(AT_REST_NONCE_BYTES));
        const stream = impl.sealStream!(keyCopy, nonce, aad(logicalName));
        const head = new Uint8Array(MAGIC.length + nonce.length);
        head.set(MAGIC, 0);
        head.set(nonce, MAGIC.length);
        return { head, update: stream.update, final: stream.final };
      },
    }),
    open(logicalName, blob) {
      const head = MAGIC.length + AT_REST_NONCE_BYTES;
      if (blob.length < head + AT_REST_TAG_BYTES) throw storeUndecryptable();
      for (let i = 0; i < MAGIC.length; i++) if (blob[i] !== MAGIC[i]) throw storeUndecryptable();
      const nonce = blob.subarray(MAGIC.length, head);
      try {
        return impl.open(keyCopy, nonce, aad(logicalName), blob.subarray(head));
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
