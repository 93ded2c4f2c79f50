/**
 * Edge JWT conversion (contract §13, docs/EDGE-JWT.md): on an instance
 * configured with EDGE_JWT_KEYS (the gateway-facing "edge" instance), an
 * `Authorization: Bearer <JWT>` signed by the gateway (EdDSA or ES256) is verified, then
 * converted into a short-lived, reduced-scope macaroon minted under the current caps key
 * epoch, and that macaroon goes through the ordinary macaroon verifier — so every caveat
 * check is the same code. The JWT is never stored, logged, put in the AuthContext or sent
 * anywhere: only the tenant, the scope intersection and a bounded expiry survive.
 *
 * Order of checks (each a 401 UNAUTHENTICATED with its own reason, all before the claims
 * are trusted): size `jwt_oversize` → structure `jwt_malformed` → header `jwt_header`
 * (`crit`, `typ`) → algorithm `jwt_alg` (only EdDSA/ES256 and the kid's own alg; `none` and
 * HS* never) → key `jwt_kid` → signature `jwt_signature` → claims `jwt_claims` →
 * `jwt_issuer` → `jwt_audience` → `jwt_expired` / `jwt_not_yet_valid` → tenant
 * `jwt_tenant_missing` / `jwt_tenant_malformed` → scope claim `jwt_scope`. An authentic JWT
 * whose scopes share nothing with `scopes_max` is 403 UNAUTHORIZED `scope`, like a
 * macaroon without the route's scope.
 *
 * Key file (EDGE_JWT_KEYS, public keys only, ≤ 64 KiB, not group/world writable):
 * `{"issuer":"https://gw.example","audience":"svc-rewarder","keys":[{"kid":"gw-1",
 * "alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"…"}}],
 * "scopes_max":["rewarder.inspect"],"tenant_claim":"tenant","ttl_s_max":300}`
 * (`tenant_claim` and `ttl_s_max` optional; see docs/EDGE-JWT.md).
 *
 * Verification (key file, checks, claims) is the pure `src/core/gateway_jwt.ts`, shared with
 * the edge (`edge.ts`), and re-exported here; this module adds reading the key file and the
 * conversion.
 *
 * @module
 */
import { type Reason, RewarderError } from "../../core/errors.ts";
import {
  EDGE_JWT_FILE_BYTES_MAX,
  type EdgeClaims,
  type EdgeJwtConfig,
  looksLikeJwt,
  parseEdgeJwtConfig,
  verifyEdgeJwt,
} from "../../core/gateway_jwt.ts";
import { FileReadError, readFileBounded } from "../files/read_file.ts";
import type { AuthContext } from "./auth_context.ts";
import type { RequestDescription } from "./authorize.ts";
import { SERVICE_AUDIENCE } from "./authorize.ts";
import type { Scope } from "./identifier.ts";
import { mintToken } from "./mint.ts";
import { formatRfc3339UtcS } from "./rfc3339.ts";
import { AUTH_HEADER_CHARS_MAX } from "./limits.ts";
import {
  macaroonVerifier,
  type MasterSecretSource,
  type Verifier,
  verifyToken,
} from "./verifier.ts";

export {
  EDGE_JWT_CHARS_MAX,
  EDGE_JWT_FILE_BYTES_MAX,
  EDGE_JWT_KEYS_MAX,
  EDGE_JWT_LIST_ITEMS_MAX,
  EDGE_JWT_SKEW_MS_MAX,
  EDGE_JWT_TTL_S_DEFAULT,
  EDGE_JWT_TTL_S_LIMIT,
  type EdgeClaims,
  type EdgeJwtAlg,
  type EdgeJwtConfig,
  type EdgeJwtKey,
  looksLikeJwt,
  onP256,
  parseEdgeJwtConfig,
  verifyEdgeJwt,
} from "../../core/gateway_jwt.ts";

/**
 * Scopes a converted token may ever carry: its v2 identifier grants `rewarder.inspect` only
 * (contract §9: the grant is in the identifier), so a gateway JWT can read, never compute
 * or quarantine. A key file whose `scopes_max` lists anything else is refused at load
 * (`EDGE_JWT_SCOPES` of src/core/gateway_jwt.ts, the same list).
 */
export const EDGE_JWT_SCOPES: readonly Scope[] = ["rewarder.inspect"];

function fail(what: string): never {
  throw new Error(`Cannot load edge JWT key file as ${what}`);
}

function unauthenticated(reason: Reason): RewarderError {
  return new RewarderError("UNAUTHENTICATED", reason); // never a cause: it could hold the token
}

/**
 * Reads and validates the key file through one handle (src/shell/files/read_file.ts: size and
 * mode from the same inode). Public keys need no secrecy, but they are trust anchors: a group-
 * or world-writable file is refused.
 */
export async function loadEdgeJwtConfig(path: string): Promise<EdgeJwtConfig> {
  let read: { bytes: Uint8Array; mode: number };
  try {
    read = await readFileBounded(path, { maxBytes: EDGE_JWT_FILE_BYTES_MAX });
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    if (err.problem === "too_large") fail("it is larger than 64 KiB");
    fail("it does not exist or is unreadable");
  }
  if ((read.mode & 0o022) !== 0) {
    fail(`its mode ${read.mode.toString(8)} is group- or world-writable`);
  }
  return await parseEdgeJwtConfig(new TextDecoder().decode(read.bytes));
}

// ---- conversion ----------------------------------------------------------------------------

/** The caps key ring as the converter needs it: mint under the current epoch, verify as usual. */
export interface MintingKeySource extends MasterSecretSource {
  currentEpoch(): number;
}

/** Options of {@link edgeJwtVerifier}. */
export interface EdgeJwtVerifierOptions {
  config: EdgeJwtConfig;
  keyRing: MintingKeySource;
  /** Verifier for everything that is not a Bearer JWT. Default: the macaroon verifier. */
  fallback?: Verifier;
  /** Identifier nonce (lowercase hex, 16 bytes random by default; injectable for tests). */
  nonceHex?: () => string;
  /** OPERATOR_TENANT for the fallback macaroon verifier (default `operator`). */
  operatorTenant?: string;
}

function randomNonceHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The caveats of the internal macaroon a verified JWT converts into. */
export function conversionCaveats(
  claims: EdgeClaims,
  config: EdgeJwtConfig,
  nowMs: number,
): string[] {
  const untilMs = Math.min(claims.expMs, nowMs + config.ttlSMax * 1000);
  return [
    `scope = ${claims.scopes.join(",")}`,
    `tenant = ${claims.tenant}`,
    `time < ${formatRfc3339UtcS(untilMs)}`,
    `aud = ${SERVICE_AUDIENCE}`,
  ];
}

/**
 * Converts a verified JWT into an internal macaroon (never leaves this function) and verifies
 * it through {@link verifyToken}, so the route's scope, tenant and time are checked by the
 * macaroon code. Throws 401 `jwt_expired` when the bounded expiry is already past (the
 * caveat is second-granular), 403 `scope` when no scope survives the intersection.
 */
export async function convertEdgeJwt(
  claims: EdgeClaims,
  req: RequestDescription,
  options: EdgeJwtVerifierOptions,
): Promise<AuthContext> {
  if (claims.scopes.length === 0) throw new RewarderError("UNAUTHORIZED", "scope");
  const untilMs = Math.min(claims.expMs, req.nowMs + options.config.ttlSMax * 1000);
  if (untilMs - (untilMs % 1000) <= req.nowMs) throw unauthenticated("jwt_expired");
  const keyEpoch = options.keyRing.currentEpoch();
  const masterSecret = await options.keyRing.masterSecretFor(keyEpoch);
  if (masterSecret === undefined) throw unauthenticated("key_epoch");
  const token = mintToken({
    masterSecret,
    tenant: claims.tenant,
    keyEpoch,
    scopes: EDGE_JWT_SCOPES,
    nonceHex: (options.nonceHex ?? randomNonceHex)(),
    caveats: conversionCaveats(claims, options.config, req.nowMs),
  });
  return await verifyToken(token, req, options.keyRing);
}

/**
 * The edge verifier: `Authorization: Bearer <JWT>` is verified and converted; anything else
 * (macaroons under either scheme) goes to `fallback`. Without this verifier in the chain (no
 * EDGE_JWT_KEYS) a JWT reaches the macaroon decoder and is 401 `token_malformed`.
 */
export function edgeJwtVerifier(options: EdgeJwtVerifierOptions): Verifier {
  const fallback = options.fallback ??
    macaroonVerifier(
      options.keyRing,
      options.operatorTenant === undefined ? {} : { operatorTenant: options.operatorTenant },
    );
  return async function verifyEdge(authorization, req) {
    if (authorization !== undefined && authorization.length <= AUTH_HEADER_CHARS_MAX) {
      const space = authorization.indexOf(" ");
      const scheme = space > 0 ? authorization.slice(0, space).toLowerCase() : "";
      const token = authorization.slice(space + 1);
      if (scheme === "bearer" && looksLikeJwt(token)) {
        const claims = await verifyEdgeJwt(token, options.config, req.nowMs);
        return await convertEdgeJwt(claims, req, options);
      }
    }
    return await fallback(authorization, req);
  };
}
