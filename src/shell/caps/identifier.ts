/**
 * Macaroon identifiers and root keys (contract §9, v2).
 *
 * identifier: UTF-8 `v2:<tenant>:<key_epoch>:<scopes>:<nonce-hex>`, matching
 * `^v2:([a-z0-9_-]{1,64}):([1-9][0-9]{0,8}):(S(,S){0,2}):((?:[0-9a-f]{2}){8,32})$` with
 * `S = rewarder\.(run|inspect|quarantine)`, scopes distinct. The identifier carries the grant:
 * caveats only narrow it. `rewarder.quarantine` is valid only for the operator tenant.
 * root key: HMAC-SHA256(key = 32-byte master secret of the key epoch,
 * msg = `svc-rewarder/macaroon-root/v2|<tenant>|<key_epoch>`). The v2 label means a v1
 * replica (v1 label) cannot verify, hence cannot widen, a v2 token.
 *
 * @module
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { TENANT_GRAMMAR, TENANT_PATTERN } from "../../core/ids.ts";
import { CAVEAT_INT_MAX } from "./limits.ts";

export { TENANT_PATTERN };

/** The scopes a token can grant (contract §10). */
export const SCOPES = ["rewarder.run", "rewarder.inspect", "rewarder.quarantine"] as const;
/** One grantable scope. */
export type Scope = typeof SCOPES[number];

/** The scope only the operator tenant's identifiers may grant (contract §9). */
export const QUARANTINE_SCOPE: Scope = "rewarder.quarantine";
/** `OPERATOR_TENANT` when unset (contract §9). */
export const DEFAULT_OPERATOR_TENANT = "operator";

/** A parsed identifier. */
export interface TokenIdentifier {
  tenant: string;
  keyEpoch: number;
  /** The granted scopes, distinct, in identifier order. */
  scopes: readonly Scope[];
  /** Lowercase hex, 16..64 chars, even length. */
  nonceHex: string;
}

/** The whole identifier grammar of contract §9 (the module doc spells it out), on the tenant's. */
const IDENTIFIER_PATTERN = new RegExp(
  `^v2:(${TENANT_GRAMMAR}):([1-9][0-9]{0,8}):` +
    String
      .raw`(rewarder\.(?:run|inspect|quarantine)(?:,rewarder\.(?:run|inspect|quarantine)){0,2})` +
    ":((?:[0-9a-f]{2}){8,32})$",
);
const ROOT_KEY_CONTEXT = "svc-rewarder/macaroon-root/v2";
const encoder = new TextEncoder();

/** Options of {@link parseIdentifier}. */
export interface IdentifierOptions {
  /** The operator tenant (OPERATOR_TENANT); default {@link DEFAULT_OPERATOR_TENANT}. */
  operatorTenant?: string;
}

/**
 * Parses an identifier strictly; returns undefined when it is not exactly the v2 form
 * (v1 identifiers included), lists a scope twice, or grants `rewarder.quarantine` to a
 * tenant other than the operator tenant.
 */
export function parseIdentifier(
  text: string,
  options: IdentifierOptions = {},
): TokenIdentifier | undefined {
  const m = IDENTIFIER_PATTERN.exec(text);
  if (m === null) return undefined;
  const [, tenant, epoch, scopeList, nonceHex] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  const scopes = scopeList.split(",") as Scope[];
  if (new Set(scopes).size !== scopes.length) return undefined;
  const operator = options.operatorTenant ?? DEFAULT_OPERATOR_TENANT;
  if (scopes.includes(QUARANTINE_SCOPE) && tenant !== operator) return undefined;
  const keyEpoch = Number(epoch);
  if (keyEpoch > CAVEAT_INT_MAX) return undefined;
  return { tenant, keyEpoch, scopes, nonceHex };
}

/**
 * Formats an identifier; throws TypeError on values parseIdentifier would refuse under the
 * same options (so a non-operator tenant can never be minted `rewarder.quarantine`).
 */
export function formatIdentifier(id: TokenIdentifier, options: IdentifierOptions = {}): string {
  const text = `v2:${id.tenant}:${id.keyEpoch}:${id.scopes.join(",")}:${id.nonceHex}`;
  if (parseIdentifier(text, options) === undefined) {
    throw new TypeError(
      "Cannot format identifier as tenant, key epoch, scopes or nonce is invalid " +
        "(rewarder.quarantine is for the operator tenant only)",
    );
  }
  return text;
}

/** Derives the macaroon root key of (tenant, key epoch) from the epoch's master secret. */
export function deriveRootKey(
  masterSecret: Uint8Array,
  tenant: string,
  keyEpoch: number,
): Uint8Array {
  if (masterSecret.length !== 32) {
    throw new TypeError(
      `Cannot derive root key: master secret is ${masterSecret.length} bytes, not 32`,
    );
  }
  return hmac(sha256, masterSecret, encoder.encode(`${ROOT_KEY_CONTEXT}|${tenant}|${keyEpoch}`));
}
