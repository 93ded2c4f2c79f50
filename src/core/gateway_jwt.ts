/**
 * Gateway JWT verification with public keys only (contract §9: an edge holds no secret), pure:
 * no file system, no clock (`nowMs` is an argument), no minting. The key file format and the
 * order of checks are those of the service's edge JWT conversion (docs/EDGE-JWT.md), which
 * adds the conversion into a macaroon on top; the edge (`edge.ts`, contract §13) uses this
 * module alone: a verified JWT grants reading one tenant's publication, nothing more.
 *
 * Order of checks (each a 401 UNAUTHENTICATED with its own reason, all before the claims
 * are trusted): size `jwt_oversize` → structure `jwt_malformed` → header `jwt_header`
 * (`crit`, `typ`) → algorithm `jwt_alg` (only EdDSA/ES256 and the kid's own alg; `none` and
 * HS* never) → key `jwt_kid` → signature `jwt_signature` → claims `jwt_claims` →
 * `jwt_issuer` → `jwt_audience` → `jwt_expired` / `jwt_not_yet_valid` → tenant
 * `jwt_tenant_missing` / `jwt_tenant_malformed` → scope claim `jwt_scope`.
 *
 * Key file (public keys only, ≤ 64 KiB; a JWK holding `d` is refused):
 * `{"issuer":"https://gw.example","audience":"svc-rewarder","keys":[{"kid":"gw-1",
 * "alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"…"}}],
 * "scopes_max":["rewarder.inspect"],"tenant_claim":"tenant","ttl_s_max":300}`.
 *
 * @module
 */
import { fromBase64Url } from "./base64url.ts";
import { verifyEd25519 } from "./ed25519.ts";
import { type Reason, RewarderError } from "./errors.ts";
import { TENANT_PATTERN } from "./ids.ts";
import { strictJsonProblem } from "./strict_json.ts";

/** Longest accepted JWT text (chars): the 4 KiB bound of a macaroon's text. */
export const EDGE_JWT_CHARS_MAX = 4096;
/** Longest edge JWT key file (bytes): 16 keys with their JWKs fit in a fraction of it. */
export const EDGE_JWT_FILE_BYTES_MAX = 64 * 1024;
/** Most keys in the edge JWT key file (rotation overlap needs two or three). */
export const EDGE_JWT_KEYS_MAX = 16;
/** Clock skew tolerated for `nbf` and `iat` (ms): the gateway's clock may run ahead this much. */
export const EDGE_JWT_SKEW_MS_MAX = 30_000;
/** Largest `ttl_s_max` accepted (s): a converted token lives at most 15 minutes. */
export const EDGE_JWT_TTL_S_LIMIT = 900;
/** `ttl_s_max` when the key file omits it (s). */
export const EDGE_JWT_TTL_S_DEFAULT = 300;
/** Most entries in an `aud` array or a `scope` claim. */
export const EDGE_JWT_LIST_ITEMS_MAX = 32;
/** Largest `exp`/`nbf`/`iat` accepted (s since 1970): year 2255, keeps ms a safe integer. */
const NUMERIC_DATE_S_MAX = 2 ** 33;

/**
 * Scopes a verified JWT may ever grant: reading (`rewarder.inspect`), never compute or
 * quarantine. A key file whose `scopes_max` lists anything else is refused at load.
 */
export const EDGE_JWT_SCOPES: readonly string[] = ["rewarder.inspect"];

/** Accepted signature algorithms (RFC 8037 EdDSA over Ed25519; RFC 7518 ES256). */
export type EdgeJwtAlg = "EdDSA" | "ES256";

/** One trusted gateway key. */
export interface EdgeJwtKey {
  kid: string;
  alg: EdgeJwtAlg;
  /** Verifies a JWS signature over the signing input. Never throws. */
  verify(signingInput: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** The validated edge JWT key file. */
export interface EdgeJwtConfig {
  /** Exact `iss` required. */
  issuer: string;
  /** `aud` must be, or contain, this. */
  audience: string;
  keys: ReadonlyMap<string, EdgeJwtKey>;
  /** The most a converted token may carry; its scopes are claim ∩ this. */
  scopesMax: readonly string[];
  /** Claim holding the tenant (contract §1 syntax). */
  tenantClaim: string;
  /** Longest life of a converted token (s), whatever the JWT's `exp`. */
  ttlSMax: number;
}

/** What an accepted JWT grants, before conversion. */
export interface EdgeClaims {
  tenant: string;
  /** claim scopes ∩ scopes_max, in scopes_max order (may be empty). */
  scopes: string[];
  /** The JWT's `exp` in epoch ms. */
  expMs: number;
  /** The key that signed it (safe to log). */
  kid: string;
}

// ---- key file ------------------------------------------------------------------------------

const KID = /^[\x21-\x7e]{1,128}$/;
const PRINTABLE = /^[\x20-\x7e]{1,256}$/;
const CLAIM_NAME = /^[a-z][a-z0-9_]{0,31}$/;
/** Registered (RFC 7519 §4.1) and structural claim names a tenant claim may not reuse. */
const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  "iss",
  "sub",
  "aud",
  "exp",
  "nbf",
  "iat",
  "jti",
  "scope",
]);
const B64URL = /^[A-Za-z0-9_-]+$/;

function fail(what: string): never {
  throw new Error(`Cannot load edge JWT key file as ${what}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function exactKeys(o: Record<string, unknown>, required: string[], optional: string[]): boolean {
  const allowed = new Set([...required, ...optional]);
  return required.every((k) => k in o) && Object.keys(o).every((k) => allowed.has(k));
}

function coordinate(v: unknown, what: string): Uint8Array {
  if (typeof v !== "string" || !B64URL.test(v)) fail(`${what} is not base64url`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(v);
  } catch {
    fail(`${what} is not canonical base64url`);
  }
  if (bytes.length !== 32) fail(`${what} is not 32 bytes`);
  return bytes;
}

/** NIST P-256 (SEC 2 §2.4.2): field prime and curve constant b (a = -3). */
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P256_B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function bigOf(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/**
 * True when (x, y) is an affine point of P-256: y² = x³ − 3x + b (mod p), coordinates < p.
 * Checked here because not every runtime's `importKey("raw")` refuses off-curve points.
 */
export function onP256(x: Uint8Array, y: Uint8Array): boolean {
  const X = bigOf(x);
  const Y = bigOf(y);
  if (X >= P256_P || Y >= P256_P) return false;
  const rhs = (((X * X % P256_P) * X - 3n * X + P256_B) % P256_P + P256_P) % P256_P;
  return (Y * Y) % P256_P === rhs;
}

async function importKey(entry: unknown, index: number): Promise<EdgeJwtKey> {
  const at = `keys[${index}]`;
  if (!isPlainObject(entry) || !exactKeys(entry, ["kid", "alg", "jwk"], [])) {
    fail(`${at} is not exactly {kid, alg, jwk}`);
  }
  const { kid, alg, jwk } = entry;
  if (typeof kid !== "string" || !KID.test(kid)) fail(`${at}.kid is not 1..128 printable chars`);
  if (!isPlainObject(jwk)) fail(`${at}.jwk is not an object`);
  if ("d" in jwk) fail(`${at}.jwk holds a private key ("d"): public keys only`);
  // `use` and `key_ops` are tolerated only with their signature-verification values.
  if ("use" in jwk && jwk.use !== "sig") fail(`${at}.jwk.use is not "sig"`);
  if ("alg" in jwk && jwk.alg !== alg) fail(`${at}.jwk.alg differs from ${at}.alg`);
  if ("kid" in jwk && jwk.kid !== kid) fail(`${at}.jwk.kid differs from ${at}.kid`);
  if (alg === "EdDSA") {
    if (!exactKeys(jwk, ["kty", "crv", "x"], ["use", "alg", "kid"])) {
      fail(`${at}.jwk has keys other than kty, crv, x (use, alg, kid)`);
    }
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519") fail(`${at}.jwk is not an OKP Ed25519 key`);
    const publicKey = coordinate(jwk.x, `${at}.jwk.x`);
    return {
      kid,
      alg,
      verify: (input, signature) => Promise.resolve(verifyEd25519(publicKey, input, signature)),
    };
  }
  if (alg === "ES256") {
    if (!exactKeys(jwk, ["kty", "crv", "x", "y"], ["use", "alg", "kid"])) {
      fail(`${at}.jwk has keys other than kty, crv, x, y (use, alg, kid)`);
    }
    if (jwk.kty !== "EC" || jwk.crv !== "P-256") fail(`${at}.jwk is not an EC P-256 key`);
    const x = coordinate(jwk.x, `${at}.jwk.x`);
    const y = coordinate(jwk.y, `${at}.jwk.y`);
    if (!onP256(x, y)) fail(`${at}.jwk is not a valid P-256 public key (off the curve)`);
    let key: CryptoKey;
    try {
      // Raw uncompressed point: WebCrypto checks it is on the curve.
      const point = new Uint8Array(65);
      point[0] = 4;
      point.set(x, 1);
      point.set(y, 33);
      key = await crypto.subtle.importKey(
        "raw",
        point,
        { name: "ECDSA", namedCurve: "P-256" },
        false,
        ["verify"],
      );
    } catch {
      fail(`${at}.jwk is not a valid P-256 public key`);
    }
    return {
      kid,
      alg,
      async verify(input, signature) {
        if (signature.length !== 64) return false; // JWS ES256: raw r||s, 32 bytes each
        try {
          return await crypto.subtle.verify(
            { name: "ECDSA", hash: "SHA-256" },
            key,
            new Uint8Array(signature),
            new Uint8Array(input),
          );
        } catch {
          return false;
        }
      },
    };
  }
  return fail(`${at}.alg is not EdDSA or ES256`);
}

/** Validates key file text and imports its keys; throws Error naming the rule broken. */
export async function parseEdgeJwtConfig(text: string): Promise<EdgeJwtConfig> {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > EDGE_JWT_FILE_BYTES_MAX) fail("it is larger than 64 KiB");
  if (strictJsonProblem(bytes) !== null) fail("it is not strict JSON (duplicate keys?)");
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    fail("it is not JSON");
  }
  if (!isPlainObject(doc)) fail("it is not an object");
  if (
    !exactKeys(doc, ["issuer", "audience", "keys", "scopes_max"], ["tenant_claim", "ttl_s_max"])
  ) {
    fail("its keys are not issuer, audience, keys, scopes_max (tenant_claim, ttl_s_max)");
  }
  const { issuer, audience, keys, scopes_max: scopesMax } = doc;
  if (typeof issuer !== "string" || !PRINTABLE.test(issuer)) {
    fail("issuer is not 1..256 printable chars");
  }
  if (typeof audience !== "string" || !PRINTABLE.test(audience)) {
    fail("audience is not 1..256 printable chars");
  }
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > EDGE_JWT_KEYS_MAX) {
    fail(`keys is not an array of 1..${EDGE_JWT_KEYS_MAX} entries`);
  }
  const byKid = new Map<string, EdgeJwtKey>();
  for (const [i, entry] of keys.entries()) {
    const key = await importKey(entry, i);
    if (byKid.has(key.kid)) fail(`keys lists kid ${JSON.stringify(key.kid)} twice`);
    byKid.set(key.kid, key);
  }
  if (!Array.isArray(scopesMax) || scopesMax.length === 0) {
    fail("scopes_max is not a non-empty array");
  }
  const scopes: string[] = [];
  for (const s of scopesMax) {
    if (typeof s !== "string" || !(EDGE_JWT_SCOPES as readonly string[]).includes(s)) {
      fail(`scopes_max has an entry outside ${EDGE_JWT_SCOPES.join(", ")}`);
    }
    if (scopes.includes(s)) fail("scopes_max lists a scope twice");
    scopes.push(s);
  }
  const tenantClaim = doc.tenant_claim ?? "tenant";
  if (
    typeof tenantClaim !== "string" || !CLAIM_NAME.test(tenantClaim) ||
    RESERVED_CLAIMS.has(tenantClaim)
  ) {
    fail("tenant_claim is not a lowercase claim name outside the registered ones");
  }
  const ttl = doc.ttl_s_max ?? EDGE_JWT_TTL_S_DEFAULT;
  if (!Number.isSafeInteger(ttl) || (ttl as number) < 1 || (ttl as number) > EDGE_JWT_TTL_S_LIMIT) {
    fail(`ttl_s_max is not an integer in 1..${EDGE_JWT_TTL_S_LIMIT}`);
  }
  return {
    issuer,
    audience,
    keys: byKid,
    scopesMax: scopes,
    tenantClaim,
    ttlSMax: ttl as number,
  };
}

/**
 * Reads and validates the key file through one handle (size and mode from the same inode).
 * Public keys need no secrecy, but they are trust anchors: a group- or world-writable file
 * is refused.
 */
// ---- JWT verification ----------------------------------------------------------------------

const utf8 = new TextDecoder("utf-8", { fatal: true });
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const SCOPE_ITEM = /^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/; // RFC 6749 §3.3 scope-token
const TYP_ACCEPTED: ReadonlySet<string> = new Set(["jwt", "at+jwt", "application/at+jwt"]);

function unauthenticated(reason: Reason): RewarderError {
  return new RewarderError("UNAUTHENTICATED", reason); // never a cause: it could hold the token
}

/** True when `token` has the compact JWS shape (macaroon base64url never contains `.`). */
export function looksLikeJwt(token: string): boolean {
  return token.includes(".");
}

function segmentJson(segment: string): Record<string, unknown> {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(segment);
  } catch {
    throw unauthenticated("jwt_malformed");
  }
  if (strictJsonProblem(bytes) !== null) throw unauthenticated("jwt_malformed");
  let v: unknown;
  try {
    v = JSON.parse(utf8.decode(bytes));
  } catch {
    throw unauthenticated("jwt_malformed");
  }
  if (!isPlainObject(v)) throw unauthenticated("jwt_malformed");
  return v;
}

function numericDateMs(v: unknown): number | undefined {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > NUMERIC_DATE_S_MAX) {
    return undefined;
  }
  return Math.floor(v * 1000);
}

/**
 * Verifies a compact JWS JWT against the key file at `nowMs` and returns what it grants.
 * Throws RewarderError 401 with the reasons of the module doc.
 */
export async function verifyEdgeJwt(
  jwt: string,
  config: EdgeJwtConfig,
  nowMs: number,
): Promise<EdgeClaims> {
  if (jwt.length > EDGE_JWT_CHARS_MAX) throw unauthenticated("jwt_oversize");
  if (!JWT_SHAPE.test(jwt)) throw unauthenticated("jwt_malformed");
  const [h, p, s] = jwt.split(".") as [string, string, string];
  const header = segmentJson(h);
  // We understand no JWS extension, so any `crit` must be refused (RFC 7515 §4.1.11).
  if ("crit" in header) throw unauthenticated("jwt_header");
  if ("typ" in header) {
    if (typeof header.typ !== "string" || !TYP_ACCEPTED.has(header.typ.toLowerCase())) {
      throw unauthenticated("jwt_header");
    }
  }
  const alg = header.alg;
  if (alg !== "EdDSA" && alg !== "ES256") throw unauthenticated("jwt_alg"); // none, HS*, RS*…
  if (typeof header.kid !== "string") throw unauthenticated("jwt_kid");
  const key = config.keys.get(header.kid);
  if (key === undefined) throw unauthenticated("jwt_kid");
  if (key.alg !== alg) throw unauthenticated("jwt_alg"); // the key decides, never the token
  let signature: Uint8Array;
  try {
    signature = fromBase64Url(s);
  } catch {
    throw unauthenticated("jwt_malformed");
  }
  const signingInput = new TextEncoder().encode(`${h}.${p}`);
  if (!(await key.verify(signingInput, signature))) throw unauthenticated("jwt_signature");

  const claims = segmentJson(p);
  const expMs = numericDateMs(claims.exp);
  if (expMs === undefined) throw unauthenticated("jwt_claims"); // exp is required
  const nbfMs = "nbf" in claims ? numericDateMs(claims.nbf) : 0;
  const iatMs = "iat" in claims ? numericDateMs(claims.iat) : 0;
  if (nbfMs === undefined || iatMs === undefined) throw unauthenticated("jwt_claims");
  if (claims.iss !== config.issuer) throw unauthenticated("jwt_issuer");
  const aud = claims.aud;
  const audOk = typeof aud === "string"
    ? aud === config.audience
    : Array.isArray(aud) && aud.length <= EDGE_JWT_LIST_ITEMS_MAX &&
      aud.every((a) => typeof a === "string") && aud.includes(config.audience);
  if (!audOk) throw unauthenticated("jwt_audience");
  // exp: no leeway (the converted token must still have a future `time <`); nbf/iat: skew.
  if (expMs <= nowMs) throw unauthenticated("jwt_expired");
  if (nbfMs > nowMs + EDGE_JWT_SKEW_MS_MAX || iatMs > nowMs + EDGE_JWT_SKEW_MS_MAX) {
    throw unauthenticated("jwt_not_yet_valid");
  }
  if (!(config.tenantClaim in claims)) throw unauthenticated("jwt_tenant_missing");
  const tenant = claims[config.tenantClaim];
  if (typeof tenant !== "string" || !TENANT_PATTERN.test(tenant)) {
    throw unauthenticated("jwt_tenant_malformed");
  }
  // RFC 9068 §2.2.3: `scope` is a space-separated string of scope-tokens.
  const scope = claims.scope;
  if (typeof scope !== "string") throw unauthenticated("jwt_scope");
  const items = scope.split(" ");
  if (items.length > EDGE_JWT_LIST_ITEMS_MAX || !items.every((i) => SCOPE_ITEM.test(i))) {
    throw unauthenticated("jwt_scope");
  }
  return {
    tenant,
    scopes: config.scopesMax.filter((sc) => items.includes(sc)),
    expMs,
    kid: key.kid,
  };
}
