/**
 * The allocation of contract §4 in exact double arithmetic, for the common epoch where every
 * quantity is a small integer: metrics × multipliers ≤ 2^52, scores and the pool ≤ 2^53 − 1,
 * the total weight ≤ 2^50. Within those bounds every figure below is an integer held exactly
 * by a double, and the one product that is not (pool × score, up to 2^103) is carried as an
 * exact pair of doubles (Dekker's product); so the result is the same, amount for amount, as
 * the bigint arithmetic of `allocate.ts`, which handles everything else (and `redistribute`)
 * and is the reference this module is tested against (`allocate_numeric_test.ts`).
 *
 * What it saves at 1M entries: one bigint per metric, score, share and remainder, and one
 * object per entry (measured: bench/engine_bench.ts).
 *
 * @module
 */
import { assert } from "./assert.ts";
import { blake3Hex } from "./blake3.ts";
import { type Checkpoint, CHECKPOINT_MASK } from "./checkpoint.ts";
import type { EntryTable } from "./entry_table.ts";
import { metricIdOf } from "./entry_table.ts";
import type { Policy } from "./policy.ts";

/** Largest metric × multiplier, divisor and single term handled here (exact with a fix-up). */
const TERM_MAX = 2 ** 52;
/** Largest score, pool and amount (every integer up to it is a double). */
const SAFE_MAX = Number.MAX_SAFE_INTEGER;
/** Largest total weight W: keeps every intermediate of {@link mulDivFloor} below 2^53. */
export const WEIGHT_MAX = 2 ** 50;
/** Veltkamp's splitter for binary64: 2^27 + 1. */
const SPLIT = 134_217_729;

/** The parts of an allocation this module computes (allocate.ts checks the invariants). */
export interface NumericAllocation {
  payouts: { account: string; amountMinor: bigint }[];
  payoutSumMinor: bigint;
  roundingMinor: bigint;
  belowMinMinor: bigint;
  cappedMinor: bigint;
}

/**
 * `floor(a × b / w)` and `a × b mod w` for integers 0 ≤ a ≤ 2^53 − 1, 0 ≤ b ≤ w ≤ WEIGHT_MAX,
 * w ≥ 1, exactly: the product is split into a double and its exact rounding error (Dekker),
 * the quotient estimated in floating point (off by a few at most) and corrected on the exact
 * remainder. Writes into `out` [quotient, remainder].
 */
export function mulDivFloor(a: number, b: number, w: number, out: Float64Array): void {
  const ph = a * b;
  const pl = twoProductError(a, b, ph);
  let q = Math.floor(ph / w);
  const th = q * w;
  const tl = twoProductError(q, w, th);
  // ph − th and pl − tl are exact (integers below 2^53 apart), so is their sum (|r| ≤ 4w).
  let r = (ph - th) + (pl - tl);
  while (r < 0) {
    q -= 1;
    r += w;
  }
  while (r >= w) {
    q += 1;
    r -= w;
  }
  out[0] = q;
  out[1] = r;
}

/** The exact error `a × b − p` of the rounded product `p = fl(a × b)` (Dekker, Veltkamp). */
function twoProductError(a: number, b: number, p: number): number {
  const ca = SPLIT * a;
  const ah = ca - (ca - a);
  const al = a - ah;
  const cb = SPLIT * b;
  const bh = cb - (cb - b);
  const bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

/** `floor(x / d)` for integers 0 ≤ x ≤ 2^52, 1 ≤ d ≤ 2^52: estimate, then one fix-up. */
export function floorDiv(x: number, d: number): number {
  let q = Math.floor(x / d);
  const r = x - q * d; // q·d ≤ x + d ≤ 2^53: exact
  if (r < 0) q -= 1;
  else if (r >= d) q += 1;
  return q;
}

/**
 * Allocates `net = pool − fee` over `table` under `policy` (contract §4.3–§4.8) when the
 * epoch is within this module's bounds; null otherwise (the caller uses the bigint path).
 */
export function allocateNumeric(
  policy: Policy,
  table: EntryTable,
  inputsCid: string,
  netMinor: bigint,
  checkpoint: Checkpoint,
): NumericAllocation | null {
  if (policy.capMinor !== null && policy.capExcess === "redistribute") return null;
  if (netMinor > BigInt(SAFE_MAX)) return null;
  const net = Number(netMinor);
  const scores = scoresOf(policy, table, checkpoint);
  if (scores === null) return null;
  const n = table.count;
  const threshold = policy.minScore > 1n ? policy.minScore : 1n;
  const thresholdN = threshold > BigInt(SAFE_MAX) ? Infinity : Number(threshold);
  // Members: eligible entries (score ≥ threshold, §4.4), their total weight W.
  let weight = 0;
  let members = 0;
  for (let k = 0; k < n; k++) {
    if (scores[k]! >= thresholdN) {
      weight += scores[k]!;
      members++;
      if (weight > WEIGHT_MAX) return null;
    } else {
      scores[k] = -1; // not a member
    }
  }
  checkpoint();
  const amounts = new Float64Array(n);
  let sum = 0;
  let remainders: Float64Array | null = null;
  if (weight > 0 && net > 0) {
    remainders = new Float64Array(n).fill(-1);
    const qr = new Float64Array(2);
    for (let k = 0; k < n; k++) {
      if ((k & CHECKPOINT_MASK) === 0) checkpoint();
      const score = scores[k]!;
      if (score < 0) continue;
      mulDivFloor(net, score, weight, qr);
      amounts[k] = qr[0]!;
      remainders[k] = qr[1]!;
      sum += qr[0]!;
    }
    if (policy.allocation === "largest_remainder") {
      const leftover = net - sum;
      assert(leftover >= 0 && leftover < members, "leftover below member count");
      for (const k of largestRemainders(remainders, members, table, inputsCid, leftover)) {
        amounts[k] = amounts[k]! + 1;
      }
      sum += leftover;
    }
  }
  checkpoint();
  let capped = 0;
  const cap = policy.capMinor === null || policy.capMinor > BigInt(SAFE_MAX)
    ? Infinity
    : Number(policy.capMinor);
  const minPayout = policy.minPayoutMinor > BigInt(SAFE_MAX)
    ? Infinity
    : Number(policy.minPayoutMinor);
  let belowMin = 0;
  let payoutSum = 0;
  let payoutCount = 0;
  for (let k = 0; k < n; k++) {
    let amount = amounts[k]!;
    if (amount > cap) {
      capped += amount - cap;
      amount = cap;
      amounts[k] = amount;
    }
    if (amount === 0) continue;
    if (amount < minPayout) {
      belowMin += amount;
      amounts[k] = 0;
      continue;
    }
    payoutSum += amount;
    payoutCount++;
  }
  const payouts: { account: string; amountMinor: bigint }[] = new Array(payoutCount);
  let at = 0;
  for (let k = 0; k < n; k++) {
    if ((k & CHECKPOINT_MASK) === 0) checkpoint();
    const amount = amounts[k]!;
    if (amount === 0) continue;
    payouts[at++] = { account: table.accounts[k]!, amountMinor: BigInt(amount) };
  }
  return {
    payouts,
    payoutSumMinor: BigInt(payoutSum),
    roundingMinor: BigInt(net - sum),
    belowMinMinor: BigInt(belowMin),
    cappedMinor: BigInt(capped),
  };
}

/**
 * Scores (contract §4.3) as exact doubles, or null when a term or a score leaves the bounds
 * (a metric held as a bigint, metric × mul > 2^52, div > 2^52, a score > 2^53 − 1).
 */
function scoresOf(policy: Policy, table: EntryTable, checkpoint: Checkpoint): Float64Array | null {
  const ids: number[] = [];
  const muls: number[] = [];
  const divs: number[] = [];
  for (const term of policy.score) {
    const id = metricIdOf(table, term.metric);
    if (id < 0) continue;
    if (term.mul > BigInt(TERM_MAX) || term.div > BigInt(TERM_MAX)) return null;
    ids.push(id);
    muls.push(Number(term.mul));
    divs.push(Number(term.div));
  }
  const n = table.count;
  const scores = new Float64Array(n);
  const { rows, metricStart, metricName, metricValue } = table;
  for (let k = 0; k < n; k++) {
    if ((k & CHECKPOINT_MASK) === 0) checkpoint();
    const row = rows[k]!;
    const from = metricStart[row]!;
    const to = metricStart[row + 1]!;
    let score = 0;
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t]!;
      for (let p = from; p < to; p++) {
        if (metricName[p] !== id) continue;
        const x = metricValue[p]! * muls[t]!;
        if (!(x <= TERM_MAX)) return null; // NaN (a bigint metric) or too large
        score += floorDiv(x, divs[t]!);
        if (score > SAFE_MAX) return null;
        break;
      }
    }
    scores[k] = score;
  }
  return scores;
}

/**
 * The `count` members with the largest remainders (contract §4.5); ties at the boundary go
 * to the smaller tie key `hex(BLAKE3("svc-rewarder/tie/v1|" + inputs_cid + "|" + account))`,
 * hashed only for the boundary class. `remainders[k]` is −1 for non-members.
 */
function largestRemainders(
  remainders: Float64Array,
  members: number,
  table: EntryTable,
  inputsCid: string,
  count: number,
): number[] {
  if (count === 0) return [];
  // The cut is the count-th largest remainder (non-members, −1, are below every member).
  const n = remainders.length;
  const cut = kthSmallest(remainders.slice(), n - count);
  const chosen: number[] = [];
  const ties: { k: number; key: string }[] = [];
  for (let k = 0; k < n; k++) {
    const r = remainders[k]!;
    if (r > cut) chosen.push(k);
    else if (r === cut) {
      ties.push({ k, key: blake3Hex(`svc-rewarder/tie/v1|${inputsCid}|${table.accounts[k]}`) });
    }
  }
  assert(cut >= 0 && count <= members, "the cut is a member remainder");
  assert(chosen.length < count, "fewer than count remainders lie strictly above the cut");
  ties.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let t = 0; chosen.length < count; t++) chosen.push(ties[t]!.k);
  return chosen;
}

/**
 * The value that would sit at index `k` of `values` sorted ascending (Hoare's selection,
 * median-of-three pivot; reorders `values`). O(n) on average, where a full sort is O(n log n).
 */
export function kthSmallest(values: Float64Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  while (hi > lo) {
    const mid = lo + ((hi - lo) >> 1);
    const a = values[lo]!;
    const b = values[mid]!;
    const c = values[hi]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i] = values[j]!;
        values[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  return values[k]!;
}
