/**
 * Identifier grammars of contract §1. Patterns are anchored and bound the length, so a match
 * is the whole validation. None of the ids is `.` or `..` (§1): they name path segments.
 *
 * @module
 */
import { badRequest } from "./errors.ts";

/** `epoch_id`: 1..128 chars of `[A-Za-z0-9._:-]`. */
export const EPOCH_ID_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,128}$/;
/** `account`: 1..160 chars of `[A-Za-z0-9._:/-]`. */
export const ACCOUNT_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._:/-]{1,160}$/;
/** `policy_id`: 1..128 chars of `[A-Za-z0-9._:-]`. */
export const POLICY_ID_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,128}$/;
/** `kid`: 1..64 chars of `[A-Za-z0-9._-]`. */
export const KID_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/;
/** The `tenant` grammar (contract §1), unanchored, for patterns that embed it (§9 identifiers). */
export const TENANT_GRAMMAR = "[a-z0-9_-]{1,64}";
/** `tenant`: 1..64 chars of `[a-z0-9_-]`. */
export const TENANT_PATTERN: RegExp = new RegExp(`^${TENANT_GRAMMAR}$`);
/** Metric names (contract §2): `[a-z][a-z0-9_]{0,63}`. */
export const METRIC_PATTERN: RegExp = /^[a-z][a-z0-9_]{0,63}$/;
/** `asset`: 1..64 chars of `[A-Za-z0-9._:-]` (contract §1), e.g. `roc` or `ibc:uatom`. */
export const ASSET_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,64}$/;

/** An `epoch_id` checked against {@link EPOCH_ID_PATTERN}; on the wire the plain string. */
export type EpochId = string & { readonly __brand: "EpochId" };

/** True when `value` is a well-formed `epoch_id`. */
export function isEpochId(value: unknown): value is EpochId {
  return typeof value === "string" && EPOCH_ID_PATTERN.test(value);
}

/** `s` as an {@link EpochId}; a malformed one throws 400 `schema` at `path` (default `epoch_id`). */
export function asEpochId(s: string, path = "epoch_id"): EpochId {
  if (!isEpochId(s)) throw badRequest("schema", path);
  return s;
}
