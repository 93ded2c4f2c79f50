/**
 * The hold on refusals of anonymous callers over their bucket (docs/ARCHITECTURE.md, "Order of
 * the middleware"): such a refusal (429 with Retry-After) is answered only after
 * {@link ANON_REFUSAL_HOLD_MS}, as nginx's `limit_req` delays excess requests instead of
 * answering them at once. A client that sends its next request when the last one is answered
 * — a flood loop — then costs the request loop one cheap refusal per hold instead of one per
 * round trip, and cannot take the loop's time from authenticated tenants by asking faster.
 *
 * The hold is bounded: at most {@link ANON_REFUSALS_HELD_MAX} refusals are held at once (a
 * small share of MAX_INFLIGHT, since a held request is in flight); beyond that a refusal is
 * answered at once. A held request's body was never read (it is cancelled before), its
 * pre-auth reservation is already given back, and a client that hangs up ends its hold.
 *
 * @module
 */

/** Refusals of anonymous callers held at once; beyond it they are answered at once. */
export const ANON_REFUSALS_HELD_MAX = 64;
/** How long a refusal of an anonymous caller over its bucket is held before the answer, ms. */
export const ANON_REFUSAL_HOLD_MS = 1_000;

/** Starts a timer; returns its cancel function. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

const realTimer: SetTimer = (fn, ms) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

/** The shared hold of one service. */
export interface RefusalHold {
  /**
   * Resolves after the hold, or at once when `signal` aborts or ANON_REFUSALS_HELD_MAX
   * refusals are already held. Never rejects.
   */
  hold(signal: AbortSignal): Promise<void>;
  /** Refusals held now. */
  held(): number;
}

/** Options of {@link createRefusalHold}; every field has the default above. */
export interface RefusalHoldOptions {
  holdMs?: number;
  heldMax?: number;
  /** Told whether each refusal was held or answered at once (metrics). */
  onRefusal?: (held: boolean) => void;
  setTimer?: SetTimer;
}

/** Creates the hold. */
export function createRefusalHold(options: RefusalHoldOptions = {}): RefusalHold {
  const holdMs = options.holdMs ?? ANON_REFUSAL_HOLD_MS;
  const heldMax = options.heldMax ?? ANON_REFUSALS_HELD_MAX;
  for (const [name, v] of [["holdMs", holdMs], ["heldMax", heldMax]] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(
        `Cannot create refusal hold as ${name} must be a natural number: current value is ${v}`,
      );
    }
  }
  const setTimer = options.setTimer ?? realTimer;
  let held = 0;
  return {
    hold(signal) {
      if (held >= heldMax || holdMs === 0 || signal.aborted) {
        options.onRefusal?.(false);
        return Promise.resolve();
      }
      held++;
      options.onRefusal?.(true);
      return new Promise<void>((resolve) => {
        const done = () => {
          cancel();
          signal.removeEventListener("abort", done);
          held--;
          resolve();
        };
        const cancel = setTimer(done, holdMs);
        signal.addEventListener("abort", done, { once: true });
      });
    },
    held: () => held,
  };
}
