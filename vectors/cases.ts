/**
 * The golden vector cases, as data: inputs, policy, and what is known about the result
 * *independently of the code* (hand-computed payouts, the contract's published numbers).
 * `make_vectors.ts` writes them to `vectors/cases/<name>/` and pins the full envelope bytes
 * produced by the CLI; `tests/vectors_test.ts` checks both, and the independent reference
 * implementation (`tests/reference/`) re-derives every manifest hash.
 *
 * @module
 */

/** One vector case. */
export interface VectorCase {
  name: string;
  why: string;
  epochId: string;
  /** Exact inputs bytes (a string, written as UTF-8 without re-serialization). */
  inputs: string;
  policy: Record<string, unknown>;
  /** Hand-known expectations (subset of the manifest) or the expected error. */
  expect:
    | {
      status: "sealed" | "quarantined";
      payouts?: Record<string, string>;
      totals?: Partial<
        Record<"pool_minor" | "fee_minor" | "payout_minor" | "residual_minor", string>
      >;
      residual?: Partial<Record<"rounding_minor" | "below_min_minor" | "capped_minor", string>>;
      inputsCid?: string;
      quarantine?: string;
    }
    | {
      error: string;
      /** The field the error names (contract §8), when it names one. */
      field?: string;
    };
}

const compact = (value: unknown): string => JSON.stringify(value);

function native(
  epochId: string,
  pool: string | null,
  entries: [string, Record<string, string>][],
  asset = "roc",
): string {
  return compact({
    schema: "svc-rewarder.inputs.v1",
    epoch_id: epochId,
    asset,
    ...(pool === null ? {} : { pool_minor: pool }),
    entries: entries.map(([account, metrics]) => ({ account, metrics })),
  });
}

function policy(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    schema: "svc-rewarder.policy.v1",
    policy_id: "vector-policy",
    version: 1,
    asset: "roc",
    funding_source: "protocol_pool",
    pool: { source: "inputs" },
    score: [{ metric: "votes", mul: "1", div: "1" }],
    allocation: "largest_remainder",
    ...overrides,
  };
}

const votes = (pairs: [string, number][]) =>
  pairs.map(([a, v]): [string, Record<string, string>] => [a, { votes: String(v) }]);

const I128_MAX = ((1n << 127n) - 1n).toString();

const HAMILTON: [string, number][] = [
  ["party-a", 47000],
  ["party-b", 16000],
  ["party-c", 15800],
  ["party-d", 12000],
  ["party-e", 6100],
  ["party-f", 3100],
];

/** Every golden case. Expected payouts are hand-computed (comments show the arithmetic). */
export const VECTOR_CASES: VectorCase[] = [
  {
    name: "rustyonions-interop",
    why: "Contract §4 reference: compat snapshot, floor, score = stored + served/4 + uptime",
    epochId: "interop-epoch-1",
    inputs: '{"produced_at_millis":1,"pool_minor_units":"1000","contributions":[' +
      '{"account":"acct_a","bytes_stored":100,"bytes_served":50,"uptime_seconds":10},' +
      '{"account":"acct_b","bytes_stored":200,"bytes_served":0,"uptime_seconds":20}]}',
    policy: policy({
      policy_id: "ron-node-rewards",
      allocation: "floor",
      score: [
        { metric: "bytes_stored", mul: "1", div: "1" },
        { metric: "bytes_served", mul: "1", div: "4" },
        { metric: "uptime_seconds", mul: "1", div: "1" },
      ],
    }),
    // scores 122 and 220, W 342: floor(1000*122/342)=356, floor(1000*220/342)=643.
    expect: {
      status: "sealed",
      payouts: { acct_a: "356", acct_b: "643" },
      totals: { pool_minor: "1000", fee_minor: "0", payout_minor: "999", residual_minor: "1" },
      residual: { rounding_minor: "1", below_min_minor: "0", capped_minor: "0" },
      inputsCid: "b3:81d428e1df7c29a8443467db8ed59ee2628ac43acd47c692fbc3c23ee495606d",
    },
  },
  {
    name: "hamilton-10-largest-remainder",
    why: "Classic Hamilton: quotas 4.7/1.6/1.58/1.2/0.61/0.31, 3 leftovers to .7/.61/.6",
    epochId: "apportion-1",
    inputs: native("apportion-1", "10", votes(HAMILTON)),
    policy: policy({}),
    expect: {
      status: "sealed",
      payouts: { "party-a": "5", "party-b": "2", "party-c": "1", "party-d": "1", "party-e": "1" },
      residual: { rounding_minor: "0" },
    },
  },
  {
    name: "hamilton-10-floor",
    why: "Same electorate under floor: 4/1/1/1/0/0 and 3 units of rounding residual",
    epochId: "apportion-1",
    inputs: native("apportion-1", "10", votes(HAMILTON)),
    policy: policy({ allocation: "floor", residual_account: "treasury" }),
    expect: {
      status: "sealed",
      payouts: { "party-a": "4", "party-b": "1", "party-c": "1", "party-d": "1" },
      residual: { rounding_minor: "3" },
    },
  },
  {
    name: "equal-thirds-10",
    why: "10 over three equal weights: 3 each, the one leftover unit to the smallest tie key",
    epochId: "thirds-1",
    inputs: native("thirds-1", "10", votes([["x", 1], ["y", 1], ["z", 1]])),
    policy: policy({}),
    // Which account wins is decided by BLAKE3 tie keys; tests/vectors_test.ts re-derives it.
    expect: { status: "sealed", totals: { payout_minor: "10" }, residual: { rounding_minor: "0" } },
  },
  {
    name: "alabama-10",
    why: "Alabama paradox, 10 seats over 6/6/2: quotas 4.29/4.29/1.43 → 4/4/2",
    epochId: "alabama",
    inputs: native("alabama", "10", votes([["alabama", 2], ["big-1", 6], ["big-2", 6]])),
    policy: policy({}),
    expect: { status: "sealed", payouts: { alabama: "2", "big-1": "4", "big-2": "4" } },
  },
  {
    name: "alabama-11",
    why: "Alabama paradox, 11 seats over 6/6/2: quotas 4.71/4.71/1.57 → 5/5/1 (C loses a seat)",
    epochId: "alabama",
    inputs: native("alabama", "11", votes([["alabama", 2], ["big-1", 6], ["big-2", 6]])),
    policy: policy({}),
    expect: { status: "sealed", payouts: { alabama: "1", "big-1": "5", "big-2": "5" } },
  },
  {
    name: "split-70-30-order-a",
    why: "5 split 70/30: 3.5/1.5 tie on remainder, broken by tie key (inputs order a)",
    epochId: "split",
    inputs: native("split", "5", votes([["seventy", 70], ["thirty", 30]])),
    policy: policy({}),
    expect: { status: "sealed", totals: { payout_minor: "5" } },
  },
  {
    name: "split-70-30-order-b",
    why: "The same split with entries in the other order: the manifest is order independent " +
      "given the bytes; the tie key binds inputs_cid, so the winner is pinned per order",
    epochId: "split",
    inputs: native("split", "5", votes([["thirty", 30], ["seventy", 70]])),
    policy: policy({}),
    expect: { status: "sealed", totals: { payout_minor: "5" } },
  },
  {
    name: "fee-cap-min-payout",
    why: "Fee 250 bps, cap 400 (residual), min payout 50",
    epochId: "fee-cap",
    inputs: native("fee-cap", "1000", votes([["a", 60], ["b", 30], ["c", 8], ["d", 2]])),
    policy: policy({
      allocation: "floor",
      fee: { bps: 250, account: "treasury" },
      cap_minor: "400",
      min_payout_minor: "50",
      residual_account: "treasury",
    }),
    // P=1000, F=25, N=975, W=100: a=585/292/78/19; cap 400 → a capped 185; d 19 < 50 → below_min.
    expect: {
      status: "sealed",
      payouts: { a: "400", b: "292", c: "78" },
      totals: { pool_minor: "1000", fee_minor: "25", payout_minor: "770", residual_minor: "205" },
      residual: { rounding_minor: "1", below_min_minor: "19", capped_minor: "185" },
    },
  },
  {
    name: "redistribute-water-filling",
    why: "Cap 300 with redistribute: round 1 caps a; round 2 spreads 700 over b,c,d",
    epochId: "water",
    inputs: native("water", "1000", votes([["a", 70], ["b", 15], ["c", 10], ["d", 5]])),
    policy: policy({ allocation: "floor", cap_minor: "300", cap_excess: "redistribute" }),
    // Round 1: 700/150/100/50 → a > 300 capped. Round 2: 700 over 30: 350/233/116 → b capped.
    // Round 3: 400 over 15: c=266, d=133 → none capped. Dust 1 → rounding.
    expect: {
      status: "sealed",
      payouts: { a: "300", b: "300", c: "266", d: "133" },
      residual: { rounding_minor: "1", capped_minor: "0" },
    },
  },
  {
    name: "redistribute-all-capped",
    why: "Every eligible entry hits the cap: the rest is capped residual",
    epochId: "water-all",
    inputs: native("water-all", "1000", votes([["a", 1], ["b", 1]])),
    policy: policy({ allocation: "floor", cap_minor: "100", cap_excess: "redistribute" }),
    // Round 1: 500/500 → both capped; round 2 over nobody. capped = 1000 - 200 = 800.
    expect: {
      status: "sealed",
      payouts: { a: "100", b: "100" },
      residual: { rounding_minor: "0", capped_minor: "800" },
    },
  },
  {
    name: "fixed-pool-with-cap",
    why: "Fixed pool 5000 capped at 3000; inputs carry no pool",
    epochId: "fixed",
    inputs: native("fixed", null, votes([["a", 1], ["b", 2]])),
    policy: policy({
      pool: { source: "fixed", amount_minor: "5000" },
      pool_cap_minor: "3000",
    }),
    expect: { status: "sealed", payouts: { a: "1000", b: "2000" }, totals: { pool_minor: "3000" } },
  },
  {
    name: "empty-epoch",
    why: "No entries: no payouts, the whole net pool is rounding residual",
    epochId: "empty",
    inputs: native("empty", "777", []),
    policy: policy({ fee: { bps: 100, account: "treasury" } }),
    expect: {
      status: "sealed",
      totals: { pool_minor: "777", fee_minor: "7", payout_minor: "0", residual_minor: "770" },
      residual: { rounding_minor: "770" },
    },
  },
  {
    name: "all-zero-epoch",
    why: "Every score is 0: nobody is eligible",
    epochId: "zero",
    inputs: native("zero", "500", votes([["a", 0], ["b", 0]])),
    policy: policy({}),
    expect: { status: "sealed", totals: { payout_minor: "0", residual_minor: "500" } },
  },
  {
    name: "min-score-threshold",
    why: "min_score 10 excludes the small contributor before weighting",
    epochId: "min-score",
    inputs: native("min-score", "100", votes([["big", 30], ["small", 9]])),
    policy: policy({ min_score: "10" }),
    expect: { status: "sealed", payouts: { big: "100" } },
  },
  {
    name: "overflow-quarantines",
    why: "Two scores of I128_MAX: W exceeds i128, the run is quarantined, nothing is paid",
    epochId: "overflow",
    inputs: native("overflow", "1000", [["a", { votes: I128_MAX }], ["b", { votes: I128_MAX }]]),
    policy: policy({ fee: { bps: 1000, account: "treasury" } }),
    expect: {
      status: "quarantined",
      quarantine: "overflow",
      totals: { pool_minor: "1000", fee_minor: "100", payout_minor: "0", residual_minor: "900" },
      residual: { rounding_minor: "900" },
    },
  },
  {
    name: "stale-epoch-rejected",
    why: "Native inputs for another epoch: 400 stale",
    epochId: "epoch-2",
    inputs: native("epoch-1", "10", votes([["a", 1]])),
    policy: policy({}),
    expect: { error: "stale" },
  },
  {
    name: "asset-mismatch-rejected",
    why: "Inputs in another asset than the policy: 400 asset",
    epochId: "asset",
    inputs: native("asset", "10", votes([["a", 1]]), "usd"),
    policy: policy({}),
    expect: { error: "asset" },
  },
  {
    name: "duplicate-account-rejected",
    why: "The same account twice: 400 duplicate_account",
    epochId: "dup",
    inputs: native("dup", "10", votes([["a", 1], ["a", 2]])),
    policy: policy({}),
    expect: { error: "duplicate_account" },
  },
  {
    name: "unknown-key-rejected",
    why: "An unknown key inside an entry: 400 schema",
    epochId: "unknown",
    inputs: '{"schema":"svc-rewarder.inputs.v1","epoch_id":"unknown","asset":"roc",' +
      '"pool_minor":"10","entries":[{"account":"a","metrics":{"votes":"1"},"extra":true}]}',
    policy: policy({}),
    expect: { error: "schema" },
  },
  {
    name: "duplicate-json-key-rejected",
    why: "A repeated object key (JSON.parse would keep the last, other parsers the first): " +
      "not I-JSON, refused (400 json) so that no two implementations read one CID differently",
    epochId: "dupkey",
    inputs: '{"schema":"svc-rewarder.inputs.v1","epoch_id":"dupkey","asset":"roc",' +
      '"pool_minor":"10","pool_minor":"1000000","entries":[{"account":"a","metrics":{"votes":"1"}}]}',
    policy: policy({}),
    expect: { error: "json" },
  },
  {
    name: "missing-pool-rejected",
    why: "Policy takes the pool from inputs that carry none: 400 pool_missing",
    epochId: "nopool",
    inputs: native("nopool", null, votes([["a", 1]])),
    policy: policy({}),
    expect: { error: "pool_missing", field: "inputs.pool_minor" },
  },
  {
    name: "compat-exponent-rejected",
    why: "Contract §2: compat counters are integer literals; `1e2` is the number 100 to " +
      "JSON.parse but not a plain literal, refused naming the field (v1 accepted it)",
    epochId: "interop-epoch-1",
    inputs: '{"produced_at_millis":1,"pool_minor_units":"1000","contributions":[' +
      '{"account":"acct_a","bytes_stored":100,"bytes_served":1e2,"uptime_seconds":10}]}',
    policy: policy({ policy_id: "ron-node-rewards" }),
    expect: { error: "schema", field: "inputs.contributions[0].bytes_served" },
  },
  {
    name: "compat-fraction-rejected",
    why: "Contract §2: `100.0` and `-0` are not integer literals either",
    epochId: "interop-epoch-1",
    inputs: '{"produced_at_millis":-0,"pool_minor_units":"1000","contributions":[' +
      '{"account":"acct_a","bytes_stored":100.0,"bytes_served":1,"uptime_seconds":10}]}',
    policy: policy({ policy_id: "ron-node-rewards" }),
    expect: { error: "schema", field: "inputs.produced_at_millis" },
  },
  {
    name: "lone-surrogate-rejected",
    why: "Contract §1: an escaped lone surrogate (`\\ud800`) is not I-JSON: 400 json " +
      "(v1 read it, and JCS wrote it back)",
    epochId: "surrogate",
    inputs: '{"schema":"svc-rewarder.inputs.v1","epoch_id":"surrogate","asset":"roc",' +
      '"pool_minor":"10","entries":[{"account":"a","metrics":{"votes":"1"}}],"x":"\\ud800"}',
    policy: policy({}),
    expect: { error: "json" },
  },
  {
    name: "asset-dotdot-rejected",
    why: "Contract §1: `asset` is 1..64 of [A-Za-z0-9._:-] and never `.` or `..`",
    epochId: "dotdot",
    inputs: native("dotdot", "10", votes([["a", 1]]), ".."),
    policy: policy({}),
    expect: { error: "schema", field: "inputs.asset" },
  },
];
