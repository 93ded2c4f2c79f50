/**
 * libmacaroons V2 binary format and HMAC chain (contract §9), implemented here instead of
 * using the `macaroon` npm package 3.0.4 for serialization and verification.
 *
 * Why not the package: its `ByteBuffer._grow` compares against an undefined `_capacity`,
 * so every append doubles the buffer; exporting a macaroon with 4 caveats allocates 6.7 GB
 * and 5 caveats throws (measured on Deno 2.9.6). Its verifier also evaluates caveats before
 * the signature comparison. The format is small, so we own it and use the package (and
 * python3-pymacaroons) only as independent implementations in tests.
 *
 * V2 binary: 0x02, [location(1)], identifier(2), EOS(0), then per caveat [location(1)],
 * identifier(2), [vid(4)], EOS(0); then EOS(0), signature(6). Each field is a type byte,
 * a uvarint length and the bytes. Chain: sig0 = HMAC(K, id) with
 * K = HMAC("macaroons-key-generator", root key); first-party: sig = HMAC(sig, caveat);
 * third-party: sig = HMAC(sig, HMAC(sig, vid) || HMAC(sig, caveat id)).
 *
 * @module
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";

/** One caveat; `vid` is present only on third-party caveats. */
export interface MacaroonCaveat {
  identifier: Uint8Array;
  location?: Uint8Array;
  vid?: Uint8Array;
}

/** A decoded V2 macaroon. `location` is not signed and is ignored by verification. */
export interface Macaroon {
  location?: Uint8Array;
  identifier: Uint8Array;
  caveats: MacaroonCaveat[];
  signature: Uint8Array;
}

const FIELD_EOS = 0;
const FIELD_LOCATION = 1;
const FIELD_IDENTIFIER = 2;
const FIELD_VID = 4;
const FIELD_SIGNATURE = 6;
const SIGNATURE_BYTES = 32;
/** Varints above this are refused: no field can be longer than a 4 KiB token anyway. */
const FIELD_BYTES_MAX = 1 << 20;
const KEY_GENERATOR = new TextEncoder().encode("macaroons-key-generator");

class Reader {
  #pos = 0;
  constructor(readonly bytes: Uint8Array) {}
  get done(): boolean {
    return this.#pos === this.bytes.length;
  }
  peek(): number | undefined {
    return this.bytes[this.#pos];
  }
  byte(): number {
    const b = this.bytes[this.#pos++];
    if (b === undefined) throw new TypeError("Cannot decode macaroon: truncated");
    return b;
  }
  uvarint(): number {
    let value = 0;
    for (let shift = 0; shift <= 21; shift += 7) {
      const b = this.byte();
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (b === 0 && shift > 0) throw new TypeError("Cannot decode macaroon: overlong varint");
        if (value > FIELD_BYTES_MAX) throw new TypeError("Cannot decode macaroon: field too long");
        return value;
      }
    }
    throw new TypeError("Cannot decode macaroon: varint too long");
  }
  take(n: number): Uint8Array {
    if (this.#pos + n > this.bytes.length) throw new TypeError("Cannot decode macaroon: truncated");
    const out = this.bytes.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  field(type: number): Uint8Array {
    if (this.byte() !== type) throw new TypeError(`Cannot decode macaroon: expected field ${type}`);
    return type === FIELD_EOS ? new Uint8Array(0) : this.take(this.uvarint());
  }
  optional(type: number): Uint8Array | undefined {
    return this.peek() === type ? this.field(type) : undefined;
  }
}

function readOne(r: Reader, caveatsMax: number): Macaroon {
  if (r.byte() !== 2) throw new TypeError("Cannot decode macaroon: not V2 binary");
  const location = r.optional(FIELD_LOCATION);
  const identifier = r.field(FIELD_IDENTIFIER);
  r.field(FIELD_EOS);
  const caveats: MacaroonCaveat[] = [];
  while (r.peek() !== FIELD_EOS) {
    if (caveats.length >= caveatsMax) {
      throw new RangeError("Cannot decode macaroon: too many caveats");
    }
    const cav: MacaroonCaveat = { identifier: new Uint8Array(0) };
    const loc = r.optional(FIELD_LOCATION);
    cav.identifier = r.field(FIELD_IDENTIFIER);
    const vid = r.optional(FIELD_VID);
    r.field(FIELD_EOS);
    if (loc !== undefined) cav.location = loc;
    if (vid !== undefined) cav.vid = vid;
    caveats.push(cav);
  }
  r.field(FIELD_EOS);
  const signature = r.field(FIELD_SIGNATURE);
  if (signature.length !== SIGNATURE_BYTES) {
    throw new TypeError("Cannot decode macaroon: bad signature field");
  }
  return location === undefined
    ? { identifier, caveats, signature }
    : { location, identifier, caveats, signature };
}

/** Decodes V2 binary strictly (no trailing bytes, 32-byte signature). Throws TypeError. */
export function decodeMacaroonV2(bytes: Uint8Array, caveatsMax: number): Macaroon {
  const r = new Reader(bytes);
  const m = readOne(r, caveatsMax);
  if (!r.done) throw new TypeError("Cannot decode macaroon: trailing bytes");
  return m;
}

/**
 * Decodes one or more concatenated V2 binary macaroons: a token followed by its discharge
 * macaroons, as libmacaroons-style bundles are sent. `caveatsMax` bounds the caveats of all
 * of them together. Throws TypeError (malformed) or RangeError (too many caveats).
 */
export function decodeMacaroonsV2(bytes: Uint8Array, caveatsMax: number): Macaroon[] {
  const r = new Reader(bytes);
  const out: Macaroon[] = [];
  let left = caveatsMax;
  do {
    const m = readOne(r, left);
    left -= m.caveats.length;
    out.push(m);
  } while (!r.done);
  return out;
}

function pushField(out: number[], type: number, data?: Uint8Array): void {
  out.push(type);
  if (type === FIELD_EOS || data === undefined) return;
  let n = data.length;
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  for (const b of data) out.push(b);
}

/** Encodes V2 binary (the inverse of {@link decodeMacaroonV2}). */
export function encodeMacaroonV2(m: Macaroon): Uint8Array {
  const out: number[] = [2];
  if (m.location !== undefined) pushField(out, FIELD_LOCATION, m.location);
  pushField(out, FIELD_IDENTIFIER, m.identifier);
  pushField(out, FIELD_EOS);
  for (const c of m.caveats) {
    if (c.location !== undefined) pushField(out, FIELD_LOCATION, c.location);
    pushField(out, FIELD_IDENTIFIER, c.identifier);
    if (c.vid !== undefined) pushField(out, FIELD_VID, c.vid);
    pushField(out, FIELD_EOS);
  }
  pushField(out, FIELD_EOS);
  pushField(out, FIELD_SIGNATURE, m.signature);
  return Uint8Array.from(out);
}

/** Creates a macaroon with no caveats under `rootKey`. */
export function newMacaroonV2(rootKey: Uint8Array, identifier: Uint8Array): Macaroon {
  const key = hmac(sha256, KEY_GENERATOR, rootKey);
  const signature = hmac(sha256, key, identifier);
  key.fill(0);
  return { identifier, caveats: [], signature };
}

/** Returns a copy with one first-party caveat appended (sig' = HMAC(sig, caveat)). */
export function withFirstPartyCaveat(m: Macaroon, caveat: Uint8Array): Macaroon {
  return {
    ...m,
    caveats: [...m.caveats, { identifier: caveat }],
    signature: hmac(sha256, m.signature, caveat),
  };
}

/** Constant-time equality for equal-length byte strings (length itself is public). */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * libmacaroons' chain step for a third-party caveat:
 * sig' = HMAC(sig, HMAC(sig, vid) || HMAC(sig, caveat id)).
 */
function thirdPartyStep(sig: Uint8Array, vid: Uint8Array, cid: Uint8Array): Uint8Array {
  const both = new Uint8Array(64);
  both.set(hmac(sha256, sig, vid), 0);
  both.set(hmac(sha256, sig, cid), 32);
  return hmac(sha256, sig, both);
}

/**
 * Recomputes the chain under `rootKey` and compares it with the macaroon's signature in
 * constant time. Third-party caveats are chained as libmacaroons does, so a token carrying
 * one is known authentic (the caller refuses it with 403, contract §9) rather than forged;
 * their discharges are never verified here.
 */
export function verifyChainV2(m: Macaroon, rootKey: Uint8Array): boolean {
  let sig = newMacaroonV2(rootKey, m.identifier).signature;
  for (const c of m.caveats) {
    sig = c.vid === undefined
      ? hmac(sha256, sig, c.identifier)
      : thirdPartyStep(sig, c.vid, c.identifier);
  }
  const ok = timingSafeEqual(sig, m.signature);
  sig.fill(0);
  return ok;
}
