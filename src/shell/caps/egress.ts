/**
 * Egress tokens (contract §9, §7): the service never calls the ledger or an HTTP accounting
 * source with the operator's token as is; it attenuates it for the one call it makes.
 *
 * @module
 */
import { isCid } from "../../core/cid.ts";
import { TENANT_PATTERN } from "./identifier.ts";
import { attenuateToken } from "./mint.ts";
import { formatRfc3339UtcS } from "./rfc3339.ts";
import { EGRESS_TTL_MS_MAX } from "./limits.ts";

/** Options of {@link attenuateForLedger}. */
export interface LedgerEgressOptions {
  tenant: string;
  /** The run's key (`b3:` + 64 hex). */
  runKey: string;
  /** Now, epoch ms (injected). */
  nowMs: number;
  /** Lifetime, 1 ms .. 30 days (contract §9). */
  ttlMs: number;
}

function requireTenant(tenant: string): void {
  if (!TENANT_PATTERN.test(tenant)) {
    throw new TypeError("Cannot attenuate as the tenant is invalid");
  }
}

/**
 * Attenuates the operator-supplied ledger token for one intent: `tenant`, `scope =
 * ledger.intent.write`, `path ^= /intents`, `method = POST`, `aud = ron-ledger`,
 * `run_key`, `time <` now + ttl (rounded down to the second). Throws TypeError/RangeError
 * on bad options and RewarderError when the ledger token does not decode.
 */
export function attenuateForLedger(ledgerToken: string, options: LedgerEgressOptions): string {
  requireTenant(options.tenant);
  if (!isCid(options.runKey)) throw new TypeError("Cannot attenuate as the run key is invalid");
  if (
    !Number.isSafeInteger(options.ttlMs) || options.ttlMs < 1 || options.ttlMs > EGRESS_TTL_MS_MAX
  ) {
    throw new RangeError(
      `Cannot attenuate as ttlMs is ${options.ttlMs}: must be 1..${EGRESS_TTL_MS_MAX}`,
    );
  }
  return attenuateToken(ledgerToken.trim(), [
    `tenant = ${options.tenant}`,
    "scope = ledger.intent.write",
    "path ^= /intents",
    "method = POST",
    "aud = ron-ledger",
    `run_key = ${options.runKey}`,
    `time < ${formatRfc3339UtcS(options.nowMs + options.ttlMs)}`,
  ]);
}

/** Options of {@link attenuateForAccounting}. */
export interface AccountingEgressOptions {
  tenant: string;
  /** The snapshot CID being fetched. */
  cid: string;
  nowMs: number;
  /** Lifetime; default 5 minutes (one fetch), at most 30 days. */
  ttlMs?: number;
}

/** Default accounting-fetch token lifetime: a single fetch with retries fits in 5 minutes. */
export const ACCOUNTING_TTL_MS_DEFAULT = 5 * 60 * 1000;

/**
 * Attenuates a token for one accounting snapshot fetch: `tenant`, `scope =
 * accounting.snapshot.read`, `cid`, `method = GET`, `time <` now + ttl.
 */
export function attenuateForAccounting(token: string, options: AccountingEgressOptions): string {
  requireTenant(options.tenant);
  if (!isCid(options.cid)) throw new TypeError("Cannot attenuate as the CID is invalid");
  const ttlMs = options.ttlMs ?? ACCOUNTING_TTL_MS_DEFAULT;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > EGRESS_TTL_MS_MAX) {
    throw new RangeError(`Cannot attenuate as ttlMs is ${ttlMs}: must be 1..${EGRESS_TTL_MS_MAX}`);
  }
  return attenuateToken(token.trim(), [
    `tenant = ${options.tenant}`,
    "scope = accounting.snapshot.read",
    `cid = ${options.cid}`,
    "method = GET",
    `time < ${formatRfc3339UtcS(options.nowMs + ttlMs)}`,
  ]);
}
