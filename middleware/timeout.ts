/**
 * Request deadline (REQUEST_TIMEOUT_MS, contract §12, default 5 s). Unlike hono/timeout, which
 * only races a promise (RUNTIME-NOTES), this middleware owns an AbortController: its signal
 * is `c.get("deadline")`, handlers pass it to downstream calls, and when the deadline passes
 * the signal is aborted (reason: the TIMEOUT error) and the client gets 503 TIMEOUT
 * `timeout` with `Retry-After`. A client that disconnects aborts the signal as well.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";
import { TIMEOUT_MS_LIMIT } from "../src/shell/admission/limits.ts";

/** Options for {@link timeout}. */
export interface TimeoutOptions {
  /** Time a request may take end to end, ms (REQUEST_TIMEOUT_MS, default 5000). */
  timeoutMs: number;
  /** `Retry-After` on a timeout, seconds (default 1). */
  retryAfterS?: number;
  /** Called with `timeout` on each expiry. */
  onReject?: (reason: string) => void;
}

function validate(o: TimeoutOptions): void {
  if (!Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > TIMEOUT_MS_LIMIT) {
    throw new RangeError(
      `Cannot create timeout as timeoutMs must be an integer in 1..${TIMEOUT_MS_LIMIT}: current value is ${o.timeoutMs}`,
    );
  }
  const r = o.retryAfterS;
  if (r !== undefined && (!Number.isInteger(r) || r < 0)) {
    throw new RangeError(
      `Cannot create timeout as retryAfterS must be a natural number: current value is ${r}`,
    );
  }
}

/** A request's deadline in a {@link DeadlineQueue}; `expire` is cleared once it is settled. */
interface Deadline {
  atMs: number;
  expire: (() => void) | undefined;
}

/** The pending deadlines of one middleware, and the one timer armed for the earliest. */
interface DeadlineQueue {
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
function deadlineQueue(timeoutMs: number, nowMs: () => number): DeadlineQueue {
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

/**
 * Creates the deadline middleware.
 *
 * @example
 * ```ts
 * app.use(timeout({ timeoutMs: config.requestTimeoutMs }));
 * app.get("/x", async (c) => fetch(url, { signal: c.get("deadline") }));
 * ```
 */
export function timeout(options: TimeoutOptions): MiddlewareHandler<AppEnv> {
  validate(options);
  const { timeoutMs, onReject } = options;
  const retryAfterS = options.retryAfterS ?? 1;
  const deadlines = deadlineQueue(timeoutMs, () => performance.now());
  return async function timeout(c, next) {
    const controller = new AbortController();
    const clientSignal = c.req.raw.signal;
    const onClientAbort = () => controller.abort(new RewarderError("TIMEOUT", "client_gone"));
    clientSignal.addEventListener("abort", onClientAbort, { once: true });
    c.set("deadline", controller.signal);
    let deadline: Deadline | undefined;
    try {
      // The handler may keep running after the deadline; its late failure is not ours to
      // report (the promise is settled by then: its `reject` does nothing).
      const winner = await new Promise<"done" | "expired">((resolve, reject) => {
        deadline = deadlines.add(() => resolve("expired"));
        next().then(() => resolve("done"), reject);
      });
      if (winner === "expired") {
        // Built only on expiry: an Error captures a stack (a share of a GET, docs/PROFILE.md).
        const expiry = new RewarderError("TIMEOUT", "timeout", { retryAfterS });
        controller.abort(expiry);
        onReject?.("timeout");
        throw expiry;
      }
    } finally {
      if (deadline !== undefined) deadlines.settle(deadline);
      clientSignal.removeEventListener("abort", onClientAbort);
    }
  };
}
