/**
 * Limits of the pure core, each with its reason. Service-level caps (body size, rates,
 * timeouts) live in the shell's config module; these are the format limits of the contract.
 *
 * @module
 */

/** Largest money value and largest sum: i128 (contract §1, §4.9). */
export const I128_MAX: bigint = (1n << 127n) - 1n;

/** Largest JSON integer allowed in hashed documents and compat counters (contract §1, §2). */
export const JSON_INT_MAX: number = Number.MAX_SAFE_INTEGER;

/** Score terms per policy (contract §3). */
export const SCORE_TERMS_MAX = 32;

/** Metrics per native inputs entry: bounded so one entry cannot cost unbounded work. */
export const METRICS_PER_ENTRY_MAX = 64;

/** Entries per inputs document: 1M recipients is the largest epoch we benchmark and support. */
export const ENTRIES_MAX = 2_000_000;

/** Basis points denominator for fees (contract §4.2). */
export const BPS_DENOMINATOR = 10_000n;

/** Compute request `notes` length in UTF-16 code units (contract §10). */
export const NOTES_CHARS_MAX = 1024;

/** Water-filling rounds: each round caps ≥ 1 more entry, so it ends within the entry count. */
export const WATERFILL_ROUNDS_MAX = ENTRIES_MAX + 1;
