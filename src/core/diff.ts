/**
 * What-if for governors: the difference between two manifests (v1 or v2, contract §6) —
 * typically one epoch computed under the current policy and under a proposed one, or two
 * sealed envelopes. Pure: no I/O, no clock, the same output bytes for the same manifests on
 * every runtime (the CLI's `rewarder diff` and the auditor's page both use it).
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
  const amounts = new Map<string, { a: bigint; b: bigint }>();
  for (const p of a.payouts) {
    const row = amounts.get(p.account);
    if (row === undefined) amounts.set(p.account, { a: BigInt(p.amount_minor), b: 0n });
    else row.a += BigInt(p.amount_minor);
  }
  for (const p of b.payouts) {
    const row = amounts.get(p.account);
    if (row === undefined) amounts.set(p.account, { a: 0n, b: BigInt(p.amount_minor) });
    else row.b += BigInt(p.amount_minor);
  }
  const rows: { account: string; a: bigint; b: bigint; delta: bigint; size: bigint }[] = [];
  for (const [account, { a: inA, b: inB }] of amounts) {
    const delta = inB - inA;
    if (delta === 0n && !options.includeUnchanged) continue;
    rows.push({ account, a: inA, b: inB, delta, size: delta < 0n ? -delta : delta });
  }
  rows.sort((x, y) => {
    if (x.size !== y.size) return x.size > y.size ? -1 : 1;
    return x.account < y.account ? -1 : x.account > y.account ? 1 : 0;
  });
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
