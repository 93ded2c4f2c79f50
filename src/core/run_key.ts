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
