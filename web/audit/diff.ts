/**
 * The what-if diff of two manifests (A → B), in the shape of `rewarder diff`:
 * `{"totals":{…,"payout_minor_delta"},"accounts":[{"account","a_minor","b_minor","delta_minor"}]}`,
 * accounts sorted by |delta| (larger first), ties by account in byte order. Deltas are
 * exact bigints printed as signed decimal strings; accounts with no change are left out, so
 * the deltas sum to `payout_minor_delta`.
 *
 * @module
 */
import type { Manifest } from "../../src/core/types.ts";

/** One changed account. */
export interface AccountDelta {
  account: string;
  a_minor: string;
  b_minor: string;
  delta_minor: string;
}

/** The diff of two manifests. */
export interface ManifestDiff {
  totals: {
    pool_minor_delta: string;
    fee_minor_delta: string;
    payout_minor_delta: string;
    residual_minor_delta: string;
    recipients_delta: number;
  };
  accounts: AccountDelta[];
}

const utf8 = new TextEncoder();

function byteOrder(a: string, b: string): number {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}

function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

/** Per-account and totals deltas from manifest `a` to manifest `b`. */
export function diffManifests(a: Manifest, b: Manifest): ManifestDiff {
  const amounts = new Map<string, [bigint, bigint]>();
  for (const p of a.payouts) amounts.set(p.account, [BigInt(p.amount_minor), 0n]);
  for (const p of b.payouts) {
    const entry = amounts.get(p.account) ?? [0n, 0n];
    entry[1] = BigInt(p.amount_minor);
    amounts.set(p.account, entry);
  }
  const rows = [...amounts]
    .map(([account, [x, y]]) => ({ account, x, y, d: y - x }))
    .filter((r) => r.d !== 0n)
    .sort((r, s) => {
      const dr = abs(r.d);
      const ds = abs(s.d);
      return dr > ds ? -1 : dr < ds ? 1 : byteOrder(r.account, s.account);
    });
  const delta = (k: "pool_minor" | "fee_minor" | "payout_minor" | "residual_minor") =>
    (BigInt(b.totals[k]) - BigInt(a.totals[k])).toString();
  return {
    totals: {
      pool_minor_delta: delta("pool_minor"),
      fee_minor_delta: delta("fee_minor"),
      payout_minor_delta: delta("payout_minor"),
      residual_minor_delta: delta("residual_minor"),
      recipients_delta: b.totals.recipients - a.totals.recipients,
    },
    accounts: rows.map((r) => ({
      account: r.account,
      a_minor: r.x.toString(),
      b_minor: r.y.toString(),
      delta_minor: r.d.toString(),
    })),
  };
}
