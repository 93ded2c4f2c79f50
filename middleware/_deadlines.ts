/**
 * Private helper of the deadline and body middlewares: one timer for many deadlines of the
 * same length (docs/PROFILE.md). Import only from this folder.
 *
 * @module
 */

/** A request's deadline in a {@link DeadlineQueue}; `expire` is cleared once it is settled. */
export interface Deadline {
  atMs: number;
  expire: (() => void) | undefined;
}

/** The pending deadlines of one middleware, and the one timer armed for the earliest. */
export interface DeadlineQueue {
  /** Starts a deadline `timeoutMs` from now: `expire` is called when it passes unsettled. */
  add(expire: () => void): Deadline;
  /** The request ended (or expired): its deadline no longer fires. */
  settle(deadline: Deadline): void;
}

/** What `setTimeout` answers on Deno (node-compatible timers), Bun and Node. */
type Timer = ReturnType<typeof setTimeout> & { ref?: () => void; unref?: () => void };

/**
 * One timer for all of a middleware's requests: every deadline is `timeoutMs` after its start,
 * so the deadlines come in start order and the earliest pending one is the queue's head. The
 * timer is armed for the head and re-armed when it fires; settled deadlines are dropped from
 * the head as requests end (mostly in order). When the queue empties the timer is unref'd,
 * not cleared (it keeps no process alive and fires once for nothing), and ref'd again by the
 * next request. A request pays an array push and a flag instead of a timer of its own (a timer
 * set and cleared per request was ~2.5 µs of a GET: docs/PROFILE.md).
 */
export function deadlineQueue(timeoutMs: number, nowMs: () => number): DeadlineQueue {
  let queue: Deadline[] = [];
  let head = 0;
  let timer: Timer | undefined;
  let refd = false;
  const dropSettled = () => {
    while (head < queue.length && queue[head]!.expire === undefined) head += 1;
    if (head === queue.length) {
      queue = [];
      head = 0;
      if (refd) timer?.unref?.();
      refd = false;
    } else if (head >= 1024 && head * 2 >= queue.length) {
      queue = queue.slice(head); // bounded: the settled prefix is dropped in one go
      head = 0;
    }
  };
  const arm = () => {
    if (head === queue.length) return;
    if (timer === undefined) {
      timer = setTimeout(fire, Math.max(0, queue[head]!.atMs - nowMs())) as Timer;
      refd = true;
    } else if (!refd) {
      timer.ref?.(); // armed for an earlier deadline: it fires first, then re-arms
      refd = true;
    }
  };
  const fire = () => {
    timer = undefined;
    refd = false;
    const now = nowMs();
    while (head < queue.length) {
      const d = queue[head]!;
      if (d.expire !== undefined && d.atMs > now) break;
      head += 1;
      const expire = d.expire;
      d.expire = undefined;
      expire?.();
    }
    dropSettled();
    arm();
  };
  return {
    add(expire) {
      const deadline = { atMs: nowMs() + timeoutMs, expire };
      queue.push(deadline);
      arm();
      return deadline;
    },
    settle(deadline) {
      deadline.expire = undefined;
      dropSettled();
    },
  };
}

/** The queues of {@link sharedDeadlines}, by deadline length (ms): a few lengths at most. */
const shared = new Map<number, DeadlineQueue>();

/** A process-wide queue for deadlines of `timeoutMs` (e.g. the body read timeout). */
export function sharedDeadlines(timeoutMs: number): DeadlineQueue {
  let queue = shared.get(timeoutMs);
  if (queue === undefined) {
    queue = deadlineQueue(timeoutMs, () => performance.now());
    shared.set(timeoutMs, queue);
  }
  return queue;
}
