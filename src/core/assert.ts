/**
 * A tiny in-house invariant assertion (house style §8). Failures are programmer errors or
 * broken invariants, never user errors: user errors are {@link RewarderError}s.
 *
 * @module
 */

/** Thrown when an internal invariant does not hold. */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvariantError";
  }
}

/** Asserts `condition`; throws {@link InvariantError} with `message` otherwise. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
