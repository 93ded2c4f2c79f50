/**
 * Macaroon identifiers and root keys (contract §9).
 *
 * identifier: UTF-8 `v1:<tenant>:<key_epoch>:<nonce-hex>`; root key:
 * HMAC-SHA256(key = 32-byte master secret of the epoch,
 * msg = `svc-rewarder/macaroon-root/v1|<tenant>|<key_epoch>`).
 *
 * @module
 */
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { CAVEAT_INT_MAX } from "./limits.ts";

/** A parsed identifier. */
export interface TokenIdentifier {
  tenant: string;
  keyEpoch: number;
  /** Lowercase hex, 16..64 chars, even length. */
  nonceHex: string;
}

/** Tenant syntax (contract §1). */
export const TENANT_PATTERN = /^[a-z0-9_-]{1,64}$/;
/** Key epoch: canonical decimal ≥ 1 (no leading zeros, no sign), ≤ 9 digits. */
const EPOCH_PATTERN = /^[1-9][0-9]{0,8}$/;
/**
 * Nonce: lowercase hex of 8..32 bytes. At least 64 bits so two mints never share an
 * identifier (max_runs counters are keyed by it); our CLI uses 16 bytes.
 */
const NONCE_PATTERN = /^(?:[0-9a-f]{2}){8,32}$/;
const ROOT_KEY_CONTEXT = "svc-rewarder/macaroon-root/v1";
const encoder = new TextEncoder();

/** Parses an identifier strictly; returns undefined when it is not exactly the v1 form. */
export function parseIdentifier(text: string): TokenIdentifier | undefined {
  const parts = text.split(":");
  if (parts.length !== 4 || parts[0] !== "v1") return undefined;
  const [, tenant, epoch, nonceHex] = parts as [string, string, string, string];
  if (!TENANT_PATTERN.test(tenant) || !EPOCH_PATTERN.test(epoch)) return undefined;
  if (!NONCE_PATTERN.test(nonceHex)) return undefined;
  const keyEpoch = Number(epoch);
  if (keyEpoch > CAVEAT_INT_MAX) return undefined;
  return { tenant, keyEpoch, nonceHex };
}

/** Formats an identifier; throws TypeError on values parseIdentifier would refuse. */
export function formatIdentifier(id: TokenIdentifier): string {
  const text = `v1:${id.tenant}:${id.keyEpoch}:${id.nonceHex}`;
  if (parseIdentifier(text) === undefined) {
    throw new TypeError("Cannot format identifier: tenant, key epoch or nonce is invalid");
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
