/**
 * Token verification (contract §9): size limits → V2 decode → identifier → key epoch →
 * HMAC chain (constant-time final comparison, see macaroon_v2.ts) → caveats. The signature is checked before
 * any caveat is evaluated, so a forged token is always 401 and never learns which caveat
 * would have failed.
 *
 * 401 UNAUTHENTICATED reasons: `token_missing`, `token_malformed`, `token_oversize`,
 * `too_many_caveats`, `third_party_caveat`, `identifier`, `key_epoch` (unknown or revoked;
 * one reason so revocation state is not probed), `signature`.
 *
 * @module
 */
import { RewarderError } from "../../core/errors.ts";
import type { AuthContext } from "../../../middleware/context.ts";
import { decodeToken, tokenFromAuthorization } from "./token_codec.ts";
import { deriveRootKey, parseIdentifier } from "./identifier.ts";
import { authorize, type RequestDescription } from "./authorize.ts";
import { verifyChainV2 } from "./macaroon_v2.ts";

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

function unauthenticated(reason: string, cause?: unknown): RewarderError {
  return new RewarderError("UNAUTHENTICATED", reason, cause === undefined ? {} : { cause });
}

/** Verifies token text against the key source and the request. */
export async function verifyToken(
  tokenText: string,
  req: RequestDescription,
  keys: MasterSecretSource,
): Promise<AuthContext> {
  const m = decodeToken(tokenText);
  let identifierText: string;
  let caveats: string[];
  try {
    identifierText = utf8.decode(m.identifier);
    caveats = m.caveats.map((c) => utf8.decode(c.identifier));
  } catch (err) {
    throw unauthenticated("token_malformed", err);
  }
  const id = parseIdentifier(identifierText);
  if (id === undefined) throw unauthenticated("identifier");
  const secret = await keys.masterSecretFor(id.keyEpoch);
  if (secret === undefined) throw unauthenticated("key_epoch");
  const rootKey = deriveRootKey(secret, id.tenant, id.keyEpoch);
  const authentic = verifyChainV2(m, rootKey); // constant-time final comparison
  rootKey.fill(0);
  if (!authentic) throw unauthenticated("signature");
  return authorize(identifierText, id, caveats, req);
}

/** The macaroon verifier over a key source (normally the caps {@link KeyRing}). */
export function macaroonVerifier(keys: MasterSecretSource): Verifier {
  return async function verifyMacaroon(authorization, req) {
    return await verifyToken(tokenFromAuthorization(authorization), req, keys);
  };
}
