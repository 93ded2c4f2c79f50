/**
 * The published keys document (contract §10 `GET /rewarder/keys`, §13 `keys.json`):
 * `{"keys":[{"kid","alg","public_key","use":"manifest","status":"active"|"retired"|"revoked"}]}`.
 * Pure: the service builds it from its key ring, the publisher writes it, and an edge reads
 * the copy pinned in its own configuration. An edge holds no secret (contract §9), so a
 * document carrying anything that looks like a private key is refused outright rather than
 * stripped: whoever put it there leaked it and must rotate.
 *
 * @module
 */
import { fromBase64Url, toBase64Url } from "./base64url.ts";
import { ED25519_KEY_BYTES } from "./ed25519.ts";
import { badRequest, type Result } from "./errors.ts";
import { KID_PATTERN } from "./ids.ts";
import type { VerifyKey } from "./seal.ts";
import { parseStrictJson } from "./strict_json.ts";

/** Most keys in one document (rotation keeps a handful; 256 bounds a hostile one). */
export const KEYS_DOCUMENT_KEYS_MAX = 256;
/** ML-DSA-65 public key length, bytes (FIPS 204 Table 2). */
export const ML_DSA_65_PUBLIC_KEY_BYTES = 1952;
/** Member names that hold private key material in our key files and in JWKs (RFC 7517 `d`). */
export const PRIVATE_KEY_MEMBERS: readonly string[] = ["private_key", "seed", "secret_key", "d"];

const ENTRY_MEMBERS = ["kid", "alg", "public_key", "use", "status"];
const STATUSES = ["active", "retired", "revoked"];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The path of the first private-key member of a keys document, or undefined. */
export function privateKeyMemberOf(doc: unknown): string | undefined {
  if (!isObject(doc)) return undefined;
  for (const name of PRIVATE_KEY_MEMBERS) if (Object.hasOwn(doc, name)) return name;
  if (!Array.isArray(doc.keys)) return undefined;
  for (const [i, entry] of doc.keys.entries()) {
    if (!isObject(entry)) continue;
    for (const name of PRIVATE_KEY_MEMBERS) {
      if (Object.hasOwn(entry, name)) return `keys[${i}].${name}`;
    }
  }
  return undefined;
}

function entryOf(entry: unknown, at: string): Result<VerifyKey> {
  const fault = (path: string): Result<VerifyKey> => ({
    ok: false,
    error: badRequest("schema", path),
  });
  if (!isObject(entry)) return fault(at);
  const unknown = Object.keys(entry).find((k) => !ENTRY_MEMBERS.includes(k));
  if (unknown !== undefined) return fault(at);
  const { kid, alg, public_key: publicKeyText, use, status } = entry;
  if (typeof kid !== "string" || !KID_PATTERN.test(kid)) return fault(`${at}.kid`);
  if (alg !== "ed25519" && alg !== "ml-dsa-65") return fault(`${at}.alg`);
  if (use !== undefined && use !== "manifest") return fault(`${at}.use`);
  if (status !== undefined && (typeof status !== "string" || !STATUSES.includes(status))) {
    return fault(`${at}.status`);
  }
  let publicKey: Uint8Array;
  try {
    if (typeof publicKeyText !== "string") return fault(`${at}.public_key`);
    publicKey = fromBase64Url(publicKeyText);
  } catch {
    return fault(`${at}.public_key`);
  }
  const bytes = alg === "ed25519" ? ED25519_KEY_BYTES : ML_DSA_65_PUBLIC_KEY_BYTES;
  if (publicKey.length !== bytes) return fault(`${at}.public_key`);
  return {
    ok: true,
    value: { kid, alg, publicKey, status: (status ?? "active") as VerifyKey["status"] },
  };
}

/**
 * Reads a keys document (bytes are parsed with the strict I-JSON reader, contract §1): exactly
 * `{"keys":[…]}`, each entry exactly the published members (`use`, `status` optional), public
 * keys of the algorithm's length, no kid listed twice for one algorithm, and no private key
 * member anywhere. Reasons: `json`; `schema` with the path of the first fault (a private key
 * member is named by its path, e.g. `keys[0].private_key`).
 *
 * @example
 * ```ts
 * const keys = parseKeysDocument(await Deno.readFile("keys.json"));
 * if (!keys.ok) throw keys.error;
 * ```
 */
export function parseKeysDocument(input: Uint8Array | unknown): Result<VerifyKey[]> {
  let doc = input;
  if (input instanceof Uint8Array) {
    const parsed = parseStrictJson(input);
    if (!parsed.ok) return { ok: false, error: badRequest("json") };
    doc = parsed.value;
  }
  const secret = privateKeyMemberOf(doc);
  if (secret !== undefined) return { ok: false, error: badRequest("schema", secret) };
  if (!isObject(doc) || Object.keys(doc).length !== 1 || !Array.isArray(doc.keys)) {
    return { ok: false, error: badRequest("schema", "") };
  }
  if (doc.keys.length > KEYS_DOCUMENT_KEYS_MAX) {
    return { ok: false, error: badRequest("schema", "keys") };
  }
  const keys: VerifyKey[] = [];
  for (const [i, entry] of doc.keys.entries()) {
    const key = entryOf(entry, `keys[${i}]`);
    if (!key.ok) return key;
    if (keys.some((k) => k.kid === key.value.kid && k.alg === key.value.alg)) {
      return { ok: false, error: badRequest("schema", `keys[${i}].kid`) };
    }
    keys.push(key.value);
  }
  return { ok: true, value: keys };
}

/**
 * The keys document of `keys` (contract §10), in the given order.
 *
 * @example
 * ```ts
 * canonicalJson(keysDocumentOf(signer.published())); // the bytes of keys.json
 * ```
 */
export function keysDocumentOf(keys: readonly VerifyKey[]): {
  keys: { kid: string; alg: string; public_key: string; use: "manifest"; status: string }[];
} {
  return {
    keys: keys.map((k) => ({
      kid: k.kid,
      alg: k.alg,
      public_key: toBase64Url(k.publicKey),
      use: "manifest",
      status: k.status,
    })),
  };
}
