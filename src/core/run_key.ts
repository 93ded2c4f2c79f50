/**
 * The idempotent run key (contract §5):
 * `b3:` + BLAKE3(UTF-8 of `salt + "|" + epoch_id + "|" + policy_hash + "|" + inputs_cid`).
 *
 * @module
 */
import { cidOf } from "./cid.ts";

/** Default IDEMPOTENCY_SALT; the pipe is literal. */
export const DEFAULT_IDEMPOTENCY_SALT = "svc-rewarder|v1";

/** The run key of (epoch, policy, inputs) under `salt`. */
export function runKeyOf(
  epochId: string,
  policyHash: string,
  inputsCid: string,
  salt: string = DEFAULT_IDEMPOTENCY_SALT,
): string {
  return cidOf(`${salt}|${epochId}|${policyHash}|${inputsCid}`);
}

/** Domain prefix of the intent key (contract §5). */
export const INTENT_KEY_DOMAIN = "svc-rewarder/intent-key/v1|";

/**
 * The intent key of a tenant's run (contract §5): the ledger's Idempotency-Key,
 * `b3:` + BLAKE3(UTF-8 of `"svc-rewarder/intent-key/v1|" + tenant + "|" + run_key`).
 *
 * @example
 * ```ts
 * const key = intentKeyOf({ tenant: "acme", runKey: "b3:" + "0".repeat(64) });
 * ```
 */
export function intentKeyOf(options: { tenant: string; runKey: string }): string {
  return cidOf(`${INTENT_KEY_DOMAIN}${options.tenant}|${options.runKey}`);
}
