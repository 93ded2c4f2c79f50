/**
 * Upper bounds of the request admission caps (body size, inflation, deadline, in-flight
 * requests), accepted at wiring time. The configuration table (src/shell/config/config.ts) bounds
 * its variables by them and the middleware that enforce the caps refuse anything above them,
 * so a value the configuration accepts never fails at wiring.
 *
 * @module
 */

/** Largest cap accepted at wiring time: the post-inflate cap's default, 8 MiB. */
export const BODY_BYTES_MAX_LIMIT = 8 * 1024 * 1024;

/** Upper bound of the inflate cap accepted at wiring time, bytes (64 MiB). */
export const INFLATED_BYTES_MAX_LIMIT = 64 * 1024 * 1024;
/** Upper bound of the ratio cap accepted at wiring time. */
export const RATIO_MAX_LIMIT = 1_000;

/** Largest deadline accepted at wiring time, ms (10 minutes). */
export const TIMEOUT_MS_LIMIT = 600_000;

/** Largest in-flight cap accepted at wiring time. */
export const INFLIGHT_MAX_LIMIT = 1_000_000;

/**
 * Bytes one request may hold before it is authenticated: one read chunk, 64 KiB. Nothing
 * reads a body before authentication (docs/ARCHITECTURE.md, "Order of the middleware"); what a
 * request can hold meanwhile is what the runtime read with its headers, at most one chunk.
 */
export const PREAUTH_CHUNK_BYTES = 64 * 1024;
/**
 * Global budget of bytes held by requests not yet authenticated (PREAUTH_BUDGET_BYTES):
 * 16 MiB, 256 requests of one chunk each. Past it a request is answered 503 OVERLOADED
 * `preauth_budget` with Retry-After, before its token is looked at.
 */
export const PREAUTH_BUDGET_BYTES_DEFAULT = 16 * 1024 * 1024;
/** Upper bound of the pre-auth budget accepted at wiring time, bytes (1 GiB). */
export const PREAUTH_BUDGET_BYTES_LIMIT = 1024 * 1024 * 1024;
/** `Retry-After` of a `preauth_budget` refusal, seconds. */
export const PREAUTH_RETRY_AFTER_S = 1;
