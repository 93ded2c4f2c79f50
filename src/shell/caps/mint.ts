/**
 * Minting, attenuating and inspecting tokens (contract §9). Minting needs the epoch's
 * master secret; attenuating needs only the token (that is the point of macaroons).
 *
 * @module
 */
import { decodeToken, encodeToken } from "./token_codec.ts";
import { deriveRootKey, formatIdentifier, parseIdentifier } from "./identifier.ts";
import { newMacaroonV2, withFirstPartyCaveat } from "./macaroon_v2.ts";
import { assertWellFormedCaveat } from "./caveat.ts";
import { CAVEATS_MAX } from "./limits.ts";

const encoder = new TextEncoder();

/** Inputs of {@link mintToken}. */
export interface MintOptions {
  /** The key epoch's 32-byte master secret. */
  masterSecret: Uint8Array;
  tenant: string;
  keyEpoch: number;
  /** Lowercase hex nonce, 8..32 bytes (random in production). */
  nonceHex: string;
  /** First-party caveat texts in order; each well-formed and known; at least one `scope`. */
  caveats: readonly string[];
}

/** Mints a V2 macaroon and returns its base64url text. Throws TypeError on bad input. */
export function mintToken(options: MintOptions): string {
  const identifier = formatIdentifier({
    tenant: options.tenant,
    keyEpoch: options.keyEpoch,
    nonceHex: options.nonceHex,
  });
  if (options.caveats.length > CAVEATS_MAX) {
    throw new TypeError("Cannot mint token: too many caveats");
  }
  const parsed = options.caveats.map(assertWellFormedCaveat);
  // §9: a token without a scope caveat grants nothing, but its holder could append one and
  // gain any scope; so never mint one (see attenuation_property_test.ts).
  if (!parsed.some((c) => c.kind === "scope")) {
    throw new TypeError("Cannot mint token without a scope caveat");
  }
  const rootKey = deriveRootKey(options.masterSecret, options.tenant, options.keyEpoch);
  try {
    let m = newMacaroonV2(rootKey, encoder.encode(identifier));
    for (const c of options.caveats) m = withFirstPartyCaveat(m, encoder.encode(c));
    return encodeToken(m);
  } finally {
    rootKey.fill(0);
  }
}

/**
 * Appends first-party caveats to a token (no key needed). The token must decode within
 * the limits; the result must stay within {@link CAVEATS_MAX}. Throws RewarderError
 * (undecodable token) or TypeError (bad caveat, too many).
 */
export function attenuateToken(token: string, caveats: readonly string[]): string {
  let m = decodeToken(token);
  if (m.caveats.length + caveats.length > CAVEATS_MAX) {
    throw new TypeError("Cannot attenuate token: too many caveats");
  }
  caveats.forEach(assertWellFormedCaveat);
  for (const c of caveats) m = withFirstPartyCaveat(m, encoder.encode(c));
  return encodeToken(m);
}

/** What {@link inspectToken} shows: never the signature. */
export interface TokenInspection {
  identifier: string;
  /** Parsed identifier parts, when the identifier is the v1 form. */
  tenant: string | null;
  keyEpoch: number | null;
  caveats: string[];
}

/** Shows a token's identifier and caveats (not its signature, which is the bearer secret). */
export function inspectToken(token: string): TokenInspection {
  const m = decodeToken(token);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const identifier = utf8.decode(m.identifier);
  const id = parseIdentifier(identifier);
  return {
    identifier,
    tenant: id?.tenant ?? null,
    keyEpoch: id?.keyEpoch ?? null,
    caveats: m.caveats.map((c) => utf8.decode(c.identifier)),
  };
}
