/**
 * Identifier grammars of contract §1. Patterns are anchored and bound the length, so a match
 * is the whole validation. None of the ids is `.` or `..` (§1): they name path segments.
 *
 * @module
 */

/** `epoch_id`: 1..128 chars of `[A-Za-z0-9._:-]`. */
export const EPOCH_ID_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,128}$/;
/** `account`: 1..160 chars of `[A-Za-z0-9._:/-]`. */
export const ACCOUNT_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._:/-]{1,160}$/;
/** `policy_id`: 1..128 chars of `[A-Za-z0-9._:-]`. */
export const POLICY_ID_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,128}$/;
/** `kid`: 1..64 chars of `[A-Za-z0-9._-]`. */
export const KID_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/;
/** `tenant`: 1..64 chars of `[a-z0-9_-]`. */
export const TENANT_PATTERN: RegExp = /^[a-z0-9_-]{1,64}$/;
/** Metric names (contract §2): `[a-z][a-z0-9_]{0,63}`. */
export const METRIC_PATTERN: RegExp = /^[a-z][a-z0-9_]{0,63}$/;
/** `asset`: 1..64 chars of `[A-Za-z0-9._:-]` (contract §1), e.g. `roc` or `ibc:uatom`. */
export const ASSET_PATTERN: RegExp = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,64}$/;
