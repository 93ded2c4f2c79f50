/**
 * Valid seed documents for the fuzz targets: every inputs and policy document of the
 * golden vectors, plus structure-aware generators of valid ones.
 *
 * @module
 */
import fc from "fast-check";
import { readdirSync, readFileSync } from "node:fs";

const CASES = new URL("../vectors/cases/", import.meta.url);

function readCases(file: string): unknown[] {
  const out: unknown[] = [];
  for (const dir of readdirSync(CASES).sort()) {
    try {
      out.push(JSON.parse(readFileSync(new URL(`${dir}/${file}`, CASES), "utf8")));
    } catch {
      // a case without that file
    }
  }
  return out;
}

/** Inputs documents of the golden vectors (both shapes; some are rejected cases). */
export const INPUTS_SEEDS: readonly unknown[] = readCases("inputs.json");
/** Policy documents of the golden vectors. */
export const POLICY_SEEDS: readonly unknown[] = readCases("policy.json");

const money = (max: bigint) => fc.bigInt({ min: 0n, max }).map(String);
const I128_MAX = (1n << 127n) - 1n;
const hugeMoney = fc.oneof(money(10n ** 6n), money(I128_MAX));
const account = fc.stringMatching(/^[A-Za-z0-9._:/-]{1,12}$/);
const metric = fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/);

/** Valid native inputs documents (random entries, up to 64). */
export const nativeInputs = fc.record({
  schema: fc.constant("svc-rewarder.inputs.v1"),
  epoch_id: fc.constantFrom("fuzz-epoch", "e:1"),
  asset: fc.constant("roc"),
  pool_minor: fc.option(hugeMoney, { nil: undefined }),
  entries: fc.uniqueArray(
    fc.record({ account, metrics: fc.dictionary(metric, hugeMoney, { maxKeys: 4 }) }),
    { selector: (e) => e.account, maxLength: 64 },
  ),
}, { requiredKeys: ["schema", "epoch_id", "asset", "entries"] });

/** Valid `ron-accounting snapshot v1` documents. */
export const compatInputs = fc.record({
  produced_at_millis: fc.nat(),
  pool_minor_units: hugeMoney,
  contributions: fc.uniqueArray(
    fc.record({
      account,
      bytes_stored: fc.maxSafeNat(),
      bytes_served: fc.maxSafeNat(),
      uptime_seconds: fc.maxSafeNat(),
    }),
    { selector: (e) => e.account, maxLength: 64 },
  ),
});

/** Valid policy documents over the given metrics (defaults to both shapes' metric names). */
export function policyDocument(metrics: readonly string[] = ["bytes_stored", "votes", "m"]) {
  return fc.record({
    schema: fc.constant("svc-rewarder.policy.v1"),
    policy_id: fc.constantFrom("fuzz-policy", "p.1"),
    version: fc.integer({ min: 1, max: 3 }),
    asset: fc.constant("roc"),
    funding_source: fc.constantFrom("protocol_pool", "creator_pool"),
    pool: fc.oneof(
      fc.constant({ source: "inputs" }),
      fc.record({ source: fc.constant("fixed"), amount_minor: hugeMoney }),
    ),
    pool_cap_minor: fc.option(hugeMoney, { nil: undefined }),
    score: fc.array(
      fc.record({
        metric: fc.constantFrom(...metrics),
        mul: hugeMoney,
        div: fc.bigInt({ min: 1n, max: I128_MAX }).map(String),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    min_score: fc.option(money(100n), { nil: undefined }),
    fee: fc.option(
      fc.record({ bps: fc.integer({ min: 0, max: 10_000 }), account: fc.constant("fee") }),
      { nil: undefined },
    ),
    allocation: fc.constantFrom("floor", "largest_remainder"),
    cap_minor: fc.option(hugeMoney, { nil: undefined }),
    cap_excess: fc.option(fc.constantFrom("residual", "redistribute"), { nil: undefined }),
    min_payout_minor: fc.option(money(1000n), { nil: undefined }),
    residual_account: fc.option(fc.constantFrom("treasury", null), { nil: undefined }),
  }, {
    requiredKeys: [
      "schema",
      "policy_id",
      "version",
      "asset",
      "funding_source",
      "pool",
      "score",
      "allocation",
    ],
  }).map((d) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>); // drop undefined keys
}
