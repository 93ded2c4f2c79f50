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
  payouts: Allocated[];
  residual: ResidualSplit;
  quarantine: QuarantineReason | null;
}

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
    payouts: [],
    residual: {
      amountMinor: netMinor,
      roundingMinor: netMinor,
      belowMinMinor: 0n,
      cappedMinor: 0n,
    },
    quarantine: reason,
  };
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
  const scored = scoreEntries(policy, entries, checkpoint);
  const amounts = new Array<bigint>(scored.length).fill(0n);
  let cappedMinor = 0n;
  let roundingMinor = netMinor;

  if (policy.capMinor !== null && policy.capExcess === "redistribute") {
    const result = waterFill(
      policy,
      scored,
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
      apportion(policy, scored, inputsCid, netMinor, null, amounts, checkpoint);
    if (policy.capMinor !== null) {
      for (let i = 0; i < amounts.length; i++) {
        if ((i & CHECKPOINT_MASK) === 0) checkpoint();
        if (amounts[i]! > policy.capMinor) {
          cappedMinor += amounts[i]! - policy.capMinor;
          amounts[i] = policy.capMinor;
        }
      }
    }
  }

  let belowMinMinor = 0n;
  const payouts: Allocated[] = [];
  let payoutSumMinor = 0n;
  for (let i = 0; i < scored.length; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    const amount = amounts[i]!;
    if (amount < 0n) throw new Breach("negative");
    if (amount === 0n) continue;
    if (amount < policy.minPayoutMinor) {
      belowMinMinor += amount;
      continue;
    }
    payoutSumMinor = bounded(payoutSumMinor + amount);
    payouts.push({ account: scored[i]!.account, amountMinor: amount });
  }
  const residual: ResidualSplit = {
    amountMinor: roundingMinor + cappedMinor + belowMinMinor,
    roundingMinor,
    belowMinMinor,
    cappedMinor,
  };
  checkpoint();
  checkInvariants(poolMinor, feeMinor, payoutSumMinor, residual, payouts);
  return { poolMinor, feeMinor, payouts, residual, quarantine: null };
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
  payouts: readonly Allocated[],
): void {
  const parts = [feeMinor, residual.roundingMinor, residual.belowMinMinor, residual.cappedMinor];
  if (parts.some((v) => v < 0n)) throw new Breach("negative");
  let recount = 0n;
  for (const p of payouts) {
    if (p.amountMinor <= 0n) throw new Breach("negative");
    recount += p.amountMinor;
  }
  bounded(recount);
  if (recount !== payoutSumMinor) throw new Breach("conservation");
  if (payoutSumMinor + feeMinor + residual.amountMinor !== poolMinor) {
    throw new Breach("conservation");
  }
}

/** An eligible-or-not entry with its score. */
interface Scored {
  account: string;
  score: bigint;
  eligible: boolean;
}

/** `score_i = Σ floor(metric * mul / div)`, each score ≤ I128_MAX (contract §4.3). */
function scoreEntries(
  policy: Policy,
  entries: EntryTable,
  checkpoint: Checkpoint,
): Scored[] {
  const threshold = policy.minScore > 1n ? policy.minScore : 1n;
  const ids = policy.score.map((term) => metricIdOf(entries, term.metric));
  const out: Scored[] = new Array(entries.count);
  for (let i = 0; i < entries.count; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    const account = entries.accounts[i]!;
    if (i > 0) assert(entries.accounts[i - 1]! < account, "entries sorted and unique");
    let score = 0n;
    for (let t = 0; t < ids.length; t++) {
      if (ids[t]! < 0) continue;
      const value = metricAt(entries, i, ids[t]!);
      if (value === undefined) continue;
      const term = policy.score[t]!;
      score = bounded(score + (BigInt(value) * term.mul) / term.div);
    }
    out[i] = { account, score, eligible: score >= threshold };
  }
  return out;
}

/**
 * Steps 4–5 over the eligible entries not in `excluded`: writes amounts into `amounts`,
 * returns their sum. `W` is bounded by I128_MAX; `N * score` is exact and unbounded.
 */
function apportion(
  policy: Policy,
  scored: readonly Scored[],
  inputsCid: string,
  amountMinor: bigint,
  excluded: ReadonlySet<number> | null,
  amounts: bigint[],
  checkpoint: Checkpoint,
): bigint {
  const members: number[] = [];
  let weight = 0n;
  for (let i = 0; i < scored.length; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    if (!scored[i]!.eligible || excluded?.has(i)) continue;
    members.push(i);
    weight = bounded(weight + scored[i]!.score);
  }
  if (weight === 0n || amountMinor === 0n) {
    for (const i of members) amounts[i] = 0n;
    return 0n;
  }
  let sum = 0n;
  const remainders = new Array<bigint>(members.length);
  for (let k = 0; k < members.length; k++) {
    if ((k & CHECKPOINT_MASK) === 0) checkpoint();
    const product = amountMinor * scored[members[k]!]!.score;
    const share = product / weight;
    amounts[members[k]!] = share;
    remainders[k] = product % weight;
    sum += share;
  }
  if (policy.allocation === "largest_remainder") {
    const leftover = amountMinor - sum;
    assert(leftover >= 0n && leftover < BigInt(members.length), "leftover below member count");
    const picked = largestRemainders(
      members,
      remainders,
      scored,
      inputsCid,
      Number(leftover),
      checkpoint,
    );
    for (const k of picked) {
      amounts[members[k]!] = amounts[members[k]!]! + 1n;
    }
    sum += leftover;
  }
  return sum;
}

/**
 * Picks `count` member positions with the largest remainders; ties go to the smaller tie
 * key `hex(BLAKE3("svc-rewarder/tie/v1|" + inputs_cid + "|" + account))` (contract §4.5).
 * Tie keys are hashed only for the boundary remainder class, the only place they decide.
 */
function largestRemainders(
  members: readonly number[],
  remainders: readonly bigint[],
  scored: readonly Scored[],
  inputsCid: string,
  count: number,
  checkpoint: Checkpoint,
): number[] {
  if (count === 0) return [];
  // Selection on float approximations, exact bigint order only where they tie: Number() on a
  // bigint is monotonic (a ≤ b ⇒ Number(a) ≤ Number(b)), so an approximation strictly above
  // the cut is an exact remainder strictly above every one at or below it. Measured on 1M
  // remainders: ~150 ms against ~1 s for a full bigint sort (bench/engine_bench.ts).
  const n = members.length;
  const approx = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    if ((k & CHECKPOINT_MASK) === 0) checkpoint();
    approx[k] = Number(remainders[k]!);
  }
  checkpoint();
  const cut = approx.slice().sort()[n - count]!;
  checkpoint();
  const chosen: number[] = [];
  const group: number[] = [];
  for (let k = 0; k < n; k++) {
    if (approx[k]! > cut) chosen.push(k);
    else if (approx[k] === cut) group.push(k);
  }
  assert(chosen.length < count, "fewer than count remainders lie strictly above the cut");
  group.sort((
    a,
    b,
  ) => (remainders[a]! > remainders[b]! ? -1 : remainders[a]! < remainders[b]! ? 1 : 0));
  const boundary = remainders[group[count - chosen.length - 1]!]!;
  const ties: { k: number; key: string }[] = [];
  for (let g = 0; g < group.length; g++) {
    if ((g & CHECKPOINT_MASK) === 0) checkpoint();
    const k = group[g]!;
    const r = remainders[k]!;
    if (r > boundary) chosen.push(k);
    else if (r === boundary) {
      ties.push({
        k,
        key: blake3Hex(`svc-rewarder/tie/v1|${inputsCid}|${scored[members[k]!]!.account}`),
      });
    }
  }
  ties.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let t = 0; chosen.length < count; t++) chosen.push(ties[t]!.k);
  return chosen;
}

/**
 * Step 6, `redistribute`: water-filling. Each round allocates `N − cap·|C|` over the eligible
 * entries outside C and caps every entry above the cap; it ends when a round caps no one.
 */
function waterFill(
  policy: Policy,
  scored: readonly Scored[],
  inputsCid: string,
  netMinor: bigint,
  capMinor: bigint,
  amounts: bigint[],
  checkpoint: Checkpoint,
): { cappedMinor: bigint; roundingMinor: bigint } {
  const capped = new Set<number>();
  let eligibleCount = 0;
  for (const s of scored) if (s.eligible) eligibleCount++;
  for (let round = 0; round < WATERFILL_ROUNDS_MAX; round++) {
    const roundMinor = netMinor - capMinor * BigInt(capped.size);
    assert(roundMinor >= 0n, "water-filling round amount is non-negative");
    const allocated = apportion(policy, scored, inputsCid, roundMinor, capped, amounts, checkpoint);
    let added = 0;
    for (let i = 0; i < scored.length; i++) {
      if ((i & CHECKPOINT_MASK) === 0) checkpoint();
      if (scored[i]!.eligible && !capped.has(i) && amounts[i]! > capMinor) {
        capped.add(i);
        added++;
      }
    }
    if (added === 0) {
      for (const i of capped) amounts[i] = capMinor;
      const allCapped = capped.size > 0 && capped.size === eligibleCount;
      return {
        cappedMinor: allCapped ? roundMinor : 0n,
        roundingMinor: allCapped ? 0n : roundMinor - allocated,
      };
    }
  }
  throw new Error("water-filling did not converge within WATERFILL_ROUNDS_MAX rounds");
}
