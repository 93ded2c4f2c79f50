/**
 * Allocation at scale with large tie classes (the largest-remainder cut by selection, tie keys
 * hashed only when the boundary class holds more members than places left) against the
 * independent reference implementation (tests/reference/), with pools and scores on both sides
 * of INT64_MAX (the columns are int64 only where every value is shown to fit). It lives here,
 * not beside src/core/allocate.ts: src/core's own tests import only src/core
 * (tests/import_graph_test.ts).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { refCanonicalJson, refCompute } from "./reference/reference_impl.ts";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { computeManifest } from "../src/core/compute.ts";
import { parsePolicy, policyHashOf } from "../src/core/policy.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 1000);
const seedEnv = Deno.env.get("FC_SEED");
const seed = seedEnv ? { seed: Number(seedEnv) } : {};
const INT64_MAX = (1n << 63n) - 1n;

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
