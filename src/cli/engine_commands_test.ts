/**
 * `rewarder compute` writes its envelope with `envelopeJson`: byte for byte the generic
 * canonical writer's text (RFC 8785), for large payout lists written directly and for
 * anything unusual (escapes, extra keys) handed back to the generic writer.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson } from "../core/canonical_json.ts";
import type { SealedEnvelope } from "../core/mod.ts";
import { envelopeJson } from "./engine_commands.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 100);

function envelope(payouts: Record<string, unknown>[]): SealedEnvelope {
  return {
    manifest: {
      schema: "svc-rewarder.manifest.v2",
      epoch_id: "e-1",
      run_key: "b3:" + "a".repeat(64),
      inputs_cid: "b3:" + "b".repeat(64),
      policy_id: "p",
      policy_hash: "b3:" + "c".repeat(64),
      status: "sealed",
      asset: "roc",
      funding_source: "protocol_pool",
      totals: {
        pool_minor: "10",
        fee_minor: "0",
        payout_minor: "10",
        residual_minor: "0",
        recipients: payouts.length,
      },
      fee: null,
      residual: {
        account: "treasury",
        amount_minor: "0",
        rounding_minor: "0",
        below_min_minor: "0",
        capped_minor: "0",
      },
      payouts,
      payouts_root: "b3:" + "d".repeat(64),
      quarantine: null,
    },
    manifest_hash: "b3:" + "e".repeat(64),
    signatures: [{ alg: "ed25519", kid: "k", sig: "x" }],
  } as unknown as SealedEnvelope;
}

const plainPayout = fc.record({
  account: fc.stringMatching(/^[A-Za-z0-9._:/-]{1,12}$/),
  amount_minor: fc.bigInt({ min: 1n, max: 10n ** 30n }).map(String),
});
const oddPayout = fc.oneof(
  fc.record({ account: fc.string({ minLength: 1 }), amount_minor: fc.constant("1") }),
  fc.record({ amount_minor: fc.constant("2"), account: fc.constant("z") }),
  fc.constant({ account: "x", amount_minor: "3", extra: "y" }),
);

Deno.test("envelopeJson = canonicalJson, payouts written directly or not", () => {
  fc.assert(
    fc.property(
      fc.array(plainPayout, { minLength: 1000, maxLength: 1100 }),
      fc.option(fc.tuple(fc.nat(), oddPayout), { nil: undefined }),
      (payouts, odd) => {
        const list: Record<string, unknown>[] = [...payouts];
        if (odd !== undefined) list[odd[0] % list.length] = odd[1];
        const env = envelope(list);
        assert.equal(envelopeJson(env), canonicalJson(env));
      },
    ),
    { numRuns: RUNS },
  );
  const small = envelope([{ account: "a", amount_minor: "1" }]);
  assert.equal(envelopeJson(small), canonicalJson(small));
});
