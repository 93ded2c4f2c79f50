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
import { type Deadline, deadlineQueue } from "./_deadlines.ts";

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
