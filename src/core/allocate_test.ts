/**
 * Property tests of the economic invariants (contract §4). Each property runs ≥ 1,000 cases;
 * fast-check prints the seed and the shrunk counterexample on failure
 * (reproduce with `FC_SEED=<seed> deno test -A src/core/allocate_test.ts`).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { allocate, payoutsOf } from "./allocate.ts";
import { canonicalJson } from "./canonical_json.ts";
import { parseInputs } from "./inputs.ts";
import { I128_MAX } from "./limits.ts";
import { buildManifest } from "./manifest.ts";
import { parsePolicy, type Policy } from "./policy.ts";
import type { Manifest } from "./types.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 1000);
const seedEnv = Deno.env.get("FC_SEED");
const params = { numRuns: RUNS, ...(seedEnv ? { seed: Number(seedEnv) } : {}) };
const CID = "b3:" + "ab".repeat(32);

const metricValue = fc.oneof(
  { weight: 8, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 6n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 30n }) },
);
const entriesArb = fc.uniqueArray(
  fc.record({ account: fc.stringMatching(/^[a-z0-9:]{1,8}$/), a: metricValue, b: metricValue }),
  { selector: (e) => e.account, maxLength: 25 },
);
const money = (max: bigint) => fc.bigInt({ min: 0n, max }).map(String);
const policyArb = fc.record({
  allocation: fc.constantFrom("floor", "largest_remainder"),
  pool: money(10n ** 15n),
  fee: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
  cap: fc.option(money(10n ** 12n), { nil: undefined }),
  capExcess: fc.constantFrom("residual", "redistribute"),
  minPayout: fc.option(money(1000n), { nil: undefined }),
  minScore: fc.option(money(100n), { nil: undefined }),
  divB: fc.bigInt({ min: 1n, max: 7n }).map(String),
});

type PolicyArb = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;
type EntryArb = typeof entriesArb extends fc.Arbitrary<infer T> ? T : never;

function policyDoc(p: PolicyArb): Record<string, unknown> {
  return {
    schema: "svc-rewarder.policy.v1",
    policy_id: "prop",
    version: 1,
    asset: "roc",
    funding_source: "protocol_pool",
    pool: { source: "inputs" },
    score: [{ metric: "a", mul: "1", div: "1" }, { metric: "b", mul: "3", div: p.divB }],
    allocation: p.allocation,
    ...(p.fee === undefined ? {} : { fee: { bps: p.fee, account: "treasury" } }),
    ...(p.cap === undefined ? {} : { cap_minor: p.cap, cap_excess: p.capExcess }),
    ...(p.minPayout === undefined ? {} : { min_payout_minor: p.minPayout }),
    ...(p.minScore === undefined ? {} : { min_score: p.minScore }),
  };
}

function inputsText(pool: string, entries: EntryArb): string {
  return JSON.stringify({
    schema: "svc-rewarder.inputs.v1",
    epoch_id: "prop",
    asset: "roc",
    pool_minor: pool,
    entries: entries.map((e) => ({
      account: e.account,
      metrics: { a: String(e.a), b: String(e.b) },
    })),
  });
}

function run(p: PolicyArb, entries: EntryArb): { manifest: Manifest; policy: Policy } {
  const parsedPolicy = parsePolicy(policyDoc(p));
  assert.ok(parsedPolicy.ok);
  const inputs = parseInputs(inputsText(p.pool, entries));
  assert.ok(inputs.ok);
  const allocation = allocate(parsedPolicy.value.policy, inputs.value, CID);
  assert.ok(allocation.ok);
  const header = { epochId: "prop", runKey: CID, inputsCid: CID, policyHash: CID };
  return {
    manifest: buildManifest(header, parsedPolicy.value.policy, allocation.value),
    policy: parsedPolicy.value.policy,
  };
}

function scoreOf(policy: Policy, e: EntryArb[number]): bigint {
  const m: Record<string, bigint> = { a: e.a, b: e.b };
  return policy.score.reduce((s, t) => s + (m[t.metric]! * t.mul) / t.div, 0n);
}

Deno.test("conservation: payouts + fee + residual = pool, and the residual split adds up", () => {
  fc.assert(
    fc.property(policyArb, entriesArb, (p, entries) => {
      const { manifest: m } = run(p, entries);
      const sum = m.payouts.reduce((s, x) => s + BigInt(x.amount_minor), 0n);
      assert.equal(sum, BigInt(m.totals.payout_minor));
      assert.equal(
        sum + BigInt(m.totals.fee_minor) + BigInt(m.totals.residual_minor),
        BigInt(m.totals.pool_minor),
      );
      const r = m.residual;
      assert.equal(
        BigInt(r.rounding_minor) + BigInt(r.below_min_minor) + BigInt(r.capped_minor),
        BigInt(r.amount_minor),
      );
    }),
    params,
  );
});

Deno.test("non-negativity: every amount is positive and every figure ≥ 0", () => {
  fc.assert(
    fc.property(policyArb, entriesArb, (p, entries) => {
      const { manifest: m } = run(p, entries);
      for (const x of m.payouts) assert.ok(BigInt(x.amount_minor) > 0n);
      for (const v of [...Object.values(m.totals), ...Object.values(m.residual)]) {
        if (typeof v === "string" && /^\d+$/.test(v)) assert.ok(BigInt(v) >= 0n);
      }
    }),
    params,
  );
});

Deno.test("determinism and order independence: shuffled entries give identical manifest bytes", () => {
  fc.assert(
    fc.property(policyArb, entriesArb, fc.nat(), (p, entries, seed) => {
      const shuffled = [...entries];
      let s = seed || 1;
      for (let i = shuffled.length - 1; i > 0; i--) {
        s = (s * 1103515245 + 12345) % 2 ** 31;
        const j = s % (i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const a = canonicalJson(run(p, entries).manifest);
      assert.equal(canonicalJson(run(p, entries).manifest), a);
      assert.equal(canonicalJson(run(p, shuffled).manifest), a);
    }),
    params,
  );
});

Deno.test("dust bound: floor leaves < eligible count; largest_remainder leaves 0 without caps/min payout", () => {
  fc.assert(
    fc.property(policyArb, entriesArb, (p0, entries) => {
      const p = { ...p0, cap: undefined, minPayout: undefined };
      const { manifest: m, policy } = run(p, entries);
      if (m.status !== "sealed") return;
      const threshold = policy.minScore > 1n ? policy.minScore : 1n;
      const eligible = entries.filter((e) => scoreOf(policy, e) >= threshold).length;
      const rounding = BigInt(m.residual.rounding_minor);
      if (eligible === 0) return;
      if (p.allocation === "floor") assert.ok(rounding < BigInt(eligible));
      else if (BigInt(m.totals.pool_minor) - BigInt(m.totals.fee_minor) > 0n) {
        assert.equal(rounding, 0n);
      }
    }),
    params,
  );
});

Deno.test("monotonicity: a higher score never earns less", () => {
  fc.assert(
    fc.property(policyArb, entriesArb, (p, entries) => {
      const { manifest: m, policy } = run(p, entries);
      const paid = new Map(m.payouts.map((x) => [x.account, BigInt(x.amount_minor)]));
      const scored = entries.map((e) => ({
        score: scoreOf(policy, e),
        pay: paid.get(e.account) ?? 0n,
      }));
      for (const x of scored) {
        for (const y of scored) {
          // Min payout can zero a small amount while a larger one passes; that keeps monotonicity.
          if (x.score > y.score) {
            assert.ok(x.pay >= y.pay, `score ${x.score} > ${y.score} but pay ${x.pay} < ${y.pay}`);
          }
        }
      }
    }),
    params,
  );
});

Deno.test("caps are never exceeded", () => {
  fc.assert(
    fc.property(policyArb.filter((p) => p.cap !== undefined), entriesArb, (p, entries) => {
      const { manifest: m } = run(p, entries);
      for (const x of m.payouts) assert.ok(BigInt(x.amount_minor) <= BigInt(p.cap!));
    }),
    params,
  );
});

Deno.test("overflow always quarantines and pays nothing", () => {
  const huge = fc.bigInt({ min: I128_MAX / 2n + 1n, max: I128_MAX });
  fc.assert(
    fc.property(policyArb, huge, huge, entriesArb, (p, x, y, rest) => {
      const entries = [
        { account: "zz-huge-1", a: x, b: 0n },
        { account: "zz-huge-2", a: y, b: 0n },
        ...rest.filter((e) => !e.account.startsWith("zz-huge")),
      ];
      const { manifest: m } = run({ ...p, minScore: undefined }, entries);
      assert.equal(m.status, "quarantined");
      assert.deepEqual(m.quarantine, { reason: "overflow" });
      assert.equal(m.payouts.length, 0);
      assert.equal(m.totals.payout_minor, "0");
      assert.equal(
        BigInt(m.residual.rounding_minor),
        BigInt(m.totals.pool_minor) - BigInt(m.totals.fee_minor),
      );
    }),
    params,
  );
});

Deno.test("a policy scoring `constructor` reads only own metrics (no prototype leak)", () => {
  const p = parsePolicy({
    schema: "svc-rewarder.policy.v1",
    policy_id: "proto",
    version: 1,
    asset: "roc",
    funding_source: "protocol_pool",
    pool: { source: "fixed", amount_minor: "10" },
    score: [{ metric: "constructor", mul: "1", div: "1" }],
    allocation: "floor",
  });
  assert.ok(p.ok);
  const inputs = parseInputs(
    '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e","asset":"roc","entries":[' +
      '{"account":"a","metrics":{"constructor":"3"}},{"account":"b","metrics":{"x":"1"}}]}',
  );
  assert.ok(inputs.ok);
  const allocation = allocate(p.value.policy, inputs.value, CID);
  assert.ok(allocation.ok);
  assert.deepEqual(payoutsOf(allocation.value).map((x) => [x.account, x.amountMinor]), [[
    "a",
    10n,
  ]]);
});
