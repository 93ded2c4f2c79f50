/**
 * Differential tests: the production engine against the independent reference
 * implementation (tests/reference/, written from the contract alone with another BLAKE3).
 * Every golden vector and ≥ 1,000 random epochs must give the same manifest bytes and hash.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { computeManifest } from "../src/core/compute.ts";
import { parsePolicy, policyHashOf } from "../src/core/policy.ts";
import { VECTOR_CASES } from "../vectors/cases.ts";
import { GENERATED_POLICY, generateEpochInputs } from "../vectors/generate_epoch.ts";
import { refCompute } from "./reference/reference_impl.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 1000);

function production(epochId: string, inputs: string, policyDoc: unknown) {
  const parsed = parsePolicy(policyDoc);
  if (!parsed.ok) return { ok: false as const, reason: parsed.error.reason };
  const out = computeManifest({
    epochId,
    inputsBytes: new TextEncoder().encode(inputs),
    policy: parsed.value.policy,
    policyHash: policyHashOf(policyDoc),
  });
  if (!out.ok) return { ok: false as const, reason: out.error.reason };
  return { ok: true as const, manifest: out.value.manifest, manifestHash: out.value.manifestHash };
}

function agree(epochId: string, inputs: string, policyDoc: unknown): void {
  const ours = production(epochId, inputs, policyDoc);
  const ref = refCompute({ epochId, inputsBytes: new TextEncoder().encode(inputs), policyDoc });
  assert.equal(
    ours.ok,
    ref.ok,
    `accept/reject agree (ours ${JSON.stringify(ours.ok ? "ok" : ours.reason)})`,
  );
  if (ours.ok && ref.ok) {
    assert.equal(canonicalJson(ours.manifest), refCanonicalOf(ref.manifest));
    assert.equal(ours.manifestHash, ref.manifestHash);
  }
}

function refCanonicalOf(m: unknown): string {
  return canonicalJson(m);
}

for (const vector of VECTOR_CASES) {
  Deno.test(`reference agrees on vector ${vector.name}`, () =>
    agree(vector.epochId, vector.inputs, vector.policy));
}

Deno.test("reference agrees on a generated 10k epoch", () => {
  agree("medium-10k", generateEpochInputs("medium-10k", 10_000), GENERATED_POLICY);
});

Deno.test("reference agrees on random epochs and policies", () => {
  const money = (max: bigint) => fc.bigInt({ min: 0n, max }).map(String);
  const entries = fc.uniqueArray(
    fc.record({
      account: fc.stringMatching(/^[a-z0-9:./-]{1,6}$/),
      x: money(10n ** 9n),
      y: money(10n ** 4n),
    }),
    { selector: (e) => e.account, maxLength: 20 },
  );
  const policy = fc.record({
    allocation: fc.constantFrom("floor", "largest_remainder"),
    fee: fc.option(
      fc.record({ bps: fc.integer({ min: 0, max: 10_000 }), account: fc.constant("fee") }),
      { nil: undefined },
    ),
    cap_minor: fc.option(money(10n ** 6n), { nil: undefined }),
    cap_excess: fc.option(fc.constantFrom("residual", "redistribute"), { nil: undefined }),
    min_payout_minor: fc.option(money(500n), { nil: undefined }),
    min_score: fc.option(money(50n), { nil: undefined }),
    div: fc.bigInt({ min: 1n, max: 9n }).map(String),
  });
  fc.assert(
    fc.property(entries, policy, money(10n ** 10n), (es, p, pool) => {
      const { div, ...rest } = p;
      const doc = Object.fromEntries(
        Object.entries({
          schema: "svc-rewarder.policy.v1",
          policy_id: "diff",
          version: 1,
          asset: "roc",
          funding_source: "creator_pool",
          pool: { source: "inputs" },
          score: [{ metric: "x", mul: "1", div: "1" }, { metric: "y", mul: "7", div }],
          ...rest,
        }).filter(([, v]) => v !== undefined),
      );
      const inputs = JSON.stringify({
        schema: "svc-rewarder.inputs.v1",
        epoch_id: "diff",
        asset: "roc",
        pool_minor: pool,
        entries: es.map((e) => ({ account: e.account, metrics: { x: e.x, y: e.y } })),
      });
      agree("diff", inputs, doc);
    }),
    { numRuns: RUNS },
  );
});
