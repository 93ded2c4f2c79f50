/**
 * The error taxonomy of contract §8, as typed values.
 *
 * Every rejection anywhere in the service is a {@link RewarderError} carrying a stable
 * `code` (the contract's code), a `reason` (a stable snake_case rule name such as
 * `oversize` or `schema`, from the one table in `reasons.ts`) and, when the fault is in one
 * field, its `path` (the error body's `field`, §8). The status comes from the reasons table
 * through {@link statusOf}; responses are built from these values only, never from user input.
 *
 * @module
 */

import { type CodeOf, type ErrorCode, type Reason, statusOfReason } from "./reasons.ts";

export type { ErrorCode, Reason };

/**
 * A typed, expected failure. `reason` is a stable rule name; `detail` is for logs only and
 * must never contain user-supplied values (it may name a field path).
 */
export class RewarderError<R extends Reason = Reason> extends Error {
  /** The contract error code (the reasons table's code of `reason`). */
  readonly code: ErrorCode;
  /** Stable snake_case reason of the reasons table, e.g. `oversize`, `schema`, `stale`. */
  readonly reason: R;
  /** Optional field path (e.g. `entries[3].account`); never a value. */
  readonly path: string | undefined;
  /** Seconds a client should wait before retrying (429/503 only). */
  readonly retryAfterS: number | undefined;
  /** Extra JSON-safe fields to include in the error body (e.g. the run record on QUARANTINED). */
  readonly extra: Readonly<Record<string, unknown>> | undefined;

  /** `code` must be the table's code of `reason`: a mismatch or an unknown reason does not compile. */
  constructor(
    code: CodeOf<R>,
    reason: R,
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
export function badRequest(
  reason: { [R in Reason]: CodeOf<R> extends "BAD_REQUEST" ? R : never }[Reason],
  path?: string,
): RewarderError {
  return new RewarderError("BAD_REQUEST", reason, path === undefined ? {} : { path });
}

/** The HTTP status for an error (contract §8), from the reasons table. */
export function statusOf(err: RewarderError): number {
  return statusOfReason(err.reason);
}

/** Typed result for core functions that fail by rule rather than by bug. */
export type Result<T, E = RewarderError> = { ok: true; value: T } | { ok: false; error: E };
