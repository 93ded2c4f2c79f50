/**
 * The largest-remainder cut by selection (contract §4.5) of `allocate.ts`: `kthLargest`
 * against a full sort. Whole epochs with large tie classes against the independent reference
 * implementation: tests/allocate_ties_reference_test.ts.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { kthLargest } from "./allocate.ts";

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
