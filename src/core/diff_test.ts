/**
 * `diffManifests` (docs/FORMATS.md "What-if for governors") over manifests built by the real
 * engine (`computeManifest`, contract §2–§6) from random inputs under two random policies.
 * Properties run ≥ 1,000 cases; fast-check prints the seed and the shrunk counterexample on
 * failure (reproduce with `FC_SEED=<seed> deno test -A src/core/diff_test.ts`).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson } from "./canonical_json.ts";
import { computeManifest } from "./compute.ts";
import { type AccountDiff, diffManifests, type ManifestDiff } from "./diff.ts";
import { RewarderError } from "./errors.ts";
import { parsePolicy, policyHashOf } from "./policy.ts";
import type { Manifest } from "./types.ts";

const RUNS = Math.max(1000, Number(Deno.env.get("FC_RUNS") ?? 1000));
const seedEnv = Deno.env.get("FC_SEED");
const params = { numRuns: RUNS, ...(seedEnv ? { seed: Number(seedEnv) } : {}) };

const metricValue = fc.oneof(
  { weight: 8, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 6n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 30n }) },
);
/** Accounts from a small alphabet, so that A and B share many and differ on some. */
const entriesArb = fc.uniqueArray(
  fc.record({ account: fc.stringMatching(/^[a-e0-9:]{1,4}$/), a: metricValue, b: metricValue }),
  { selector: (e) => e.account, maxLength: 30 },
);
const money = (max: bigint) => fc.bigInt({ min: 0n, max }).map(String);
const policyArb = fc.record({
  allocation: fc.constantFrom("floor", "largest_remainder"),
  fixedPool: fc.option(money(10n ** 15n), { nil: undefined }),
  fee: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
  cap: fc.option(money(10n ** 12n), { nil: undefined }),
  capExcess: fc.constantFrom("residual", "redistribute"),
  minPayout: fc.option(money(1000n), { nil: undefined }),
  minScore: fc.option(money(100n), { nil: undefined }),
  mulB: fc.bigInt({ min: 0n, max: 5n }).map(String),
  divB: fc.bigInt({ min: 1n, max: 7n }).map(String),
});
type PolicyArb = typeof policyArb extends fc.Arbitrary<infer T> ? T : never;
type EntryArb = typeof entriesArb extends fc.Arbitrary<infer T> ? T : never;

function policyDoc(p: PolicyArb): Record<string, unknown> {
  return {
    schema: "svc-rewarder.policy.v1",
    policy_id: "what-if",
    version: 1,
    asset: "roc",
    funding_source: "protocol_pool",
    pool: p.fixedPool === undefined
      ? { source: "inputs" }
      : { source: "fixed", amount_minor: p.fixedPool },
    score: [{ metric: "a", mul: "1", div: "1" }, { metric: "b", mul: p.mulB, div: p.divB }],
    allocation: p.allocation,
    ...(p.fee === undefined ? {} : { fee: { bps: p.fee, account: "treasury" } }),
    ...(p.cap === undefined ? {} : { cap_minor: p.cap, cap_excess: p.capExcess }),
    ...(p.minPayout === undefined ? {} : { min_payout_minor: p.minPayout }),
    ...(p.minScore === undefined ? {} : { min_score: p.minScore }),
  };
}

/** The real engine: inputs bytes + policy → manifest (as `rewarder compute` builds it). */
function compute(p: PolicyArb, pool: bigint, entries: EntryArb): Manifest {
  const doc = policyDoc(p);
  const parsed = parsePolicy(doc);
  assert.ok(parsed.ok);
  const inputs = JSON.stringify({
    schema: "svc-rewarder.inputs.v1",
    epoch_id: "what-if",
    asset: "roc",
    pool_minor: String(pool),
    entries: entries.map((e) => ({
      account: e.account,
      metrics: { a: String(e.a), b: String(e.b) },
    })),
  });
  const out = computeManifest({
    epochId: "what-if",
    inputsBytes: new TextEncoder().encode(inputs),
    policy: parsed.value.policy,
    policyHash: policyHashOf(doc),
  });
  assert.ok(out.ok, out.ok ? "" : out.error.message);
  return out.value.manifest;
}

/** Two manifests of one epoch: same or changed inputs, two policies. */
const pairArb = fc.record({
  pool: fc.bigInt({ min: 0n, max: 10n ** 15n }),
  entries: entriesArb,
  /** B's inputs: A's (the governor's what-if), or other inputs (accounts absent on a side). */
  entriesB: fc.option(entriesArb, { nil: undefined }),
  policyA: policyArb,
  policyB: policyArb,
}).map((r) => ({
  a: compute(r.policyA, r.pool, r.entries),
  b: compute(r.policyB, r.pool, r.entriesB ?? r.entries),
}));

const paid = (m: Manifest) => new Map(m.payouts.map((p) => [p.account, BigInt(p.amount_minor)]));
const size = (d: bigint) => (d < 0n ? -d : d);

/** The documented order: |delta| descending, then account bytes ascending. */
function assertSorted(rows: readonly AccountDiff[]): void {
  for (let i = 1; i < rows.length; i++) {
    const x = rows[i - 1]!;
    const y = rows[i]!;
    const sx = size(BigInt(x.delta_minor));
    const sy = size(BigInt(y.delta_minor));
    assert.ok(sx > sy || (sx === sy && x.account < y.account), `order at ${i}`);
  }
}

Deno.test("the deltas sum to payout_minor_b − payout_minor_a (real engine, two policies)", () => {
  fc.assert(
    fc.property(pairArb, fc.boolean(), ({ a, b }, includeUnchanged) => {
      const d = diffManifests(a, b, { includeUnchanged });
      const sum = d.accounts.reduce((s, r) => s + BigInt(r.delta_minor), 0n);
      const expected = BigInt(b.totals.payout_minor) - BigInt(a.totals.payout_minor);
      assert.equal(sum, expected);
      assert.equal(d.totals.payout_minor_delta, expected.toString());
      // The other totals: each B − A, and together they move as the pool does (§4.9).
      const t = d.totals;
      assert.equal(
        BigInt(t.payout_minor_delta) + BigInt(t.fee_minor_delta) + BigInt(t.residual_minor_delta),
        BigInt(t.pool_minor_b) - BigInt(t.pool_minor_a),
      );
      assert.equal(
        BigInt(t.fee_minor_delta),
        BigInt(b.totals.fee_minor) - BigInt(a.totals.fee_minor),
      );
      assert.equal(t.recipients_a, a.payouts.length);
      assert.equal(t.recipients_b, b.payouts.length);
    }),
    params,
  );
});

Deno.test("every account paid in either appears once with both sides (absent = 0), sorted", () => {
  fc.assert(
    fc.property(pairArb, fc.boolean(), ({ a, b }, includeUnchanged) => {
      const d = diffManifests(a, b, { includeUnchanged });
      const inA = paid(a);
      const inB = paid(b);
      const union = new Set([...inA.keys(), ...inB.keys()]);
      const seen = new Set<string>();
      for (const r of d.accounts) {
        assert.ok(!seen.has(r.account), "each account once");
        seen.add(r.account);
        assert.equal(r.a_minor, String(inA.get(r.account) ?? 0n));
        assert.equal(r.b_minor, String(inB.get(r.account) ?? 0n));
        assert.equal(BigInt(r.delta_minor), BigInt(r.b_minor) - BigInt(r.a_minor));
        assert.match(r.delta_minor, /^(0|-?[1-9][0-9]*)$/, "signed decimal, no +, no -0");
        if (!includeUnchanged) assert.notEqual(r.delta_minor, "0", "unchanged dropped");
      }
      for (const account of union) {
        const changed = (inA.get(account) ?? 0n) !== (inB.get(account) ?? 0n);
        assert.equal(seen.has(account), includeUnchanged || changed, account);
      }
      assertSorted(d.accounts);
    }),
    params,
  );
});

Deno.test("deterministic: same bytes again, and A↔B swapped negates every delta", () => {
  fc.assert(
    fc.property(pairArb, ({ a, b }) => {
      const d = diffManifests(a, b);
      assert.equal(canonicalJson(diffManifests(a, b)), canonicalJson(d));
      const back = diffManifests(b, a);
      const negate = (x: string) => x === "0" ? "0" : x.startsWith("-") ? x.slice(1) : `-${x}`;
      assert.deepEqual(
        back.accounts,
        d.accounts.map((r) => ({
          account: r.account,
          a_minor: r.b_minor,
          b_minor: r.a_minor,
          delta_minor: negate(r.delta_minor),
        })),
      );
      assert.equal(back.totals.payout_minor_delta, negate(d.totals.payout_minor_delta));
    }),
    params,
  );
});

Deno.test("payouts in any order (a manifest not checked) give the same diff as sorted ones", () => {
  fc.assert(
    fc.property(pairArb, ({ a, b }) => {
      const d = canonicalJson(diffManifests(a, b, { includeUnchanged: true }));
      const reversed = (m: Manifest) => ({ ...m, payouts: [...m.payouts].reverse() });
      assert.equal(canonicalJson(diffManifests(reversed(a), b, { includeUnchanged: true })), d);
      assert.equal(canonicalJson(diffManifests(a, reversed(b), { includeUnchanged: true })), d);
    }),
    params,
  );
  // Lines of one account add up on that path (a valid manifest has one per account).
  const split = manifest([["x", 2], ["w", 1], ["x", 3]]);
  assert.deepEqual(diffManifests(manifest([]), split).accounts, [
    { account: "x", a_minor: "0", b_minor: "5", delta_minor: "5" },
    { account: "w", a_minor: "0", b_minor: "1", delta_minor: "1" },
  ]);
});

/** A hand-made manifest: only the members a diff reads matter. */
function manifest(payouts: [string, number][], asset = "roc"): Manifest {
  const total = payouts.reduce((s, [, v]) => s + BigInt(v), 0n).toString();
  return {
    asset,
    totals: {
      pool_minor: total,
      fee_minor: "0",
      payout_minor: total,
      residual_minor: "0",
      recipients: payouts.length,
    },
    payouts: payouts.map(([account, v]) => ({ account, amount_minor: String(v) })),
  } as unknown as Manifest;
}

Deno.test("order: |delta| descending, ties by account bytes (not locale: 'Z' < 'a' < 'b')", () => {
  const a = manifest([["Zed", 10], ["alice", 5], ["bob", 1], ["carol", 7]]);
  const b = manifest([["Zed", 13], ["alice", 2], ["bob", 1], ["dave", 3], ["eve", 100]]);
  const d: ManifestDiff = diffManifests(a, b);
  assert.deepEqual(d.accounts, [
    { account: "eve", a_minor: "0", b_minor: "100", delta_minor: "100" },
    { account: "carol", a_minor: "7", b_minor: "0", delta_minor: "-7" },
    { account: "Zed", a_minor: "10", b_minor: "13", delta_minor: "3" },
    { account: "alice", a_minor: "5", b_minor: "2", delta_minor: "-3" },
    { account: "dave", a_minor: "0", b_minor: "3", delta_minor: "3" },
  ]);
  assert.deepEqual(d.totals, {
    pool_minor_a: "23",
    pool_minor_b: "119",
    payout_minor_a: "23",
    payout_minor_b: "119",
    payout_minor_delta: "96",
    fee_minor_delta: "0",
    residual_minor_delta: "0",
    recipients_a: 4,
    recipients_b: 5,
  });
  const all = diffManifests(a, b, { includeUnchanged: true }).accounts;
  assert.deepEqual(all.at(-1), { account: "bob", a_minor: "1", b_minor: "1", delta_minor: "0" });
  assert.equal(all.length, 6);
});

Deno.test("deltas beyond 2^53 stay exact (bigint), negative ones written with '-'", () => {
  const big = "170141183460469231731687303715884105727"; // I128_MAX
  const d = diffManifests(manifest([["x", 1]]), manifest([["x", Number.MAX_SAFE_INTEGER]]));
  assert.equal(d.accounts[0]!.delta_minor, String(BigInt(Number.MAX_SAFE_INTEGER) - 1n));
  const a = manifest([]);
  a.payouts.push({ account: "whale", amount_minor: big });
  a.totals.payout_minor = big;
  const down = diffManifests(a, manifest([]));
  assert.equal(down.accounts[0]!.delta_minor, `-${big}`);
  assert.equal(down.totals.payout_minor_delta, `-${big}`);
});

Deno.test("two empty manifests, or two equal ones: no accounts, zero deltas", () => {
  assert.deepEqual(diffManifests(manifest([]), manifest([])).accounts, []);
  const same = manifest([["a", 1], ["b", 2]]);
  const d = diffManifests(same, same);
  assert.deepEqual(d.accounts, []);
  assert.equal(d.totals.payout_minor_delta, "0");
  assert.equal(diffManifests(same, same, { includeUnchanged: true }).accounts.length, 2);
});

Deno.test("different assets are refused: minor units of two assets do not subtract", () => {
  assert.throws(
    () => diffManifests(manifest([["a", 1]]), manifest([["a", 1]], "usd")),
    (err: unknown) =>
      err instanceof RewarderError && err.reason === "asset" && err.path === "asset",
  );
});
