/**
 * The global budget of bytes held by requests that are not yet authenticated
 * (docs/ARCHITECTURE.md, "Order of the middleware"). Each request carrying a body reserves
 * what it may hold before authentication — one read chunk, {@link PREAUTH_CHUNK_BYTES}, or
 * its declared length when smaller — and releases it once authentication has decided. A
 * request that does not fit is refused before its token is looked at (503 OVERLOADED
 * `preauth_budget`), so anonymous bodies cannot grow memory past the budget whatever
 * their number.
 *
 * @module
 */
import {
  PREAUTH_BUDGET_BYTES_DEFAULT,
  PREAUTH_BUDGET_BYTES_LIMIT,
  PREAUTH_CHUNK_BYTES,
} from "./limits.ts";

/** What the budget reports to metrics (docs/RUNBOOK.md, "Pre-auth budget"). */
export interface PreAuthObserver {
  /** A request did not fit in the budget. */
  refused(): void;
}

/** Options for {@link createPreAuthBudget}. */
export interface PreAuthBudgetOptions {
  /** Bytes all unauthenticated requests may hold together (default 16 MiB). */
  budgetBytes?: number;
  /** Bytes one request may hold before authentication (default 64 KiB). */
  chunkBytes?: number;
  observer?: PreAuthObserver;
}

/** A snapshot for metrics. */
export interface PreAuthStats {
  /** Bytes reserved now by requests waiting for authentication. */
  heldBytes: number;
  /** Requests holding a reservation now. */
  holders: number;
  /** The budget, bytes. */
  budgetBytes: number;
  /** Refusals since start. */
  refusedTotal: number;
}

/** The shared budget (one per process). */
export interface PreAuthBudget {
  /** Bytes a request with this body may hold before authentication (0 without a body). */
  holdOf(hasBody: boolean, declaredLength: number | undefined): number;
  /**
   * Reserves `bytes`; returns the release function (idempotent), or undefined when the
   * budget cannot hold them (the caller refuses the request). 0 bytes always fit.
   */
  reserve(bytes: number): (() => void) | undefined;
  stats(): PreAuthStats;
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(
      `Cannot create the pre-auth budget as ${name} must be an integer in ${min}..${max}: current value is ${v}`,
    );
  }
}

/**
 * Creates the pre-auth budget.
 *
 * @example
 * ```ts
 * const budget = createPreAuthBudget({ budgetBytes: 16 << 20 });
 * const release = budget.reserve(budget.holdOf(true, 1 << 20)); // 64 KiB reserved
 * release?.();
 * ```
 */
export function createPreAuthBudget(options: PreAuthBudgetOptions = {}): PreAuthBudget {
  const budgetBytes = options.budgetBytes ?? PREAUTH_BUDGET_BYTES_DEFAULT;
  const chunkBytes = options.chunkBytes ?? PREAUTH_CHUNK_BYTES;
  checkInt("budgetBytes", budgetBytes, 1, PREAUTH_BUDGET_BYTES_LIMIT);
  checkInt("chunkBytes", chunkBytes, 1, budgetBytes);
  let held = 0;
  let holders = 0;
  let refusedTotal = 0;
  const none = () => {};
  return {
    holdOf(hasBody, declared) {
      if (!hasBody) return 0;
      return declared === undefined ? chunkBytes : Math.min(declared, chunkBytes);
    },
    reserve(bytes) {
      if (bytes <= 0) return none;
      if (held + bytes > budgetBytes) {
        refusedTotal += 1;
        options.observer?.refused();
        return undefined;
      }
      held += bytes;
      holders += 1;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held -= bytes;
        holders -= 1;
      };
    },
    stats: () => ({ heldBytes: held, holders, budgetBytes, refusedTotal }),
  };
}
