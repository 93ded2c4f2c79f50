/**
 * A typed view of the `macaroon` npm package (3.0.4), the libmacaroons-V2-compatible codec
 * and HMAC chain we build on (contract §9). The package ships no types; this file is the
 * only place that touches it untyped.
 *
 * Why this package: its V2 binary format matches the libmacaroons test vector, it runs on
 * Deno, Bun and Node, and its final signature comparison is sjcl's `bitArray.equal`, which
 * ORs the XOR of every word (constant time for equal lengths).
 *
 * @module
 */
// deno-lint-ignore-file no-explicit-any
import macaroonPkg from "macaroon";

/** One caveat as the package reports it; `vid` is present only on third-party caveats. */
export interface RawCaveat {
  identifier: Uint8Array;
  location?: string;
  vid?: Uint8Array;
}

/** The subset of the package's Macaroon class we use. */
export interface RawMacaroon {
  readonly identifier: Uint8Array;
  readonly location: string;
  readonly caveats: RawCaveat[];
  readonly signature: Uint8Array;
  addFirstPartyCaveat(caveat: string | Uint8Array): void;
  /** Throws when the chain does not verify; `check` returns an error string or null. */
  verify(rootKey: Uint8Array, check: (caveat: string) => string | null): void;
  exportBinary(): Uint8Array;
  clone(): RawMacaroon;
}

const lib = macaroonPkg as any;

/** Decodes a V2 binary macaroon (throws on any framing error or trailing data). */
export function importBinaryV2(bytes: Uint8Array): RawMacaroon {
  if (bytes.length === 0 || bytes[0] !== 2) {
    throw new TypeError("Cannot import macaroon: not V2 binary");
  }
  return lib.importMacaroon(bytes) as RawMacaroon;
}

/** Creates a V2 macaroon with the given root key and identifier (no location). */
export function newMacaroonV2(rootKey: Uint8Array, identifier: string): RawMacaroon {
  return lib.newMacaroon({ identifier, rootKey, version: 2 }) as RawMacaroon;
}
