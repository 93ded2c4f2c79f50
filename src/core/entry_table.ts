/**
 * The entries of an inputs document in a compact, columnar form (contract §2): accounts in
 * byte order and every metric of every entry as exact numbers, without one object per entry
 * or per metric (a 1M-entry epoch would otherwise hold millions of short-lived objects).
 *
 * Values are exact: a metric ≤ Number.MAX_SAFE_INTEGER is held as that number, a larger one
 * (money goes up to I128_MAX, contract §1) as its bigint in {@link EntryTable.large}.
 *
 * @module
 */

/** The entries of one inputs document. */
export interface EntryTable {
  /** Number of entries. */
  readonly count: number;
  /** Accounts in byte order (unique): position `k` is the k-th entry of the canonical order. */
  readonly accounts: readonly string[];
  /** The document row of position `k` (where its metrics are in the metric arrays). */
  readonly rows: Uint32Array;
  /** Row `r`'s metrics are the pairs `metricStart[r] .. metricStart[r + 1] - 1`. */
  readonly metricStart: Uint32Array;
  /** Name id of each metric pair (an index into {@link names}). */
  readonly metricName: Uint32Array;
  /** Value of each metric pair, exact when ≤ MAX_SAFE_INTEGER; NaN: see {@link large}. */
  readonly metricValue: Float64Array;
  /** Exact values above MAX_SAFE_INTEGER, by pair index. */
  readonly large: ReadonlyMap<number, bigint>;
  /** Metric names by id. */
  readonly names: readonly string[];
}

/** A metric value, exact: a number when ≤ MAX_SAFE_INTEGER, else a bigint. */
export type MetricValue = number | bigint;

/** The id of metric `name` in `table`, or -1 when no entry has it. */
export function metricIdOf(table: EntryTable, name: string): number {
  return table.names.indexOf(name);
}

/**
 * The value of metric `nameId` for the entry at position `k`, or undefined when it has none
 * (a metric named `constructor` is a name like any other: no object property is read).
 */
export function metricAt(table: EntryTable, k: number, nameId: number): MetricValue | undefined {
  const row = table.rows[k]!;
  const end = table.metricStart[row + 1]!;
  for (let p = table.metricStart[row]!; p < end; p++) {
    if (table.metricName[p] === nameId) {
      const v = table.metricValue[p]!;
      return v === v ? v : table.large.get(p)!;
    }
  }
  return undefined;
}

/** The entries of `table` in canonical order, as plain records (tests and small tools). */
export function entriesOf(
  table: EntryTable,
): { account: string; metrics: Record<string, string> }[] {
  const out: { account: string; metrics: Record<string, string> }[] = [];
  for (let k = 0; k < table.count; k++) {
    const row = table.rows[k]!;
    const metrics: Record<string, string> = {};
    for (let p = table.metricStart[row]!; p < table.metricStart[row + 1]!; p++) {
      const v = table.metricValue[p]!;
      Object.defineProperty(metrics, table.names[table.metricName[p]!]!, {
        value: v === v ? String(v) : String(table.large.get(p)!),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    out.push({ account: table.accounts[k]!, metrics });
  }
  return out;
}

/**
 * Builds a table from validated entries already in canonical order (the reference parser's
 * output): values are canonical money strings (contract §1).
 */
export function tableOfEntries(
  entries: readonly { account: string; metrics: Readonly<Record<string, string>> }[],
): EntryTable {
  const names: string[] = [];
  const ids = new Map<string, number>();
  const metricStart = new Uint32Array(entries.length + 1);
  const pairs: { name: number; value: string }[] = [];
  for (let r = 0; r < entries.length; r++) {
    metricStart[r] = pairs.length;
    const metrics = entries[r]!.metrics;
    for (const name of Object.keys(metrics)) {
      let id = ids.get(name);
      if (id === undefined) {
        id = names.length;
        names.push(name);
        ids.set(name, id);
      }
      pairs.push({ name: id, value: metrics[name]! });
    }
  }
  metricStart[entries.length] = pairs.length;
  const metricName = new Uint32Array(pairs.length);
  const metricValue = new Float64Array(pairs.length);
  const large = new Map<number, bigint>();
  for (let p = 0; p < pairs.length; p++) {
    metricName[p] = pairs[p]!.name;
    const exact = BigInt(pairs[p]!.value);
    if (exact <= BigInt(Number.MAX_SAFE_INTEGER)) metricValue[p] = Number(exact);
    else {
      metricValue[p] = NaN;
      large.set(p, exact);
    }
  }
  const rows = new Uint32Array(entries.length);
  for (let k = 0; k < rows.length; k++) rows[k] = k;
  return {
    count: entries.length,
    accounts: entries.map((e) => e.account),
    rows,
    metricStart,
    metricName,
    metricValue,
    large,
    names,
  };
}
