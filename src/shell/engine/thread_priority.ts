/**
 * Per-thread scheduling priority of an engine worker. On Linux a thread is a task with its
 * own id and its own nice value: a worker reads its id from `/proc/thread-self` and lowers
 * its own priority with `os.setPriority` (the same call on Deno, Bun and Node). The request
 * loop keeps nice 0, so on a busy machine the kernel gives it the CPU before a long job's
 * thread, and a small job's thread before a large one's (engine_pool.ts).
 *
 * Lowering one's own priority needs no privilege; raising it back would, so a worker's nice
 * only ever goes up. Elsewhere (no `/proc/thread-self`, or the call refused) nothing changes
 * and the caller is told so.
 *
 * @module
 */
import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/** Highest nice value (lowest priority) on Linux. */
export const NICE_MAX = 19;

/** The calling thread's kernel task id, or undefined where `/proc/thread-self` is absent. */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").at(-1));
    return Number.isSafeInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sets the calling thread's nice value to `nice` (0..NICE_MAX) when that lowers its priority;
 * returns the thread's nice value afterwards, or undefined when it cannot be known or set.
 */
export function lowerThreadPriority(nice: number): number | undefined {
  if (!Number.isInteger(nice) || nice < 0 || nice > NICE_MAX) {
    throw new RangeError(
      `Cannot lower thread priority as nice must be an integer 0..${NICE_MAX}: current value is ${nice}`,
    );
  }
  const tid = currentThreadId();
  if (tid === undefined) return undefined;
  try {
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return getPriority(tid);
  } catch {
    return undefined;
  }
}
