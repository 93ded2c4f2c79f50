/**
 * The idempotent run key (contract §5):
 * `b3:` + BLAKE3(UTF-8 of `salt + "|" + epoch_id + "|" + policy_hash + "|" + inputs_cid`),
 * and the intent key derived from it.
 *
 * @module
 */
import { asCid, type Cid, cidOf } from "./cid.ts";
import type { EpochId } from "./ids.ts";

/** Default IDEMPOTENCY_SALT; the pipe is literal. The one definition (the configuration's default). */
export const DEFAULT_IDEMPOTENCY_SALT = "svc-rewarder|v1";

/** A run key (contract §5): a {@link Cid} that is not interchangeable with other CIDs. */
export type RunKey = Cid & { readonly __kind: "RunKey" };

/** An intent key (contract §5): the ledger's Idempotency-Key. */
export type IntentKey = Cid & { readonly __kind: "IntentKey" };

/** `s` as a {@link RunKey} (a stored or received one); malformed throws 400 `schema` at `path`. */
export function asRunKey(s: string, path = "run_key"): RunKey {
  return asCid(s, path) as RunKey;
}

/** `s` as an {@link IntentKey}; malformed throws 400 `schema` at `path`. */
export function asIntentKey(s: string, path = "intent_key"): IntentKey {
  return asCid(s, path) as IntentKey;
}

/** What a run key is made of; named, so two swapped CIDs do not compile. */
export interface RunKeyParts {
  epochId: EpochId;
  policyHash: Cid;
  inputsCid: Cid;
  /** IDEMPOTENCY_SALT; default {@link DEFAULT_IDEMPOTENCY_SALT}. */
  salt?: string;
}

/** The run key of (epoch, policy, inputs) under `salt`. */
export function runKeyOf(parts: RunKeyParts): RunKey {
  const salt = parts.salt ?? DEFAULT_IDEMPOTENCY_SALT;
  return cidOf(`${salt}|${parts.epochId}|${parts.policyHash}|${parts.inputsCid}`) as RunKey;
}

/** Domain prefix of the intent key (contract §5). */
export const INTENT_KEY_DOMAIN = "svc-rewarder/intent-key/v1|";

/**
 * The intent key of a tenant's run (contract §5): the ledger's Idempotency-Key,
 * `b3:` + BLAKE3(UTF-8 of `"svc-rewarder/intent-key/v1|" + tenant + "|" + run_key`).
 */
export function intentKeyOf(options: { tenant: string; runKey: string }): IntentKey {
  return cidOf(`${INTENT_KEY_DOMAIN}${options.tenant}|${options.runKey}`) as IntentKey;
}
