/**
 * Cooperative cancellation of the pure pipeline. A caller (the engine worker) injects a
 * {@link Checkpoint}: a function that returns when the run may go on and throws to abandon
 * it. The core never reads a clock or a global to decide: it only calls the function, between
 * phases and every {@link CHECKPOINT_EVERY} iterations of its long loops, so a cancelled run
 * stops within a few milliseconds instead of at its next phase boundary.
 *
 * @module
 */

/** Returns to go on; throws to abandon the run (the thrown value propagates unchanged). */
export type Checkpoint = () => void;

/**
 * Iterations of a long loop between two checkpoint calls (a power of two, so the test is one
 * mask). At 1M entries that is ~250 calls per loop: a call costs nanoseconds, and 4,096
 * iterations of the slowest loop (BigInt allocation) take well under 10 ms on this machine.
 */
export const CHECKPOINT_EVERY = 4_096;

/** `(i & CHECKPOINT_MASK) === 0` every {@link CHECKPOINT_EVERY} iterations. */
export const CHECKPOINT_MASK: number = CHECKPOINT_EVERY - 1;

/** Bytes hashed between two checkpoint calls when hashing a large input. */
export const CHECKPOINT_HASH_BYTES = 1024 * 1024;

/** The checkpoint of a run nobody can cancel. */
export const NEVER_CANCELLED: Checkpoint = () => {};
