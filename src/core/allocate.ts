/**
 * The deterministic allocation of contract §4: pool, fee, scores, eligibility, `floor` or
 * `largest_remainder` apportionment with the seeded tie key, caps (`residual` or
 * `redistribute` water-filling), minimum payout, the residual split and the invariants.
 *
 * Pure: no clock, no randomness, no I/O. Entries arrive sorted by account with unique
 * accounts (see `parseInputs`), so every loop below walks them in one canonical order.
 *
 * @module
 */
import { assert } from "./assert.ts";
import { blake3Hex } from "./blake3.ts";
import { type Checkpoint, CHECKPOINT_MASK, NEVER_CANCELLED } from "./checkpoint.ts";
import { badRequest, type Result } from "./errors.ts";
import { type EntryTable, metricAt, metricIdOf } from "./entry_table.ts";
import type { ParsedInputs } from "./inputs.ts";
import { BPS_DENOMINATOR, I128_MAX, WATERFILL_ROUNDS_MAX } from "./limits.ts";
import type { Policy } from "./policy.ts";
import type { QuarantineReason } from "./types.ts";

/** One payout: account and amount in minor units (> 0). */
export interface Allocated {
  account: string;
  amountMinor: bigint;
}

/**
 * A column of non-negative bigints: a `BigInt64Array` when every value it can hold is proven
 * ≤ INT64_MAX before it is made (no heap object per value for the collector to trace), else
 * a `bigint[]`. Values are exact either way; a typed column is never written out of range.
 */
export type BigColumn = BigInt64Array | bigint[];

/** Largest value a `BigInt64Array` holds. */
const INT64_MAX = (1n << 63n) - 1n;

/** A zeroed column of `length` for values proven ≤ `bound`. */
function columnFor(length: number, bound: bigint): BigColumn {
  if (bound <= INT64_MAX) return new BigInt64Array(length);
  const out: bigint[] = [];
  for (let i = 0; i < length; i++) out.push(0n);
  return out;
}

/**
 * The payouts of an allocation as parallel columns, without an object per payout: position
 * `k` pays `amountsMinor[k]` (> 0) to `accounts[k]`; sorted by account.
 */
export interface AllocatedPayouts {
  readonly count: number;
  readonly accounts: readonly string[];
  readonly amountsMinor: Readonly<BigColumn>;
  /** Σ amountsMinor, recounted against the conservation invariant (contract §4.9). */
  readonly sumMinor: bigint;
}

/** The residual and its audit split (contract §4.8). */
export interface ResidualSplit {
  amountMinor: bigint;
  roundingMinor: bigint;
  belowMinMinor: bigint;
  cappedMinor: bigint;
}

/** The outcome of an allocation: sealed figures, or a quarantine with its reason. */
export interface Allocation {
  poolMinor: bigint;
  feeMinor: bigint;
  /** Payouts with amount > 0, sorted by account. Empty when quarantined. */
  payouts: AllocatedPayouts;
  residual: ResidualSplit;
  quarantine: QuarantineReason | null;
}

/** The payouts of `allocation` as one record each (tests and small tools). */
export function payoutsOf(allocation: Allocation): Allocated[] {
  const { accounts, amountsMinor } = allocation.payouts;
  return accounts.map((account, k) => ({ account, amountMinor: amountsMinor[k]! }));
}

const NO_PAYOUTS: AllocatedPayouts = {
  count: 0,
  accounts: [],
  amountsMinor: new BigInt64Array(0),
  sumMinor: 0n,
};

/** Marks an arithmetic bound breach; caught inside {@link allocate} and turned into quarantine. */
class Breach extends Error {
  constructor(readonly reason: QuarantineReason) {
    super(reason);
  }
}

function bounded(value: bigint): bigint {
  if (value > I128_MAX) throw new Breach("overflow");
  return value;
}

/**
 * Allocates the pool of `inputs` under `policy`. Bad requests (no pool when the policy wants
 * the inputs' pool) are returned as errors; invariant breaches are never thrown: they yield
 * a quarantined allocation (contract §4.9). `checkpoint` is called every CHECKPOINT_EVERY
 * iterations of each loop (src/core/checkpoint.ts); what it throws propagates unchanged.
 */
export function allocate(
  policy: Policy,
  inputs: ParsedInputs,
  inputsCid: string,
  checkpoint: Checkpoint = NEVER_CANCELLED,
): Result<Allocation> {
  let poolMinor: bigint;
  if (policy.pool.source === "fixed") {
    poolMinor = policy.pool.amountMinor;
  } else if (inputs.poolMinor === undefined) {
    return { ok: false, error: badRequest("pool_missing", "inputs.pool_minor") };
  } else {
    poolMinor = inputs.poolMinor;
  }
  if (policy.poolCapMinor !== null && policy.poolCapMinor < poolMinor) {
    poolMinor = policy.poolCapMinor;
  }
  const feeMinor = policy.fee === null ? 0n : (poolMinor * policy.fee.bps) / BPS_DENOMINATOR;
  const netMinor = poolMinor - feeMinor;
  try {
    return {
      ok: true,
      value: allocateNet(policy, inputs.table, inputsCid, poolMinor, feeMinor, checkpoint),
    };
  } catch (err) {
    if (!(err instanceof Breach)) throw err;
    return { ok: true, value: quarantined(poolMinor, feeMinor, netMinor, err.reason) };
  }
}

/** The quarantined shape of contract §6: no payouts, residual P − F all in rounding. */
function quarantined(
  poolMinor: bigint,
  feeMinor: bigint,
  netMinor: bigint,
  reason: QuarantineReason,
): Allocation {
  return {
    poolMinor,
    feeMinor,
    payouts: NO_PAYOUTS,
    residual: {
      amountMinor: netMinor,
      roundingMinor: netMinor,
      belowMinMinor: 0n,
      cappedMinor: 0n,
    },
    quarantine: reason,
  };
}

/**
 * Every entry's score and eligibility, by canonical position (columns, no object per entry).
 * Scores stay bigint: a score is bounded by I128_MAX only (contract §4.3).
 */
interface Scores {
  readonly values: Readonly<BigColumn>;
  /** 1 when the entry's score reaches the threshold (contract §4.4). */
  readonly eligible: Uint8Array;
  readonly accounts: readonly string[];
}

function allocateNet(
  policy: Policy,
  entries: EntryTable,
  inputsCid: string,
  poolMinor: bigint,
  feeMinor: bigint,
  checkpoint: Checkpoint,
): Allocation {
  const netMinor = poolMinor - feeMinor;
  const scores = scoreEntries(policy, entries, checkpoint);
  const n = entries.count;
  // Every amount is ≤ N: a share of at most the round's amount, itself ≤ N (contract §4.5–§4.6).
  const amounts = columnFor(n, netMinor);
  let cappedMinor = 0n;
  let roundingMinor = netMinor;

  if (policy.capMinor !== null && policy.capExcess === "redistribute") {
    const result = waterFill(
      policy,
      scores,
      inputsCid,
      netMinor,
      policy.capMinor,
      amounts,
      checkpoint,
    );
    cappedMinor = result.cappedMinor;
    roundingMinor = result.roundingMinor;
  } else {
    roundingMinor = netMinor -
      apportion(policy, scores, inputsCid, netMinor, null, amounts, checkpoint);
    const cap = policy.capMinor;
    if (cap !== null) {
      for (let i = 0; i < n; i++) {
        if ((i & CHECKPOINT_MASK) === 0) checkpoint();
        const amount = amounts[i]!;
        if (amount > cap) {
          cappedMinor += amount - cap;
          amounts[i] = cap;
        }
      }
    }
  }

  let belowMinMinor = 0n;
  const accounts: string[] = [];
  const paidColumn = columnFor(n, netMinor);
  let paidCount = 0;
  let payoutSumMinor = 0n;
  const minPayout = policy.minPayoutMinor;
  for (let i = 0; i < n; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    const amount = amounts[i]!;
    if (amount < 0n) throw new Breach("negative");
    if (amount === 0n) continue;
    if (amount < minPayout) {
      belowMinMinor += amount;
      continue;
    }
    payoutSumMinor = bounded(payoutSumMinor + amount);
    accounts.push(scores.accounts[i]!);
    paidColumn[paidCount++] = amount;
  }
  const paid = paidColumn instanceof BigInt64Array
    ? paidColumn.subarray(0, paidCount)
    : paidColumn.slice(0, paidCount);
  const residual: ResidualSplit = {
    amountMinor: roundingMinor + cappedMinor + belowMinMinor,
    roundingMinor,
    belowMinMinor,
    cappedMinor,
  };
  checkpoint();
  checkInvariants(poolMinor, feeMinor, payoutSumMinor, residual, paid, checkpoint);
  return {
    poolMinor,
    feeMinor,
    payouts: { count: paid.length, accounts, amountsMinor: paid, sumMinor: payoutSumMinor },
    residual,
    quarantine: null,
  };
}

/**
 * Conservation and sign checks (contract §4.9), computed from independently accumulated
 * parts: a bug anywhere above shows up here as a quarantine, never as a payment.
 */
function checkInvariants(
  poolMinor: bigint,
  feeMinor: bigint,
  payoutSumMinor: bigint,
  residual: ResidualSplit,
  paid: Readonly<BigColumn>,
  checkpoint: Checkpoint,
): void {
  const parts = [feeMinor, residual.roundingMinor, residual.belowMinMinor, residual.cappedMinor];
  if (parts.some((v) => v < 0n)) throw new Breach("negative");
  let recount = 0n;
  for (let k = 0; k < paid.length; k++) {
    if ((k & CHECKPOINT_MASK) === 0) checkpoint();
    const amount = paid[k]!;
    if (amount <= 0n) throw new Breach("negative");
    recount += amount;
  }
  bounded(recount);
  if (recount !== payoutSumMinor) throw new Breach("conservation");
  if (payoutSumMinor + feeMinor + residual.amountMinor !== poolMinor) {
    throw new Breach("conservation");
  }
}

/**
 * `score_i = Σ floor(metric * mul / div)`, each score ≤ I128_MAX (contract §4.3). Scores go
 * into a `BigInt64Array` while each is ≤ INT64_MAX (the column becomes a `bigint[]` at the
 * first one above).
 */
function scoreEntries(
  policy: Policy,
  entries: EntryTable,
  checkpoint: Checkpoint,
): Scores {
  const threshold = policy.minScore > 1n ? policy.minScore : 1n;
  // The terms whose metric some entry has, in policy order; a factor of 1 costs no operation.
  const terms = policy.score
    .map((term) => ({
      id: metricIdOf(entries, term.metric),
      mul: term.mul,
      div: term.div,
      timesOne: term.mul === 1n,
      overOne: term.div === 1n,
    }))
    .filter((term) => term.id >= 0);
  const n = entries.count;
  let values: BigColumn = new BigInt64Array(n);
  const eligible = new Uint8Array(n);
  const accounts = entries.accounts;
  for (let i = 0; i < n; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    if (i > 0) assert(accounts[i - 1]! < accounts[i]!, "entries sorted and unique");
    let score = 0n;
    for (let t = 0; t < terms.length; t++) {
      const term = terms[t]!;
      const value = metricAt(entries, i, term.id);
      if (value === undefined) continue;
      let part = BigInt(value);
      if (!term.timesOne) part *= term.mul;
      if (!term.overOne) part /= term.div;
      score = bounded(score === 0n ? part : score + part);
    }
    if (score > INT64_MAX && values instanceof BigInt64Array) values = Array.from(values);
    values[i] = score;
    if (score >= threshold) eligible[i] = 1;
  }
  return { values, eligible, accounts };
}

/**
 * Steps 4–5 over the eligible entries not in `excluded` (1 = excluded): writes their amounts
 * into `amounts`, returns their sum. `W` is bounded by I128_MAX; `N * score` is exact and
 * unbounded. Each member costs one product, one quotient and (largest remainder) the
 * remainder `product − share × W`.
 */
function apportion(
  policy: Policy,
  scores: Scores,
  inputsCid: string,
  amountMinor: bigint,
  excluded: Uint8Array | null,
  amounts: BigColumn,
  checkpoint: Checkpoint,
): bigint {
  const { values, eligible } = scores;
  const n = values.length;
  const members = new Int32Array(n);
  let m = 0;
  let weight = 0n;
  for (let i = 0; i < n; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    if (eligible[i] === 0 || (excluded !== null && excluded[i] === 1)) continue;
    members[m++] = i;
    weight = bounded(weight + values[i]!);
  }
  if (weight === 0n || amountMinor === 0n) {
    for (let k = 0; k < m; k++) amounts[members[k]!] = 0n;
    return 0n;
  }
  // Remainders are < W.
  const remainders = policy.allocation === "largest_remainder" ? columnFor(m, weight) : null;
  let sum = 0n;
  for (let k = 0; k < m; k++) {
    if ((k & CHECKPOINT_MASK) === 0) checkpoint();
    const i = members[k]!;
    const product = amountMinor * values[i]!;
    const share = product / weight;
    amounts[i] = share;
    if (remainders !== null) remainders[k] = product - share * weight;
    sum += share;
  }
  if (remainders !== null) {
    const leftover = amountMinor - sum;
    assert(leftover >= 0n && leftover < BigInt(m), "leftover below member count");
    const picked = largestRemainders(
      remainders,
      members,
      scores.accounts,
      inputsCid,
      Number(leftover),
      checkpoint,
    );
    for (let p = 0; p < picked.length; p++) {
      const i = members[picked[p]!]!;
      amounts[i] = amounts[i]! + 1n;
    }
    sum += leftover;
  }
  return sum;
}

/**
 * Picks `count` member positions with the largest remainders; ties go to the smaller tie
 * key `hex(BLAKE3("svc-rewarder/tie/v1|" + inputs_cid + "|" + account))` (contract §4.5).
 * The boundary remainder (the count-th largest) is found by selection, not by sorting every
 * remainder; tie keys are hashed only for the boundary class, and only when it holds more
 * members than places left (the only case where they decide).
 */
function largestRemainders(
  remainders: Readonly<BigColumn>,
  members: Int32Array,
  accounts: readonly string[],
  inputsCid: string,
  count: number,
  checkpoint: Checkpoint,
): number[] {
  if (count === 0) return [];
  const boundary = kthLargest(remainders, count, checkpoint);
  const chosen: number[] = [];
  const ties: number[] = [];
  for (let k = 0; k < remainders.length; k++) {
    if ((k & CHECKPOINT_MASK) === 0) checkpoint();
    const r = remainders[k]!;
    if (r > boundary) chosen.push(k);
    else if (r === boundary) ties.push(k);
  }
  const places = count - chosen.length;
  assert(places > 0 && places <= ties.length, "the boundary class fills the places left");
  if (places === ties.length) {
    for (const k of ties) chosen.push(k);
    return chosen;
  }
  const keyed: { k: number; key: string }[] = [];
  for (let t = 0; t < ties.length; t++) {
    if ((t & CHECKPOINT_MASK) === 0) checkpoint();
    const k = ties[t]!;
    keyed.push({ k, key: blake3Hex(`svc-rewarder/tie/v1|${inputsCid}|${accounts[members[k]!]}`) });
  }
  checkpoint();
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let t = 0; t < places; t++) chosen.push(keyed[t]!.k);
  return chosen;
}

/** Descending bigint order. */
function descending(a: bigint, b: bigint): number {
  return a > b ? -1 : a < b ? 1 : 0;
}

/** Ranges this short are sorted rather than partitioned. */
const SELECT_SORT_BELOW = 32;

/**
 * The `rank`-th largest value of `values` (1-based, 1 ≤ rank ≤ length): three-way
 * quickselect (duplicates, common among remainders, end a round at once) on a copy, with a
 * median-of-three pivot. After 2·log2(n) + 8 partitioning rounds what remains is sorted, so
 * the cost stays O(n log n) whatever the values.
 */
export function kthLargest(
  values: Readonly<BigColumn>,
  rank: number,
  checkpoint: Checkpoint = NEVER_CANCELLED,
): bigint {
  if (!Number.isSafeInteger(rank) || rank < 1 || rank > values.length) {
    throw new RangeError(`Cannot select: rank ${rank} is outside 1..${values.length}`);
  }
  const a = values.slice();
  const target = rank - 1; // index in descending order
  let lo = 0;
  let hi = a.length; // the range [lo, hi) holds the target
  let rounds = 0;
  const roundsMax = 2 * Math.ceil(Math.log2(a.length + 1)) + 8;
  let steps = 0;
  for (;;) {
    checkpoint();
    if (hi - lo < SELECT_SORT_BELOW || ++rounds > roundsMax) {
      return a.slice(lo, hi).sort(descending)[target - lo]!;
    }
    const x = a[lo]!;
    const y = a[(lo + hi) >>> 1]!;
    const z = a[hi - 1]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    // [lo, gt) > pivot, [gt, i) = pivot, [lt, hi) < pivot.
    let gt = lo;
    let i = lo;
    let lt = hi;
    while (i < lt) {
      if ((++steps & CHECKPOINT_MASK) === 0) checkpoint();
      const v = a[i]!;
      if (v > pivot) {
        a[i] = a[gt]!;
        a[gt] = v;
        gt++;
        i++;
      } else if (v < pivot) {
        lt--;
        a[i] = a[lt]!;
        a[lt] = v;
      } else {
        i++;
      }
    }
    if (target < gt) hi = gt;
    else if (target >= lt) lo = lt;
    else return pivot;
  }
}

/**
 * Step 6, `redistribute`: water-filling. Each round allocates `N − cap·|C|` over the eligible
 * entries outside C and caps every entry above the cap; it ends when a round caps no one.
 */
function waterFill(
  policy: Policy,
  scores: Scores,
  inputsCid: string,
  netMinor: bigint,
  capMinor: bigint,
  amounts: BigColumn,
  checkpoint: Checkpoint,
): { cappedMinor: bigint; roundingMinor: bigint } {
  const n = scores.values.length;
  const capped = new Uint8Array(n);
  let cappedCount = 0;
  let eligibleCount = 0;
  for (let i = 0; i < n; i++) eligibleCount += scores.eligible[i]!;
  for (let round = 0; round < WATERFILL_ROUNDS_MAX; round++) {
    const roundMinor = netMinor - capMinor * BigInt(cappedCount);
    assert(roundMinor >= 0n, "water-filling round amount is non-negative");
    const allocated = apportion(policy, scores, inputsCid, roundMinor, capped, amounts, checkpoint);
    let added = 0;
    for (let i = 0; i < n; i++) {
      if ((i & CHECKPOINT_MASK) === 0) checkpoint();
      if (scores.eligible[i] === 1 && capped[i] === 0 && amounts[i]! > capMinor) {
        capped[i] = 1;
        added++;
      }
    }
    cappedCount += added;
    if (added === 0) {
      for (let i = 0; i < n; i++) if (capped[i] === 1) amounts[i] = capMinor;
      const allCapped = cappedCount > 0 && cappedCount === eligibleCount;
      return {
        cappedMinor: allCapped ? roundMinor : 0n,
        roundingMinor: allCapped ? 0n : roundMinor - allocated,
      };
    }
  }
  throw new Error("water-filling did not converge within WATERFILL_ROUNDS_MAX rounds");
}
