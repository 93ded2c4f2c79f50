/**
 * Limits of the capability layer (contract §9), each with its reason. They are checked
 * before any cryptographic work so a hostile token costs at most a bounded parse.
 *
 * @module
 */

/** Longest accepted token text (base64url characters): 4 KiB keeps one header small. */
export const TOKEN_TEXT_CHARS_MAX = 4096;

/** Most caveats (first- and third-party) in one macaroon: bounds the HMAC chain length. */
export const CAVEATS_MAX = 64;

/** Longest caveat text in bytes: the longest legitimate one (an `ip` list) fits easily. */
export const CAVEAT_BYTES_MAX = 1024;

/** Longest `Authorization` header value we look at (scheme + space + token). */
export const AUTH_HEADER_CHARS_MAX = TOKEN_TEXT_CHARS_MAX + 16;

/** Entries in one list-valued caveat (`scope`, `method`, `ip`). */
export const CAVEAT_LIST_ITEMS_MAX = 32;

/** Longest caps key file in bytes: 1024 epochs of 32-byte secrets fit in well under this. */
export const KEY_FILE_BYTES_MAX = 64 * 1024;

/** Most key epochs in the caps key file. */
export const KEY_EPOCHS_MAX = 1024;

/** Largest key epoch / max_runs value: stays a safe integer and fits 9 digits. */
export const CAVEAT_INT_MAX = 999_999_999;

/** Key ring reload period: contract §9 / security §4 (revoked epochs die within 60 s). */
export const KEY_RELOAD_INTERVAL_MS_MAX = 60_000;

/** Longest egress token lifetime: contract §9 (`time <` at most 30 days out). */
export const EGRESS_TTL_MS_MAX = 30 * 24 * 3600 * 1000;

/** Entries the in-memory max_runs counter keeps before refusing new keys. */
export const MAX_RUNS_COUNTER_KEYS_MAX = 100_000;

/**
 * Verified tokens kept (src/shell/caps/verified_tokens.ts): one per live token of the tenants'
 * clients; 10,000 tokens of a typical 200–400 characters hold about 4 MiB.
 */
export const VERIFIED_TOKENS_ENTRIES_MAX = 10_000;

/**
 * Characters of token text kept by the verified tokens cache (its parsed caveats are
 * proportional): bounds its memory when tokens are long (up to {@link TOKEN_TEXT_CHARS_MAX}).
 */
export const VERIFIED_TOKENS_CHARS_MAX = 8 * 1024 * 1024;
