import assert from "node:assert/strict";
import { test } from "node:test";
import type { Manifest } from "../../src/core/types.ts";
import { giniOf, histogramOf, lorenzOf, ratioToDecimal, waterfallOf } from "./stats.ts";

function manifestOf(amounts: Record<string, bigint>, extra: Partial<Manifest["totals"]> = {}) {
  const accounts = Object.keys(amounts).sort();
  const payout = accounts.reduce((s, a) => s + amounts[a]!, 0n);
  return {
    payouts: accounts.map((account) => ({ account, amount_minor: String(amounts[account]) })),
    totals: {
      pool_minor: String(payout + 7n),
      fee_minor: "5",
      payout_minor: String(payout),
      residual_minor: "2",
      recipients: accounts.length,
      ...extra,
    },
    residual: { rounding_minor: "1", below_min_minor: "1", capped_minor: "0" },
  } as unknown as Manifest;
}

test("Gini: exact ratios on hand-computed cases", () => {
  assert.deepEqual(giniOf([5n, 5n, 5n, 5n]), { num: 0n, den: 20n * 4n });
  // [1, 3]: mean absolute difference 2·2 / (2·n²·μ) = 4 / 16 = 0.25
  const g = giniOf([1n, 3n]);
  assert.equal(ratioToDecimal(g.num, g.den, 4), "0.2500");
  // one of n holds everything: (n-1)/n
  const h = giniOf([0n, 0n, 0n, 8n]);
  assert.equal(ratioToDecimal(h.num, h.den, 2), "0.75");
  assert.deepEqual(giniOf([]), { num: 0n, den: 1n });
});

test("Lorenz ends at (1,1); histogram bins hold every amount; waterfall reaches 0", () => {
  const amounts = [1n, 2n, 2n, 10n, 10n ** 30n];
  const points = lorenzOf(amounts);
  assert.deepEqual(points[0], { x: 0, y: 0 });
  assert.deepEqual(points.at(-1), { x: 1, y: 1 });
  const bins = histogramOf(amounts);
  assert.equal(bins.reduce((s, b) => s + b.count, 0), amounts.length);
  assert.ok(bins.at(-1)!.highMinor >= 10n ** 30n);
  const w = waterfallOf(manifestOf({ a: 3n, b: 4n }));
  assert.equal(w.conserves, true);
  assert.equal(w.steps.at(-1)!.fromMinor, 0n);
  assert.equal(waterfallOf(manifestOf({ a: 3n }, { fee_minor: "6" })).conserves, false);
});
