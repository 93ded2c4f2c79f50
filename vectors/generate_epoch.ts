/**
 * Deterministic large epochs for vectors and benchmarks: `n` recipients with metrics from a
 * seeded xorshift32 generator, so the same (n, seed) gives the same bytes on every runtime.
 *
 * @module
 */

/** The policy used with generated epochs (largest remainder, fee, cap: every code path). */
export const GENERATED_POLICY = {
  schema: "svc-rewarder.policy.v1",
  policy_id: "generated-node-rewards",
  version: 1,
  asset: "roc",
  funding_source: "protocol_pool",
  pool: { source: "inputs" },
  score: [
    { metric: "bytes_served", mul: "1", div: "1024" },
    { metric: "uptime_s", mul: "3", div: "1" },
  ],
  fee: { bps: 250, account: "treasury" },
  allocation: "largest_remainder",
  cap_minor: "5000000",
  min_payout_minor: "10",
  residual_account: "treasury",
} as const;

/** Inputs JSON text of a generated epoch with `recipients` entries. */
export function generateEpochInputs(
  epochId: string,
  recipients: number,
  seed = 0x9e3779b9,
): string {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const parts: string[] = [];
  for (let i = 0; i < recipients; i++) {
    const served = next() % 50_000_000;
    const uptime = next() % 86_401;
    parts.push(
      `{"account":"node:${
        i.toString(16).padStart(8, "0")
      }","metrics":{"bytes_served":"${served}","uptime_s":"${uptime}"}}`,
    );
  }
  const pool = String(BigInt(recipients) * 1_000_000n);
  return `{"schema":"svc-rewarder.inputs.v1","epoch_id":"${epochId}","asset":"roc","pool_minor":"${pool}","entries":[${
    parts.join(",")
  }]}`;
}

/** The generated epochs pinned in `vectors/generated.json`. */
export const GENERATED_SIZES = [
  { name: "small-1k", recipients: 1_000 },
  { name: "medium-10k", recipients: 10_000 },
  { name: "large-100k", recipients: 100_000 },
] as const;
