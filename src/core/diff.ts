/**
 * What-if for governors: the difference between two manifests (v1 or v2, contract §6) —
 * typically one epoch computed under the current policy and under a proposed one, or two
 * sealed envelopes. Pure: no I/O, no clock, the same output bytes for the same manifests on
 * every runtime (`rewarder diff` prints it; a browser page can bundle it as is). Described in
 * docs/FORMATS.md "What-if for governors".
 *
 * Money follows contract §1 (decimal strings of bigint minor units) with one extension that
 * exists only in this document: a **delta may be negative**, written with a leading minus
 * sign (`"-123"`); a positive delta has no sign (`"123"`), zero is `"0"`. Amounts that are
 * not deltas (`a_minor`, `b_minor`, the `_a`/`_b` totals) are never negative.
 *
 * @module
 */
import { RewarderError } from "./errors.ts";
import type { Manifest } from "./types.ts";

/** The totals of both sides (contract §6 `totals`) and their differences (B − A). */
export interface DiffTotals {
  pool_minor_a: string;
  pool_minor_b: string;
  payout_minor_a: string;
  payout_minor_b: string;
  /** `payout_minor_b − payout_minor_a`; equals the sum of every account's `delta_minor`. */
  payout_minor_delta: string;
  /** `fee_minor` of B − that of A. */
  fee_minor_delta: string;
  /** `residual_minor` of B − that of A. */
  residual_minor_delta: string;
  recipients_a: number;
  recipients_b: number;
}

/** One account paid in A, in B or in both; the absent side is `"0"`. */
export interface AccountDiff {
  account: string;
  a_minor: string;
  b_minor: string;
  /** `b_minor − a_minor`, signed (`"-5"` = the account loses 5 minor units under B). */
  delta_minor: string;
}

/** The whole diff: `{totals, accounts}`. */
export interface ManifestDiff {
  totals: DiffTotals;
  /** Sorted by |delta| descending, then by account bytes ascending. */
  accounts: AccountDiff[];
}

/** Options of {@link diffManifests}. */
export interface DiffOptions {
  /**
   * Keep the accounts paid the same amount in both (delta `"0"`, sorted last by account).
   * Default false: they are dropped, so `accounts` lists exactly who gains or loses.
   */
  includeUnchanged?: boolean;
}

/** The members of a manifest a diff reads. */
export type DiffableManifest = Pick<Manifest, "asset" | "totals" | "payouts">;

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

interface Row {
  account: string;
  a: bigint;
  b: bigint;
  delta: bigint;
  /** |delta|. */
  size: bigint;
  /** |delta| as a number when exact, else +Infinity (then `size` decides). */
  fast: number;
}

/** Strictly ascending account bytes, as in a valid manifest (contract §6). */
function ascending(payouts: DiffableManifest["payouts"]): boolean {
  for (let i = 1; i < payouts.length; i++) {
    if (!(payouts[i - 1]!.account < payouts[i]!.account)) return false;
  }
  return true;
}

/** |delta| descending, then account ascending by bytes (ASCII: `<` on strings, no locale). */
function byChange(x: Row, y: Row): number {
  if (x.fast !== y.fast) return y.fast - x.fast;
  if (x.fast === Number.POSITIVE_INFINITY && x.size !== y.size) return x.size > y.size ? -1 : 1;
  return x.account < y.account ? -1 : x.account > y.account ? 1 : 0;
}

/**
 * Compares two manifests: the totals of both sides and, for every account paid in either,
 * its amount in A, in B, and the signed delta B − A.
 *
 * - Manifests are expected to be valid (contract §6: as `verifyEnvelope` or
 *   `manifestProblem` accept them — one line per account, canonical amounts). A v1 and a v2
 *   manifest compare alike: their payouts have the same form.
 * - `accounts` is sorted by |delta_minor| descending, then by account ascending in byte
 *   order (`<` on the strings: accounts are ASCII, contract §1), so the output is the same
 *   on every runtime and locale.
 * - Accounts whose amount did not change are dropped unless `includeUnchanged`.
 * - Σ delta_minor over `accounts` = `payout_minor_delta` (with or without the unchanged).
 *
 * @throws {RewarderError} `BAD_REQUEST asset` (path `asset`) when the manifests pay
 * different assets: minor units of two assets cannot be subtracted.
 *
 * @example
 * ```ts
 * const d = diffManifests(current.manifest, proposed.manifest);
 * // d.totals.payout_minor_delta === "3"
 * // d.accounts[0] → { account: "party-a", a_minor: "4", b_minor: "5", delta_minor: "1" }
 * for (const row of d.accounts.filter((r) => r.delta_minor.startsWith("-"))) {
 *   console.log(`${row.account} loses ${row.delta_minor.slice(1)}`);
 * }
 * ```
 */
export function diffManifests(
  a: DiffableManifest,
  b: DiffableManifest,
  options: DiffOptions = {},
): ManifestDiff {
  if (a.asset !== b.asset) throw new RewarderError("BAD_REQUEST", "asset", { path: "asset" });
  const rows: Row[] = [];
  const add = (account: string, inA: bigint, inB: bigint) => {
    const delta = inB - inA;
    if (delta === 0n && !options.includeUnchanged) return;
    const size = delta < 0n ? -delta : delta;
    // The common case compares as a float64 without loss (≤ 2^53); larger sizes as bigints.
    const fast = size <= SAFE ? Number(size) : Number.POSITIVE_INFINITY;
    rows.push({ account, a: inA, b: inB, delta, size, fast });
  };
  if (ascending(a.payouts) && ascending(b.payouts)) {
    // Valid manifests (contract §6: payouts strictly ascending): one merge pass, no map.
    const pa = a.payouts;
    const pb = b.payouts;
    let i = 0;
    let j = 0;
    while (i < pa.length || j < pb.length) {
      const x = pa[i];
      const y = pb[j];
      if (y === undefined || (x !== undefined && x.account < y.account)) {
        add(x!.account, BigInt(x!.amount_minor), 0n);
        i++;
      } else if (x === undefined || y.account < x.account) {
        add(y.account, 0n, BigInt(y.amount_minor));
        j++;
      } else {
        add(x.account, BigInt(x.amount_minor), BigInt(y.amount_minor));
        i++;
        j++;
      }
    }
  } else {
    // Any other order (a manifest not checked): lines of one account add up.
    const amounts = new Map<string, { a: bigint; b: bigint }>();
    for (const [side, payouts] of [["a", a.payouts], ["b", b.payouts]] as const) {
      for (const p of payouts) {
        const row = amounts.get(p.account) ?? { a: 0n, b: 0n };
        row[side] += BigInt(p.amount_minor);
        amounts.set(p.account, row);
      }
    }
    for (const [account, row] of amounts) add(account, row.a, row.b);
  }
  rows.sort(byChange);
  const ta = a.totals;
  const tb = b.totals;
  const minus = (x: string, y: string) => (BigInt(x) - BigInt(y)).toString();
  return {
    totals: {
      pool_minor_a: ta.pool_minor,
      pool_minor_b: tb.pool_minor,
      payout_minor_a: ta.payout_minor,
      payout_minor_b: tb.payout_minor,
      payout_minor_delta: minus(tb.payout_minor, ta.payout_minor),
      fee_minor_delta: minus(tb.fee_minor, ta.fee_minor),
      residual_minor_delta: minus(tb.residual_minor, ta.residual_minor),
      recipients_a: ta.recipients,
      recipients_b: tb.recipients,
    },
    accounts: rows.map((r) => ({
      account: r.account,
      a_minor: r.a.toString(),
      b_minor: r.b.toString(),
      delta_minor: r.delta.toString(),
    })),
  };
}
