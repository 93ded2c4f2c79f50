/**
 * Token text ⇄ macaroon (contract §9): `Authorization: Macaroon <b64url>` or `Bearer <b64url>`,
 * the token being a libmacaroons V2 binary macaroon in base64url **without padding**.
 * Padded or standard-alphabet base64 is refused (401): one byte string, one accepted text.
 * Size limits are enforced here, before any HMAC is computed.
 *
 * @module
 */
import { RewarderError } from "../../core/errors.ts";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { decodeMacaroonV2, encodeMacaroonV2, type Macaroon } from "./macaroon_v2.ts";
import { AUTH_HEADER_CHARS_MAX, CAVEATS_MAX, TOKEN_TEXT_CHARS_MAX } from "./limits.ts";

const SCHEMES: ReadonlySet<string> = new Set(["macaroon", "bearer"]);

function unauthenticated(reason: string, cause?: unknown): RewarderError {
  return new RewarderError("UNAUTHENTICATED", reason, cause === undefined ? {} : { cause });
}

/**
 * Takes the token text out of an `Authorization` header value.
 * Errors: 401 `token_missing` (absent/empty), `token_oversize`, `token_malformed`.
 */
export function tokenFromAuthorization(header: string | null | undefined): string {
  if (header === null || header === undefined || header === "") {
    throw unauthenticated("token_missing");
  }
  if (header.length > AUTH_HEADER_CHARS_MAX) throw unauthenticated("token_oversize");
  const space = header.indexOf(" ");
  if (space <= 0) throw unauthenticated("token_malformed");
  const scheme = header.slice(0, space).toLowerCase(); // RFC 9110: schemes are case-insensitive
  if (!SCHEMES.has(scheme)) throw unauthenticated("token_malformed");
  const token = header.slice(space + 1);
  if (token.length === 0) throw unauthenticated("token_missing");
  return token;
}

/**
 * Decodes token text into a macaroon, enforcing the size limits first.
 * Refuses third-party caveats (no discharge support: a token that needs one fails closed).
 * Errors: 401 `token_oversize`, `too_many_caveats`, `token_malformed`, `third_party_caveat`.
 */
export function decodeToken(text: string): Macaroon {
  if (text.length > TOKEN_TEXT_CHARS_MAX) throw unauthenticated("token_oversize");
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text);
  } catch (err) {
    throw unauthenticated("token_malformed", err);
  }
  let m: Macaroon;
  try {
    m = decodeMacaroonV2(bytes, CAVEATS_MAX);
  } catch (err) {
    throw unauthenticated(err instanceof RangeError ? "too_many_caveats" : "token_malformed", err);
  }
  if (m.caveats.some((c) => c.vid !== undefined)) {
    throw unauthenticated("third_party_caveat");
  }
  return m;
}

/** Encodes a macaroon as V2 binary base64url without padding. */
export function encodeToken(m: Macaroon): string {
  return toBase64Url(encodeMacaroonV2(m));
}
