/**
 * Minting, attenuating and inspecting tokens (contract §9). Minting needs the epoch's
 * master secret; attenuating needs only the token (that is the point of macaroons).
 *
 * The grant lives in the v2 identifier (`v2:<tenant>:<key_epoch>:<scopes>:<nonce>`); caveats
 * only narrow it, so a holder appending `scope = …` can never widen a token.
 *
 * @module
 */
import { decodeToken, encodeToken } from "./token_codec.ts";
import {
  deriveRootKey,
  formatIdentifier,
  type IdentifierOptions,
  parseIdentifier,
  type Scope,
  SCOPES,
} from "./identifier.ts";
import { newMacaroonV2, withFirstPartyCaveat } from "./macaroon_v2.ts";
import { assertWellFormedCaveat, type Caveat } from "./caveat.ts";
import { CAVEATS_MAX } from "./limits.ts";
import { TENANT_GRAMMAR } from "../../core/ids.ts";

const encoder = new TextEncoder();

/** Inputs of {@link mintToken}. */
export interface MintOptions extends IdentifierOptions {
  /** The key epoch's 32-byte master secret. */
  masterSecret: Uint8Array;
  tenant: string;
  keyEpoch: number;
  /**
   * The scopes the identifier grants (distinct; `rewarder.quarantine` only for the operator
   * tenant). Default: the scopes every `scope =` caveat of `caveats` lists, so a caveat list
   * written for v1 tokens mints the same grant; one of the two must name a scope.
   */
  scopes?: readonly string[];
  /** Lowercase hex nonce, 8..32 bytes (random in production; the CLI uses 16). */
  nonceHex: string;
  /** First-party caveat texts in order; each well-formed and known. */
  caveats: readonly string[];
}

function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}

/** The scopes listed by every scope caveat (their intersection), in contract §10 order. */
function scopesOfCaveats(parsed: readonly Caveat[]): Scope[] {
  let scopes: Scope[] | undefined;
  for (const c of parsed) {
    if (c.kind !== "scope") continue;
    const listed = c.scopes;
    scopes = (scopes ?? [...SCOPES]).filter((s) => listed.includes(s));
  }
  return scopes ?? [];
}

/** Mints a V2 macaroon and returns its base64url text. Throws TypeError on bad input. */
export function mintToken(options: MintOptions): string {
  if (options.caveats.length > CAVEATS_MAX) {
    throw new TypeError("Cannot mint token: too many caveats");
  }
  const parsed = options.caveats.map(assertWellFormedCaveat);
  const requested = options.scopes ?? scopesOfCaveats(parsed);
  if (requested.length === 0) {
    throw new TypeError("Cannot mint token as it grants no scope: give scopes");
  }
  if (!requested.every(isScope)) {
    throw new TypeError(`Cannot mint token as a scope is not one of ${SCOPES.join(", ")}`);
  }
  const identifier = formatIdentifier({
    tenant: options.tenant,
    keyEpoch: options.keyEpoch,
    scopes: requested,
    nonceHex: options.nonceHex,
  }, options.operatorTenant === undefined ? {} : { operatorTenant: options.operatorTenant });
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
  /** Parsed identifier parts, when the identifier is the v2 form (else null). */
  tenant: string | null;
  keyEpoch: number | null;
  scopes: string[] | null;
  nonceHex: string | null;
  caveats: string[];
  /** Third-party caveats are shown by count only (their ids may be binary). */
  thirdPartyCaveats: number;
}

/**
 * Shows a token's identifier and caveats (not its signature, which is the bearer secret).
 * The identifier is parsed with the quarantine scope allowed for any tenant, so an operator
 * can see what a refused token claims.
 */
export function inspectToken(token: string): TokenInspection {
  const m = decodeToken(token);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const identifier = utf8.decode(m.identifier);
  const tenant = new RegExp(`^v2:(${TENANT_GRAMMAR}):`).exec(identifier)?.[1];
  const id = parseIdentifier(identifier, tenant === undefined ? {} : { operatorTenant: tenant });
  const firstParty = m.caveats.filter((c) => c.vid === undefined);
  return {
    identifier,
    tenant: id?.tenant ?? null,
    keyEpoch: id?.keyEpoch ?? null,
    scopes: id === undefined ? null : [...id.scopes],
    nonceHex: id?.nonceHex ?? null,
    caveats: firstParty.map((c) => utf8.decode(c.identifier)),
    thirdPartyCaveats: m.caveats.length - firstParty.length,
  };
}
