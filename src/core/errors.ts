/**
 * The error taxonomy of contract §8, as typed values.
 *
 * Every rejection anywhere in the service is a {@link RewarderError} carrying a stable
 * `code` (the contract's code) and a `reason` (a stable snake_case rule name such as
 * `oversize` or `schema`). The single mapping from code to HTTP status lives in
 * {@link statusOf}; responses are built from these values only, never from user input.
 *
 * @module
 */

/** The contract's error codes (§8). */
export type ErrorCode =
  | "UNAUTHENTICATED"
  | "UNAUTHORIZED"
  | "BAD_REQUEST"
  | "NOT_FOUND"
  | "CONFLICT"
  | "QUARANTINED"
  | "RATE_LIMITED"
  | "OVERLOADED"
  | "TIMEOUT"
  | "DEPENDENCY_UNAVAILABLE"
  | "INTERNAL";

/** Reasons that turn a BAD_REQUEST into 413 (contract §8). */
const PAYLOAD_TOO_LARGE_REASONS: ReadonlySet<string> = new Set(["oversize", "decompress_cap"]);
/** Reasons that turn a BAD_REQUEST into 415 (contract §8). */
const UNSUPPORTED_MEDIA_REASONS: ReadonlySet<string> = new Set(["media_type", "encoding"]);

const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  UNAUTHORIZED: 403,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  QUARANTINED: 409,
  RATE_LIMITED: 429,
  OVERLOADED: 503,
  TIMEOUT: 503,
  DEPENDENCY_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/**
 * A typed, expected failure. `reason` is a stable rule name; `detail` is for logs only and
 * must never contain user-supplied values (it may name a field path).
 */
export class RewarderError extends Error {
  /** The contract error code. */
  readonly code: ErrorCode;
  /** Stable snake_case reason, e.g. `oversize`, `schema`, `stale`. */
  readonly reason: string;
  /** Optional field path (e.g. `entries[3].account`); never a value. */
  readonly path: string | undefined;
  /** Seconds a client should wait before retrying (429/503 only). */
  readonly retryAfterS: number | undefined;
  /** Extra JSON-safe fields to include in the error body (e.g. the run record on QUARANTINED). */
  readonly extra: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    reason: string,
    options: {
      path?: string;
      retryAfterS?: number;
      extra?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(`${code}: ${reason}${options.path ? ` at ${options.path}` : ""}`, {
      cause: options.cause,
    });
    this.name = "RewarderError";
    this.code = code;
    this.reason = reason;
    this.path = options.path;
    this.retryAfterS = options.retryAfterS;
    this.extra = options.extra;
  }
}

/** Shorthand for a 400 BAD_REQUEST with a reason and an optional field path. */
export function badRequest(reason: string, path?: string): RewarderError {
  return new RewarderError("BAD_REQUEST", reason, path === undefined ? {} : { path });
}

/** The HTTP status for an error (contract §8), the one place this mapping lives. */
export function statusOf(err: RewarderError): number {
  if (err.code === "BAD_REQUEST") {
    if (PAYLOAD_TOO_LARGE_REASONS.has(err.reason)) return 413;
    if (UNSUPPORTED_MEDIA_REASONS.has(err.reason)) return 415;
  }
  return STATUS_BY_CODE[err.code];
}

/** Typed result for core functions that fail by rule rather than by bug. */
export type Result<T, E = RewarderError> = { ok: true; value: T } | { ok: false; error: E };
