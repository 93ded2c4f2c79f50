/**
 * Token verification (contract §9): size limits → V2 decode → identifier (v2 grammar, the
 * quarantine scope only for the operator tenant) → key epoch → HMAC chain (constant-time
 * final comparison, see macaroon_v2.ts) → third-party caveats and discharges → caveats. The
 * signature is checked before any caveat is evaluated, so a forged token is always 401 and
 * never learns which caveat would have failed.
 *
 * 401 UNAUTHENTICATED reasons: `token_missing`, `token_malformed`, `token_oversize`,
 * `too_many_caveats`, `identifier` (not the v2 form, v1 included), `key_epoch` (unknown or
 * revoked; one reason so revocation state is not probed), `signature`.
 * 403 UNAUTHORIZED: `third_party_caveat` (an authentic token with a third-party caveat or sent with
 * a discharge), then the caveat reasons of authorize.ts.
 *
 * @module
 */
import { type Reason, RewarderError } from "../../core/errors.ts";
import type { AuthContext } from "./auth_context.ts";
import { decodeTokenBundle, tokenFromAuthorization } from "./token_codec.ts";
import { deriveRootKey, type IdentifierOptions, parseIdentifier } from "./identifier.ts";
import { authorizeParsed, type RequestDescription } from "./authorize.ts";
import { parseCaveat } from "./caveat.ts";
import { verifyChainV2 } from "./macaroon_v2.ts";
import { type VerifiedTokenCache, verifiedUnder } from "./verified_tokens.ts";

/** Where master secrets come from: undefined for an unknown or revoked key epoch. */
export interface MasterSecretSource {
  masterSecretFor(keyEpoch: number): Promise<Uint8Array | undefined>;
}

/**
 * A pluggable verifier: turns an `Authorization` header value (possibly absent) into an
 * AuthContext or throws a RewarderError (401/403). The macaroon verifier is one; the edge
 * JWT converter is another.
 */
export type Verifier = (
  authorization: string | undefined,
  req: RequestDescription,
) => Promise<AuthContext>;

const utf8 = new TextDecoder("utf-8", { fatal: true });

function unauthenticated(reason: Reason, cause?: unknown): RewarderError {
  return new RewarderError("UNAUTHENTICATED", reason, cause === undefined ? {} : { cause });
}

function utf8Text(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw unauthenticated("token_malformed", err);
  }
}

/** A caveat that is not UTF-8 becomes the empty text: malformed, so 403 (it is authentic). */
function caveatText(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return "";
  }
}

/** Options of {@link verifyToken} and {@link macaroonVerifier}. */
export interface VerifyOptions extends IdentifierOptions {
  /**
   * Verified tokens (src/shell/caps/verified_tokens.ts): a token verified before under the
   * same secret skips decoding, the identifier and the HMAC chain; its caveats are still
   * evaluated against this request. Share one per key ring and operator tenant.
   */
  cache?: VerifiedTokenCache;
}

/** Verifies token text against the key source and the request. */
export async function verifyToken(
  tokenText: string,
  req: RequestDescription,
  keys: MasterSecretSource,
  options: VerifyOptions = {},
): Promise<AuthContext> {
  const { cache } = options;
  const hit = cache?.get(tokenText);
  if (hit !== undefined) {
    // The ring is asked every time (it reloads when due): a revoked epoch stops a cached token.
    const secretNow = await keys.masterSecretFor(hit.id.keyEpoch);
    if (secretNow === undefined) {
      cache!.delete(tokenText);
      throw unauthenticated("key_epoch");
    }
    if (verifiedUnder(hit, secretNow)) {
      return authorizeParsed(hit.identifierText, hit.id, hit.caveats, req);
    }
    cache!.delete(tokenText); // another secret under that epoch now: verify again
  }
  const { token: m, discharges } = decodeTokenBundle(tokenText);
  const identifierText = utf8Text(m.identifier);
  const id = parseIdentifier(identifierText, options);
  if (id === undefined) throw unauthenticated("identifier");
  const secret = await keys.masterSecretFor(id.keyEpoch);
  if (secret === undefined) throw unauthenticated("key_epoch");
  const rootKey = deriveRootKey(secret, id.tenant, id.keyEpoch);
  const authentic = verifyChainV2(m, rootKey); // constant-time final comparison
  rootKey.fill(0);
  if (!authentic) throw unauthenticated("signature");
  // §9: no discharge support; an authentic token that needs one is refused, never half-checked.
  if (discharges > 0 || m.caveats.some((c) => c.vid !== undefined)) {
    throw new RewarderError("UNAUTHORIZED", "third_party_caveat");
  }
  const caveats = m.caveats.map((c) => parseCaveat(caveatText(c.identifier)));
  cache?.set(tokenText, { identifierText, id, caveats, secret });
  return authorizeParsed(identifierText, id, caveats, req);
}

/** The macaroon verifier over a key source (normally the caps {@link KeyRing}). */
export function macaroonVerifier(
  keys: MasterSecretSource,
  options: VerifyOptions = {},
): Verifier {
  return async function verifyMacaroon(authorization, req) {
    return await verifyToken(tokenFromAuthorization(authorization), req, keys, options);
  };
}
