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

/** Options of {@link attenuateForLedger}: the members of one queued intent, and its tenant. */
export interface LedgerEgressOptions {
  tenant: string;
  /**
   * The request path of the intents route, `<path of LEDGER_URL>/intents`
   * (`ledgerIntentsPathOf` in ledger/http_ledger_target.ts).
   */
  intentsPath: string;
  /** The run's key (`b3:` + 64 hex). */
  runKey: string;
  /** The intent key of a v2 intent; null for a v1 intent (it has none, contract §7). */
  intentKey: string | null;
  /** The manifest hash the intent carries. */
  manifestHash: string;
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

/** A request path fit for a caveat: `/`-rooted, visible ASCII (no space: caveats split on it). */
const INTENTS_PATH_RE = /^(?:\/[!-~]*)?\/intents$/;

/**
 * Attenuates the operator-supplied ledger token for one intent (contract §9, last paragraph),
 * in this order: `tenant`, `scope = ledger.intent.write`, `path ^= <intentsPath>`,
 * `method = POST`, `aud = ron-ledger`, `run_key`, `intent_key` (v2 intents only),
 * `manifest_hash`, `time <` now + ttl (rounded down to the second). Each value equals the
 * intent body's member of that name, so the ledger can hold the token to that one intent.
 * Throws TypeError/RangeError on bad options and RewarderError when the ledger token does not
 * decode.
 *
 * @example
 * ```ts
 * const q = queuedIntentOf(intent);
 * attenuateForLedger(token, {
 *   tenant: "acme", intentsPath: "/intents", runKey: q.runKey, intentKey: q.intentKey,
 *   manifestHash: q.manifestHash, nowMs: Date.now(), ttlMs: 86_400_000,
 * });
 * ```
 */
export function attenuateForLedger(ledgerToken: string, options: LedgerEgressOptions): string {
  requireTenant(options.tenant);
  if (!isCid(options.runKey)) throw new TypeError("Cannot attenuate as the run key is invalid");
  if (options.intentKey !== null && !isCid(options.intentKey)) {
    throw new TypeError("Cannot attenuate as the intent key is invalid");
  }
  if (!isCid(options.manifestHash)) {
    throw new TypeError("Cannot attenuate as the manifest hash is invalid");
  }
  if (!INTENTS_PATH_RE.test(options.intentsPath)) {
    throw new TypeError("Cannot attenuate as the intents path is invalid");
  }
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
    `path ^= ${options.intentsPath}`,
    "method = POST",
    "aud = ron-ledger",
    `run_key = ${options.runKey}`,
    ...(options.intentKey === null ? [] : [`intent_key = ${options.intentKey}`]),
    `manifest_hash = ${options.manifestHash}`,
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
