/**
 * What the auditor's page shows about one manifest, computed with exact integer arithmetic
 * (money is bigint minor units, contract §1): the totals waterfall (§6 totals and residual
 * parts), the payout histogram, the Lorenz curve, the Gini coefficient and the top
 * recipients. Shares are exact ratios of bigints; they become numbers only as plot
 * coordinates ({@link ratioToNumber}).
 *
 * @module
 */
import type { Manifest } from "../../src/core/types.ts";

/** Fixed-point scale of shares turned into plot numbers: 10^9 (one part in a billion). */
export const SHARE_SCALE = 1_000_000_000n;
/** Most histogram bins drawn. */
export const HISTOGRAM_BINS_MAX = 24;
/** Most points of the Lorenz curve drawn (exact points, evenly spaced over the recipients). */
export const LORENZ_POINTS_MAX = 200;
/** Recipients listed in the top table. */
export const TOP_RECIPIENTS_MAX = 10;

/** One step of the waterfall: the bar floats from `fromMinor` to `toMinor`. */
export interface WaterfallStep {
  label: string;
  fromMinor: bigint;
  toMinor: bigint;
  kind: "total" | "out" | "residual";
}

/**
 * The totals as a waterfall: the pool, then the fee, the payouts and the residual's
 * rounding, below-min and capped parts each taking their share off, down to zero when the
 * manifest conserves (`pool = fee + payouts + residual`, `residual = rounding + below_min +
 * capped`, contract §4.9); `conserves` says whether it does.
 */
export function waterfallOf(m: Manifest): { steps: WaterfallStep[]; conserves: boolean } {
  const pool = BigInt(m.totals.pool_minor);
  const parts: [string, bigint, WaterfallStep["kind"]][] = [
    ["fee", BigInt(m.totals.fee_minor), "out"],
    ["payouts", BigInt(m.totals.payout_minor), "out"],
    ["residual: rounding", BigInt(m.residual.rounding_minor), "residual"],
    ["residual: below min", BigInt(m.residual.below_min_minor), "residual"],
    ["residual: capped", BigInt(m.residual.capped_minor), "residual"],
  ];
  const steps: WaterfallStep[] = [{ label: "pool", fromMinor: 0n, toMinor: pool, kind: "total" }];
  let level = pool;
  for (const [label, amount, kind] of parts) {
    steps.push({ label, fromMinor: level - amount, toMinor: level, kind });
    level -= amount;
  }
  const residual = BigInt(m.totals.residual_minor);
  const residualParts = parts.slice(2).reduce((sum, [, amount]) => sum + amount, 0n);
  return { steps, conserves: level === 0n && residual === residualParts };
}

/** An exact ratio `num / den` (den > 0) as a plot number, to {@link SHARE_SCALE} precision. */
export function ratioToNumber(num: bigint, den: bigint): number {
  if (den <= 0n) return 0;
  return Number((num * SHARE_SCALE) / den) / Number(SHARE_SCALE);
}

/** `num / den` printed as a decimal with `digits` fraction digits, rounded down (exact). */
export function ratioToDecimal(num: bigint, den: bigint, digits: number): string {
  if (den <= 0n) return "-";
  const negative = num < 0n;
  const scaled = ((negative ? -num : num) * 10n ** BigInt(digits)) / den;
  const text = scaled.toString().padStart(digits + 1, "0");
  const whole = text.slice(0, text.length - digits);
  const frac = digits === 0 ? "" : "." + text.slice(text.length - digits);
  return (negative ? "-" : "") + whole + frac;
}

/** The payout amounts, ascending. */
export function sortedAmounts(m: Manifest): bigint[] {
  return m.payouts.map((p) => BigInt(p.amount_minor)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The Gini coefficient of the payouts as an exact ratio: with amounts x₁ ≤ … ≤ xₙ and total
 * S, G = (2·Σ i·xᵢ − (n+1)·S) / (n·S). Zero recipients or a zero total give 0/1.
 */
export function giniOf(ascending: readonly bigint[]): { num: bigint; den: bigint } {
  const n = BigInt(ascending.length);
  let total = 0n;
  let weighted = 0n;
  ascending.forEach((x, i) => {
    total += x;
    weighted += BigInt(i + 1) * x;
  });
  if (n === 0n || total === 0n) return { num: 0n, den: 1n };
  return { num: 2n * weighted - (n + 1n) * total, den: n * total };
}

/**
 * Points of the Lorenz curve (population share → payout share), exact cumulative sums at up
 * to {@link LORENZ_POINTS_MAX} evenly spaced recipients, (0,0) and (1,1) included.
 */
export function lorenzOf(ascending: readonly bigint[]): { x: number; y: number }[] {
  const n = ascending.length;
  const total = ascending.reduce((a, b) => a + b, 0n);
  const points = [{ x: 0, y: 0 }];
  if (n === 0 || total === 0n) return [...points, { x: 1, y: 1 }];
  const step = Math.max(1, Math.ceil(n / LORENZ_POINTS_MAX));
  let cumulative = 0n;
  for (let i = 0; i < n; i++) {
    cumulative += ascending[i]!;
    if ((i + 1) % step === 0 || i === n - 1) {
      points.push({
        x: ratioToNumber(BigInt(i + 1), BigInt(n)),
        y: ratioToNumber(cumulative, total),
      });
    }
  }
  return points;
}

/** One histogram bin: amounts in [lowMinor, highMinor]. */
export interface Bin {
  lowMinor: bigint;
  highMinor: bigint;
  count: number;
}

/** Equal-width integer bins over [min, max] of the amounts, at most {@link HISTOGRAM_BINS_MAX}. */
export function histogramOf(ascending: readonly bigint[]): Bin[] {
  if (ascending.length === 0) return [];
  const min = ascending[0]!;
  const max = ascending[ascending.length - 1]!;
  const span = max - min + 1n;
  const binsWanted = BigInt(Math.min(HISTOGRAM_BINS_MAX, ascending.length));
  const width = (span + binsWanted - 1n) / binsWanted; // ceil: the last bin reaches max
  const count = Number((span + width - 1n) / width);
  const bins: Bin[] = Array.from({ length: count }, (_, i) => ({
    lowMinor: min + BigInt(i) * width,
    highMinor: min + BigInt(i + 1) * width - 1n,
    count: 0,
  }));
  for (const x of ascending) bins[Number((x - min) / width)]!.count += 1;
  return bins;
}

/** One row of the top table; `shareNum / shareDen` is its exact share of all payouts. */
export interface TopRecipient {
  account: string;
  amountMinor: bigint;
  shareNum: bigint;
  shareDen: bigint;
}

/** The largest payouts, larger first, ties by account in byte order (contract §4.10's order). */
export function topRecipientsOf(m: Manifest, count = TOP_RECIPIENTS_MAX): TopRecipient[] {
  const total = BigInt(m.totals.payout_minor);
  // Payouts are already ascending by account bytes (contract §6): a stable sort keeps that
  // order among equal amounts.
  return m.payouts
    .map((p) => ({ account: p.account, amountMinor: BigInt(p.amount_minor) }))
    .sort((a, b) => (a.amountMinor > b.amountMinor ? -1 : a.amountMinor < b.amountMinor ? 1 : 0))
    .slice(0, count)
    .map((r) => ({ ...r, shareNum: r.amountMinor, shareDen: total === 0n ? 1n : total }));
}
