/**
 * Token text ⇄ macaroon (contract §9): `Authorization: Macaroon <b64url>` or `Bearer <b64url>`,
 * the token being a libmacaroons V2 binary macaroon in base64url **without padding**.
 * Padded or standard-alphabet base64 is refused (401): one byte string, one accepted text.
 * Size limits are enforced here, before any HMAC is computed. Third-party caveats and
 * discharges are decoded, then refused by the verifier (403, contract §9).
 *
 * @module
 */
import { type Reason, RewarderError } from "../../core/errors.ts";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import {
  decodeMacaroonsV2,
  decodeMacaroonV2,
  encodeMacaroonV2,
  type Macaroon,
} from "./macaroon_v2.ts";
import { AUTH_HEADER_CHARS_MAX, CAVEATS_MAX, TOKEN_TEXT_CHARS_MAX } from "./limits.ts";

const SCHEMES: ReadonlySet<string> = new Set(["macaroon", "bearer"]);

function unauthenticated(reason: Reason, cause?: unknown): RewarderError {
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

function tokenBytes(text: string): Uint8Array {
  if (text.length > TOKEN_TEXT_CHARS_MAX) throw unauthenticated("token_oversize");
  try {
    return fromBase64Url(text);
  } catch (err) {
    throw unauthenticated("token_malformed", err);
  }
}

function decodeFailure(err: unknown): RewarderError {
  return unauthenticated(err instanceof RangeError ? "too_many_caveats" : "token_malformed", err);
}

/**
 * Decodes token text into one macaroon, enforcing the size limits first. Third-party
 * caveats are decoded (the verifier refuses them once the signature is known good).
 * Errors: 401 `token_oversize`, `too_many_caveats`, `token_malformed`.
 */
export function decodeToken(text: string): Macaroon {
  const bytes = tokenBytes(text);
  try {
    return decodeMacaroonV2(bytes, CAVEATS_MAX);
  } catch (err) {
    throw decodeFailure(err);
  }
}

/** A token as presented: the macaroon and how many discharge macaroons followed it. */
export interface TokenBundle {
  token: Macaroon;
  discharges: number;
}

/**
 * Decodes token text that may carry discharge macaroons after the token (concatenated V2
 * binary). The verifier refuses any discharge with 403 (contract §9) after checking the
 * token's own signature. Errors as {@link decodeToken}.
 */
export function decodeTokenBundle(text: string): TokenBundle {
  const bytes = tokenBytes(text);
  let all: Macaroon[];
  try {
    all = decodeMacaroonsV2(bytes, CAVEATS_MAX);
  } catch (err) {
    throw decodeFailure(err);
  }
  return { token: all[0]!, discharges: all.length - 1 };
}

/** Encodes a macaroon as V2 binary base64url without padding. */
export function encodeToken(m: Macaroon): string {
  return toBase64Url(encodeMacaroonV2(m));
}
