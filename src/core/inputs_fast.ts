/**
 * One pass over the bytes of an inputs document (contract §2) that reads and validates it at
 * once, straight into an {@link EntryTable}: no decoded copy of the text, no `JSON.parse`
 * tree, no second walk over the entries.
 *
 * It recognises a strict subset of what the reference reader (`parseStrictJson` + the schemas
 * of `inputs.ts`) accepts: ASCII only, no escapes in strings, JSON whitespace, plain integer
 * literals, every id and money string well formed, no repeated key at any level, entries in
 * any order but unique accounts. Anything else (a refusal, or a valid but unusual spelling
 * such as `"\u0061"`) returns null, and the caller runs the reference reader, which gives
 * the answer and the exact error. So this path decides nothing on its own about a refusal:
 * every refusal of the strict reader is still made by it (`inputs_fast_test.ts` checks that
 * both agree, with fast-check).
 *
 * @module
 */
import { type Checkpoint, CHECKPOINT_MASK } from "./checkpoint.ts";
import type { EntryTable } from "./entry_table.ts";
import { ASSET_PATTERN, EPOCH_ID_PATTERN } from "./ids.ts";
import { ENTRIES_MAX, I128_MAX, JSON_INT_MAX, METRICS_PER_ENTRY_MAX } from "./limits.ts";

/** What the fast path read from an accepted document. */
export interface FastInputs {
  shape: "native" | "compat";
  epochId: string | undefined;
  asset: string | undefined;
  poolMinor: bigint | undefined;
  table: EntryTable;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const DOT = 0x2e;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** Longest account (contract §1) and metric name (§2), in bytes (ASCII). */
const ACCOUNT_BYTES_MAX = 160;
const METRIC_NAME_BYTES_MAX = 64;
/** Longest money string: I128_MAX has 39 digits (contract §1). */
const MONEY_DIGITS_MAX = 39;
/** Longest top-level string this path decodes (ids are ≤ 128 bytes, contract §1). */
const SMALL_STRING_BYTES_MAX = 256;
/** Up to 15 digits a decimal is below 10^15 < 2^53: accumulated exactly as a number. */
const EXACT_DIGITS_MAX = 15;
/** Names compared byte by byte before a decoded lookup (documents use a handful). */
const NAME_CACHE_MAX = 16;

/** Byte classes: bit 1 account char `[A-Za-z0-9._:/-]`, bit 2 metric char `[a-z0-9_]`. */
const CLASS = new Uint8Array(256);
const ACCOUNT_CHAR = 1;
const METRIC_CHAR = 2;
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9._:/-]/.test(ch)) CLASS[c]! |= ACCOUNT_CHAR;
  if (/[a-z0-9_]/.test(ch)) CLASS[c]! |= METRIC_CHAR;
}

/** Top-level keys, by bit. */
const TOP_KEYS = [
  "schema",
  "epoch_id",
  "asset",
  "pool_minor",
  "entries",
  "produced_at_millis",
  "pool_minor_units",
  "contributions",
] as const;
const K_SCHEMA = 1 << 0;
const K_EPOCH = 1 << 1;
const K_ASSET = 1 << 2;
const K_POOL = 1 << 3;
const K_ENTRIES = 1 << 4;
const K_PRODUCED = 1 << 5;
const K_POOL_UNITS = 1 << 6;
const K_CONTRIBUTIONS = 1 << 7;
const NATIVE_REQUIRED = K_SCHEMA | K_EPOCH | K_ASSET | K_ENTRIES;
const COMPAT_REQUIRED = K_PRODUCED | K_POOL_UNITS | K_CONTRIBUTIONS;
const COMPAT_COUNTERS = ["bytes_stored", "bytes_served", "uptime_seconds"] as const;
const ENTRY_KEYS = ["account", "metrics"] as const;
const CONTRIBUTION_KEYS = ["account", ...COMPAT_COUNTERS] as const;

const ENCODE = new TextEncoder();
const KEY_BYTES = (keys: readonly string[]) => keys.map((k) => ENCODE.encode(k));
const TOP_KEY_BYTES = KEY_BYTES(TOP_KEYS);
const ENTRY_KEY_BYTES = KEY_BYTES(ENTRY_KEYS);
const CONTRIBUTION_KEY_BYTES = KEY_BYTES(CONTRIBUTION_KEYS);
const INPUTS_SCHEMA = "svc-rewarder.inputs.v1";
const SAFE_MAX = Number.MAX_SAFE_INTEGER;

/** Thrown inside the scan to give up (the reference reader takes over). */
class GiveUp {}
const GIVE_UP = new GiveUp();

/**
 * Reads `bytes` as an inputs document in one pass; null when the document is not in the
 * subset this path reads (the caller then runs the reference reader). `checkpoint` is called
 * every CHECKPOINT_EVERY entries; what it throws propagates.
 */
export function parseInputsFast(bytes: Uint8Array, checkpoint: Checkpoint): FastInputs | null {
  try {
    return new Scanner(bytes, checkpoint).document();
  } catch (err) {
    if (err === GIVE_UP) return null;
    throw err;
  }
}

class Scanner {
  private pos = 0;
  // Account bytes, packed end to end, decoded once at the end.
  private accountBytes: Uint8Array;
  private accountEnd: Uint32Array;
  private count = 0;
  // Metric pairs.
  private metricStart: Uint32Array;
  private metricName: Uint32Array;
  private metricValue: Float64Array;
  private pairs = 0;
  private readonly large = new Map<number, bigint>();
  private readonly names: string[] = [];
  private readonly nameIds = new Map<string, number>();
  private readonly nameCache: Uint8Array[] = [];

  constructor(private readonly bytes: Uint8Array, private readonly checkpoint: Checkpoint) {
    // A rough first size from the document's length; every array grows on demand.
    const guess = Math.max(16, Math.min(ENTRIES_MAX, Math.ceil(bytes.length / 64)));
    this.accountBytes = new Uint8Array(guess * 16);
    this.accountEnd = new Uint32Array(guess);
    this.metricStart = new Uint32Array(guess + 1);
    this.metricName = new Uint32Array(guess * 2);
    this.metricValue = new Float64Array(guess * 2);
  }

  document(): FastInputs {
    const b = this.bytes;
    this.ws();
    this.expect(OPEN_OBJECT);
    let seen = 0;
    let schema = "";
    let epochId: string | undefined;
    let asset: string | undefined;
    let pool: bigint | undefined;
    let poolUnits: bigint | undefined;
    let entriesShape: "native" | "compat" | undefined;
    for (;;) {
      this.ws();
      const key = this.key(TOP_KEY_BYTES);
      const bit = 1 << key;
      if ((seen & bit) !== 0) throw GIVE_UP;
      seen |= bit;
      this.ws();
      this.expect(COLON);
      this.ws();
      if (bit === K_SCHEMA) schema = this.smallString();
      else if (bit === K_EPOCH) epochId = this.smallString();
      else if (bit === K_ASSET) asset = this.smallString();
      else if (bit === K_POOL) pool = this.moneyString();
      else if (bit === K_POOL_UNITS) poolUnits = this.moneyString();
      else if (bit === K_PRODUCED) this.counter();
      else if (bit === K_ENTRIES) {
        if (entriesShape !== undefined) throw GIVE_UP;
        entriesShape = "native";
        this.entries(false);
      } else {
        if (entriesShape !== undefined) throw GIVE_UP;
        entriesShape = "compat";
        this.entries(true);
      }
      this.ws();
      const c = b[this.pos++];
      if (c === COMMA) continue;
      if (c === CLOSE_OBJECT) break;
      throw GIVE_UP;
    }
    this.ws();
    if (this.pos !== b.length) throw GIVE_UP;
    let shape: "native" | "compat";
    if ((seen & ~K_POOL) === NATIVE_REQUIRED) {
      if (schema !== INPUTS_SCHEMA) throw GIVE_UP;
      if (!EPOCH_ID_PATTERN.test(epochId!) || !ASSET_PATTERN.test(asset!)) throw GIVE_UP;
      shape = "native";
    } else if (seen === COMPAT_REQUIRED) {
      shape = "compat";
      pool = poolUnits;
    } else {
      throw GIVE_UP;
    }
    return {
      shape,
      epochId: shape === "native" ? epochId : undefined,
      asset: shape === "native" ? asset : undefined,
      poolMinor: pool,
      table: this.table(),
    };
  }

  /** Skips JSON whitespace. */
  private ws(): void {
    const b = this.bytes;
    let i = this.pos;
    if (b[i]! > 0x20) return; // the usual case: no whitespace at all
    for (;;) {
      const c = b[i];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.pos = i;
  }

  private expect(byte: number): void {
    if (this.bytes[this.pos] !== byte) throw GIVE_UP;
    this.pos++;
  }

  /** The end (closing quote) of a plain string starting at `pos` (on its opening quote). */
  private plainStringEnd(): number {
    const b = this.bytes;
    if (b[this.pos] !== QUOTE) throw GIVE_UP;
    let i = this.pos + 1;
    for (;;) {
      const c = b[i];
      if (c === QUOTE) return i;
      // Escapes, control characters, non-ASCII and the end of the input: not this path's.
      if (c === undefined || c < 0x20 || c >= 0x7f || c === BACKSLASH) throw GIVE_UP;
      i++;
    }
  }

  /** Which of `keys` the member name at `pos` is (a plain string equal to one of them). */
  private key(keys: readonly Uint8Array[]): number {
    const b = this.bytes;
    const start = this.pos + 1;
    const end = this.plainStringEnd();
    const length = end - start;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k]!;
      if (key.length !== length) continue;
      let same = true;
      for (let j = 0; j < length; j++) {
        if (b[start + j] !== key[j]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.pos = end + 1;
        return k;
      }
    }
    throw GIVE_UP;
  }

  /** A short plain string (top-level values), decoded. */
  private smallString(): string {
    const start = this.pos + 1;
    const end = this.plainStringEnd();
    if (end - start > SMALL_STRING_BYTES_MAX) throw GIVE_UP;
    this.pos = end + 1;
    return String.fromCharCode(...this.bytes.subarray(start, end));
  }

  /** A money string (contract §1) as a bigint. */
  private moneyString(): bigint {
    const start = this.pos + 1;
    const end = this.plainStringEnd();
    if (end - start > MONEY_DIGITS_MAX) throw GIVE_UP;
    const text = String.fromCharCode(...this.bytes.subarray(start, end));
    if (!/^(0|[1-9][0-9]{0,38})$/.test(text)) throw GIVE_UP;
    const value = BigInt(text);
    if (value > I128_MAX) throw GIVE_UP;
    this.pos = end + 1;
    return value;
  }

  /** A plain integer literal (no sign, fraction, exponent or leading zero) ≤ JSON_INT_MAX. */
  private counter(): number {
    const b = this.bytes;
    let i = this.pos;
    const first = b[i]!;
    if (!(first >= DIGIT_0 && first <= DIGIT_9)) throw GIVE_UP;
    let value = first - DIGIT_0;
    i++;
    if (first === DIGIT_0) {
      const c = b[i];
      if (c !== undefined && c >= DIGIT_0 && c <= DIGIT_9) throw GIVE_UP;
    } else {
      for (;;) {
        const c = b[i];
        if (c === undefined || c < DIGIT_0 || c > DIGIT_9) break;
        value = value * 10 + (c - DIGIT_0);
        if (value > JSON_INT_MAX) throw GIVE_UP; // also bounds the digits: stays exact
        i++;
      }
    }
    const next = b[i];
    if (next === DOT || next === 0x65 || next === 0x45) throw GIVE_UP;
    this.pos = i;
    return value;
  }

  /** The entries (native) or contributions (compat) array. */
  private entries(compat: boolean): void {
    const b = this.bytes;
    this.expect(OPEN_ARRAY);
    this.ws();
    if (b[this.pos] === CLOSE_ARRAY) {
      this.pos++;
      return;
    }
    for (;;) {
      if ((this.count & CHECKPOINT_MASK) === 0) this.checkpoint();
      if (this.count >= ENTRIES_MAX) throw GIVE_UP;
      if (compat) this.contribution();
      else this.entry();
      this.ws();
      const c = b[this.pos++];
      if (c === COMMA) {
        this.ws();
        continue;
      }
      if (c === CLOSE_ARRAY) return;
      throw GIVE_UP;
    }
  }

  private beginRow(): void {
    if (this.count + 2 > this.metricStart.length) this.growRows();
    this.metricStart[this.count] = this.pairs;
  }

  private endRow(): void {
    this.count++;
    this.metricStart[this.count] = this.pairs;
  }

  /** `{"account": …, "metrics": {…}}`, members in any order. */
  private entry(): void {
    const b = this.bytes;
    this.expect(OPEN_OBJECT);
    this.beginRow();
    let seen = 0;
    for (;;) {
      this.ws();
      const key = this.key(ENTRY_KEY_BYTES);
      if ((seen & (1 << key)) !== 0) throw GIVE_UP;
      seen |= 1 << key;
      this.ws();
      this.expect(COLON);
      this.ws();
      if (key === 0) this.account();
      else this.metrics();
      this.ws();
      const c = b[this.pos++];
      if (c === COMMA) continue;
      if (c === CLOSE_OBJECT) break;
      throw GIVE_UP;
    }
    if (seen !== 3) throw GIVE_UP;
    this.endRow();
  }

  /** `{"account": …, "bytes_stored": n, "bytes_served": n, "uptime_seconds": n}`. */
  private contribution(): void {
    const b = this.bytes;
    this.expect(OPEN_OBJECT);
    this.beginRow();
    let seen = 0;
    for (;;) {
      this.ws();
      const key = this.key(CONTRIBUTION_KEY_BYTES);
      if ((seen & (1 << key)) !== 0) throw GIVE_UP;
      seen |= 1 << key;
      this.ws();
      this.expect(COLON);
      this.ws();
      if (key === 0) this.account();
      else this.pushPair(this.nameIdOf(COMPAT_COUNTERS[key - 1]!), this.counter(), 0n);
      this.ws();
      const c = b[this.pos++];
      if (c === COMMA) continue;
      if (c === CLOSE_OBJECT) break;
      throw GIVE_UP;
    }
    if (seen !== 15) throw GIVE_UP;
    this.endRow();
  }

  /** An account string (contract §1), its bytes appended to the packed account bytes. */
  private account(): void {
    const b = this.bytes;
    if (b[this.pos] !== QUOTE) throw GIVE_UP;
    const start = this.pos + 1;
    let i = start;
    while ((CLASS[b[i]!]! & ACCOUNT_CHAR) !== 0) i++;
    if (b[i] !== QUOTE) throw GIVE_UP;
    const length = i - start;
    if (length === 0 || length > ACCOUNT_BYTES_MAX) throw GIVE_UP;
    if (b[start] === DOT && (length === 1 || (length === 2 && b[start + 1] === DOT))) {
      throw GIVE_UP;
    }
    // The account of this row was already read: a repeated key, refused above.
    const from = this.count === 0 ? 0 : this.accountEnd[this.count - 1]!;
    if (from + length > this.accountBytes.length) this.growAccountBytes(from + length);
    if (this.count >= this.accountEnd.length) this.growAccountEnds();
    const out = this.accountBytes;
    for (let j = 0; j < length; j++) out[from + j] = b[start + j]!;
    this.accountEnd[this.count] = from + length;
    this.pos = i + 1;
  }

  /** A metrics object: `{}` or `{"name": "money", …}`, names unique within it. */
  private metrics(): void {
    const b = this.bytes;
    this.expect(OPEN_OBJECT);
    this.ws();
    if (b[this.pos] === CLOSE_OBJECT) {
      this.pos++;
      return;
    }
    const first = this.pairs;
    for (;;) {
      this.ws();
      const id = this.readMetricName();
      for (let p = first; p < this.pairs; p++) if (this.metricName[p] === id) throw GIVE_UP;
      if (this.pairs - first >= METRICS_PER_ENTRY_MAX) throw GIVE_UP;
      this.ws();
      this.expect(COLON);
      this.ws();
      this.money(id);
      this.ws();
      const c = b[this.pos++];
      if (c === COMMA) continue;
      if (c === CLOSE_OBJECT) return;
      throw GIVE_UP;
    }
  }

  /** A metric name (`[a-z][a-z0-9_]{0,63}`, contract §2) as its id. */
  private readMetricName(): number {
    const b = this.bytes;
    if (b[this.pos] !== QUOTE) throw GIVE_UP;
    const start = this.pos + 1;
    const c0 = b[start]!;
    if (!(c0 >= 0x61 && c0 <= 0x7a)) throw GIVE_UP;
    let i = start + 1;
    while ((CLASS[b[i]!]! & METRIC_CHAR) !== 0) i++;
    if (b[i] !== QUOTE) throw GIVE_UP;
    const length = i - start;
    if (length > METRIC_NAME_BYTES_MAX) throw GIVE_UP;
    this.pos = i + 1;
    const cache = this.nameCache;
    for (let k = 0; k < cache.length; k++) {
      const name = cache[k]!;
      if (name.length !== length) continue;
      let j = 0;
      while (j < length && b[start + j] === name[j]) j++;
      if (j === length) return k;
    }
    return this.nameIdOf(String.fromCharCode(...b.subarray(start, i)));
  }

  /** The id of a metric name; the first NAME_CACHE_MAX names are also compared as bytes. */
  private nameIdOf(name: string): number {
    let id = this.nameIds.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.nameIds.set(name, id);
      // Cache ids equal positions: only the first names are cached, in id order.
      if (id < NAME_CACHE_MAX && this.nameCache.length === id) {
        this.nameCache.push(ENCODE.encode(name));
      }
    }
    return id;
  }

  /** A money string value (contract §1) of metric `id`, appended as a pair. */
  private money(id: number): void {
    const b = this.bytes;
    if (b[this.pos] !== QUOTE) throw GIVE_UP;
    const start = this.pos + 1;
    let i = start;
    let value = 0;
    for (;;) {
      const c = b[i];
      if (c === undefined || c < DIGIT_0 || c > DIGIT_9) break;
      value = value * 10 + (c - DIGIT_0);
      i++;
    }
    if (b[i] !== QUOTE) throw GIVE_UP;
    const digits = i - start;
    if (digits === 0 || digits > MONEY_DIGITS_MAX) throw GIVE_UP;
    if (b[start] === DIGIT_0 && digits > 1) throw GIVE_UP;
    this.pos = i + 1;
    if (digits <= EXACT_DIGITS_MAX) {
      this.pushPair(id, value, 0n);
      return;
    }
    const exact = BigInt(String.fromCharCode(...b.subarray(start, i)));
    if (exact > I128_MAX) throw GIVE_UP;
    if (exact <= BigInt(SAFE_MAX)) this.pushPair(id, Number(exact), 0n);
    else this.pushPair(id, NaN, exact);
  }

  private pushPair(id: number, value: number, exact: bigint): void {
    const p = this.pairs;
    if (p >= this.metricName.length) this.growPairs();
    this.metricName[p] = id;
    this.metricValue[p] = value;
    if (value !== value) this.large.set(p, exact);
    this.pairs = p + 1;
  }

  private growRows(): void {
    const next = new Uint32Array(this.metricStart.length * 2);
    next.set(this.metricStart);
    this.metricStart = next;
  }

  private growAccountEnds(): void {
    const next = new Uint32Array(this.accountEnd.length * 2);
    next.set(this.accountEnd);
    this.accountEnd = next;
  }

  private growAccountBytes(needed: number): void {
    const next = new Uint8Array(Math.max(needed, this.accountBytes.length * 2));
    next.set(this.accountBytes);
    this.accountBytes = next;
  }

  private growPairs(): void {
    const names = new Uint32Array(this.metricName.length * 2);
    names.set(this.metricName);
    this.metricName = names;
    const values = new Float64Array(this.metricValue.length * 2);
    values.set(this.metricValue);
    this.metricValue = values;
  }

  /** The accounts decoded (once, as one ASCII text), ordered; duplicates give up. */
  private table(): EntryTable {
    const n = this.count;
    const ends = this.accountEnd;
    const text = new TextDecoder().decode(
      this.accountBytes.subarray(0, n === 0 ? 0 : ends[n - 1]!),
    );
    const inDocument: string[] = new Array(n);
    let sorted = true;
    let from = 0;
    for (let r = 0; r < n; r++) {
      const to = ends[r]!;
      const account = text.slice(from, to);
      inDocument[r] = account;
      if (r > 0 && !(inDocument[r - 1]! < account)) sorted = false;
      from = to;
      if ((r & CHECKPOINT_MASK) === 0) this.checkpoint();
    }
    const rows = new Uint32Array(n);
    for (let r = 0; r < n; r++) rows[r] = r;
    let accounts = inDocument;
    if (!sorted) {
      // Byte order (the accounts are ASCII: code unit order is byte order).
      rows.sort((a, b) => {
        const x = inDocument[a]!;
        const y = inDocument[b]!;
        return x < y ? -1 : x > y ? 1 : 0;
      });
      this.checkpoint();
      accounts = new Array(n);
      for (let k = 0; k < n; k++) {
        accounts[k] = inDocument[rows[k]!]!;
        if (k > 0 && accounts[k - 1] === accounts[k]) throw GIVE_UP; // duplicate_account
      }
    }
    return {
      count: n,
      accounts,
      rows,
      metricStart: this.metricStart.subarray(0, n + 1),
      metricName: this.metricName.subarray(0, this.pairs),
      metricValue: this.metricValue.subarray(0, this.pairs),
      large: this.large,
      names: this.names,
    };
  }
}
