/**
 * The largest-remainder cut by selection (contract §4.5) and the int64 columns of
 * `allocate.ts`, at sizes where they matter: `kthLargest` against a full sort, and whole
 * epochs of hundreds to a thousand entries with large tie classes (few distinct scores, so
 * the boundary class holds more members than places left) against the independent reference
 * implementation (tests/reference/), with pools and scores on both sides of INT64_MAX (the
 * typed and the `bigint[]` columns).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { refCanonicalJson, refCompute } from "../../tests/reference/reference_impl.ts";
import { kthLargest } from "./allocate.ts";
import { canonicalJson } from "./canonical_json.ts";
import { computeManifest } from "./compute.ts";
import { parsePolicy, policyHashOf } from "./policy.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 1000);
const seedEnv = Deno.env.get("FC_SEED");
const seed = seedEnv ? { seed: Number(seedEnv) } : {};
const INT64_MAX = (1n << 63n) - 1n;

function descendingSorted(values: readonly bigint[]): bigint[] {
  return [...values].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
}

Deno.test("kthLargest: the rank-th value of a descending sort, duplicates and all", () => {
  const value = fc.oneof(
    fc.bigInt({ min: 0n, max: 3n }),
    fc.bigInt({ min: 0n, max: INT64_MAX }),
    fc.bigInt({ min: 0n, max: (1n << 127n) - 1n }),
  );
  fc.assert(
    fc.property(
      fc.array(value, { minLength: 1, maxLength: 400 }),
      fc.nat(),
      (values, r) => {
        const rank = 1 + (r % values.length);
        const expected = descendingSorted(values)[rank - 1];
        assert.equal(kthLargest(values, rank), expected);
        if (values.every((v) => v <= INT64_MAX)) {
          assert.equal(kthLargest(BigInt64Array.from(values), rank), expected);
        }
      },
    ),
    { numRuns: RUNS, ...seed },
  );
});

Deno.test("kthLargest: 100k values, all equal, sorted, reversed, two classes; bad ranks throw", () => {
  const n = 100_000;
  const shapes: bigint[][] = [
    Array.from({ length: n }, () => 7n),
    Array.from({ length: n }, (_, i) => BigInt(i)),
    Array.from({ length: n }, (_, i) => BigInt(n - i)),
    Array.from({ length: n }, (_, i) => BigInt(i % 2)),
  ];
  for (const values of shapes) {
    const sorted = descendingSorted(values);
    for (const rank of [1, 2, n >> 1, n - 1, n]) {
      assert.equal(kthLargest(values, rank), sorted[rank - 1]);
      assert.equal(kthLargest(BigInt64Array.from(values), rank), sorted[rank - 1]);
    }
  }
  assert.throws(() => kthLargest([1n], 0), RangeError);
  assert.throws(() => kthLargest([1n], 2), RangeError);
  // The input is left as it was (selection works on a copy).
  const input = [3n, 1n, 2n];
  kthLargest(input, 2);
  assert.deepEqual(input, [3n, 1n, 2n]);
});

const epochArb = fc.record({
  count: fc.integer({ min: 200, max: 1_200 }),
  // Few distinct metric values: many equal scores, so large tie classes at the boundary.
  distinct: fc.integer({ min: 1, max: 6 }),
  big: fc.boolean(),
  pool: fc.oneof(
    fc.bigInt({ min: 0n, max: 10n ** 6n }),
    fc.bigInt({ min: 10n ** 6n, max: INT64_MAX }),
    fc.bigInt({ min: INT64_MAX, max: 10n ** 30n }),
  ),
  cap: fc.option(fc.bigInt({ min: 1n, max: 10n ** 5n }), { nil: undefined }),
  capExcess: fc.constantFrom("residual", "redistribute"),
  minPayout: fc.option(fc.bigInt({ min: 1n, max: 50n }), { nil: undefined }),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

Deno.test("allocate at scale with large tie classes agrees with the reference byte for byte", () => {
  fc.assert(
    fc.property(epochArb, (e) => {
      let state = e.seed;
      const next = () => {
        state = (state * 48271) % 2147483647;
        return state;
      };
      const entries = [];
      for (let i = 0; i < e.count; i++) {
        const base = BigInt(1 + (next() % e.distinct));
        // Scores above INT64_MAX for some epochs: the scores' column is then a bigint[].
        const a = e.big ? base * 10n ** 20n : base;
        entries.push({
          account: `acct:${(next() % 1_000_000).toString(36)}:${i}`,
          metrics: { a: String(a), b: String(next() % 2) },
        });
      }
      const policyDoc = {
        schema: "svc-rewarder.policy.v1",
        policy_id: "select",
        version: 1,
        asset: "roc",
        funding_source: "protocol_pool",
        pool: { source: "inputs" },
        score: [{ metric: "a", mul: "1", div: "1" }, { metric: "b", mul: "3", div: "2" }],
        allocation: "largest_remainder",
        fee: { bps: 250, account: "treasury" },
        ...(e.cap === undefined ? {} : { cap_minor: String(e.cap), cap_excess: e.capExcess }),
        ...(e.minPayout === undefined ? {} : { min_payout_minor: String(e.minPayout) }),
      };
      const text = JSON.stringify({
        schema: "svc-rewarder.inputs.v1",
        epoch_id: "select",
        asset: "roc",
        pool_minor: String(e.pool),
        entries,
      });
      const bytes = new TextEncoder().encode(text);
      const parsed = parsePolicy(policyDoc);
      assert.ok(parsed.ok);
      const ours = computeManifest({
        epochId: "select",
        inputsBytes: bytes,
        policy: parsed.value.policy,
        policyHash: policyHashOf(policyDoc),
      });
      const ref = refCompute({ epochId: "select", inputsBytes: bytes, policyDoc });
      assert.ok(ours.ok && ref.ok);
      assert.equal(canonicalJson(ours.value.manifest), refCanonicalJson(ref.manifest));
      assert.equal(ours.value.manifestHash, ref.manifestHash);
    }),
    { numRuns: Math.max(10, Math.floor(RUNS / 100)), ...seed },
  );
});
