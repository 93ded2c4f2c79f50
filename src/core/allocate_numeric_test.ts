/**
 * The exact double path of the allocation (`allocate_numeric.ts`) against bigint arithmetic:
 * its integer kernels at and near their bounds, and whole allocations against
 * `allocateReference` (the bigint path) on random policies and epochs, figure for figure.
 * Reproduce a failure with `FC_SEED=<seed> deno test -A src/core/allocate_numeric_test.ts`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { allocate, allocateReference } from "./allocate.ts";
import { floorDiv, kthSmallest, mulDivFloor, WEIGHT_MAX } from "./allocate_numeric.ts";
import { parseInputs } from "./inputs.ts";
import { parsePolicy } from "./policy.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 1000);
const seedEnv = Deno.env.get("FC_SEED");
const params = { numRuns: RUNS, ...(seedEnv ? { seed: Number(seedEnv) } : {}) };
const CID = "b3:" + "cd".repeat(32);
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Integers in [0, max], biased to both ends (where a rounding error would show). */
function edgy(max: bigint): fc.Arbitrary<bigint> {
  return fc.oneof(
    fc.bigInt({ min: 0n, max }),
    fc.bigInt({ min: 0n, max: 1000n }).map((d) => (max - d < 0n ? 0n : max - d)),
    fc.bigInt({ min: 0n, max: 1000n }).map((d) => (d > max ? max : d)),
    fc.integer({ min: 0, max: 62 }).map((e) => {
      const v = 1n << BigInt(e);
      return v > max ? max : v;
    }),
  );
}

Deno.test("mulDivFloor is floor(a·b / w) and a·b mod w exactly, up to its bounds", () => {
  const out = new Float64Array(2);
  fc.assert(
    fc.property(edgy(SAFE), edgy(BigInt(WEIGHT_MAX)), edgy(BigInt(WEIGHT_MAX)), (a, x, y) => {
      const w = (x > y ? x : y) || 1n;
      const b = x > y ? y : x;
      mulDivFloor(Number(a), Number(b), Number(w), out);
      assert.equal(BigInt(out[0]!), (a * b) / w, `${a} ${b} ${w}`);
      assert.equal(BigInt(out[1]!), (a * b) % w, `${a} ${b} ${w}`);
    }),
    { ...params, numRuns: RUNS * 20 },
  );
});

Deno.test("floorDiv is floor(x / d) exactly for x, d ≤ 2^52", () => {
  fc.assert(
    fc.property(edgy(1n << 52n), edgy(1n << 52n), (x, d0) => {
      const d = d0 === 0n ? 1n : d0;
      assert.equal(BigInt(floorDiv(Number(x), Number(d))), x / d, `${x} ${d}`);
    }),
    { ...params, numRuns: RUNS * 20 },
  );
});

Deno.test("kthSmallest is the k-th value of the ascending sort", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: -1, max: 5 }), fc.nat()), { minLength: 1 }),
      fc.nat(),
      (xs, k0) => {
        const k = k0 % xs.length;
        const sorted = Float64Array.from(xs).sort();
        assert.equal(kthSmallest(Float64Array.from(xs), k), sorted[k]);
      },
    ),
    params,
  );
});

const metric = fc.oneof(
  { weight: 8, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 6n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 16n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 30n }) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 1n, 7n) },
);
const entriesArb = fc.uniqueArray(
  fc.record({
    account: fc.stringMatching(/^[a-z0-9:]{1,6}$/),
    a: fc.option(metric, { nil: undefined }),
    b: metric,
  }),
  { selector: (e) => e.account, maxLength: 30 },
);
const money = (max: bigint) => fc.bigInt({ min: 0n, max }).map(String);
const policyArb = fc.record({
  allocation: fc.constantFrom("floor", "largest_remainder"),
  pool: fc.oneof(money(1000n), money(10n ** 15n), money(SAFE + 10n), money(10n ** 20n)),
  fee: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
  cap: fc.option(fc.oneof(money(5n), money(100n), money(10n ** 12n)), { nil: undefined }),
  minPayout: fc.option(fc.oneof(money(4n), money(1000n)), { nil: undefined }),
  minScore: fc.option(money(100n), { nil: undefined }),
  mulA: fc.oneof(money(10n), money(10n ** 20n)),
  divB: fc.oneof(fc.bigInt({ min: 1n, max: 7n }), fc.bigInt({ min: 1n, max: 10n ** 18n }))
    .map(String),
});

Deno.test("whole allocations: the exact double path equals the bigint path, figure for figure", () => {
  fc.assert(
    fc.property(policyArb, entriesArb, (p, entries) => {
      const policy = parsePolicy({
        schema: "svc-rewarder.policy.v1",
        policy_id: "prop",
        version: 1,
        asset: "roc",
        funding_source: "protocol_pool",
        pool: { source: "inputs" },
        score: [{ metric: "a", mul: p.mulA, div: "1" }, { metric: "b", mul: "3", div: p.divB }],
        allocation: p.allocation,
        ...(p.fee === undefined ? {} : { fee: { bps: p.fee, account: "treasury" } }),
        ...(p.cap === undefined ? {} : { cap_minor: p.cap }),
        ...(p.minPayout === undefined ? {} : { min_payout_minor: p.minPayout }),
        ...(p.minScore === undefined ? {} : { min_score: p.minScore }),
      });
      assert.ok(policy.ok);
      const inputs = parseInputs(JSON.stringify({
        schema: "svc-rewarder.inputs.v1",
        epoch_id: "prop",
        asset: "roc",
        pool_minor: p.pool,
        entries: entries.map((e) => ({
          account: e.account,
          metrics: { ...(e.a === undefined ? {} : { a: String(e.a) }), b: String(e.b) },
        })),
      }));
      assert.ok(inputs.ok);
      const fast = allocate(policy.value.policy, inputs.value, CID);
      const reference = allocateReference(policy.value.policy, inputs.value, CID);
      assert.deepEqual(fast, reference);
    }),
    params,
  );
});
