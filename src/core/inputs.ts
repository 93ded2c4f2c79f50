/**
 * Strict parsers for the two inputs shapes of contract §2: native `svc-rewarder.inputs.v1`
 * and the RustyOnions `ron-accounting snapshot v1` export. Unknown keys anywhere, bad ids,
 * bad money strings, out-of-range counters and duplicate accounts are 400s that name the
 * field path, never its value.
 *
 * @module
 */
import { z } from "zod";
import { type Checkpoint, CHECKPOINT_MASK, NEVER_CANCELLED } from "./checkpoint.ts";
import { badRequest, type Result } from "./errors.ts";
import { ACCOUNT_PATTERN, ASSET_PATTERN, EPOCH_ID_PATTERN, METRIC_PATTERN } from "./ids.ts";
import { ENTRIES_MAX, JSON_INT_MAX, METRICS_PER_ENTRY_MAX } from "./limits.ts";
import { isMoney } from "./money.ts";
import { type EntryTable, tableOfEntries } from "./entry_table.ts";
import { parseInputsFast } from "./inputs_fast.ts";
import { jsonPathAt, parseStrictJson } from "./strict_json.ts";
import { schemaError } from "./zod_issue.ts";

/** A money string (contract §1). */
export const moneySchema = z.string().refine(isMoney, { error: "money" });
const counterSchema = z.int().min(0).max(JSON_INT_MAX);

/** Native inputs entry. */
export const nativeEntrySchema = z.strictObject({
  account: z.string().regex(ACCOUNT_PATTERN),
  metrics: z.record(z.string().regex(METRIC_PATTERN), moneySchema),
});

/** Native `svc-rewarder.inputs.v1` document (the reference schema; see {@link parseInputs}). */
export const nativeInputsSchema = z.strictObject({
  schema: z.literal("svc-rewarder.inputs.v1"),
  epoch_id: z.string().regex(EPOCH_ID_PATTERN),
  asset: z.string().regex(ASSET_PATTERN),
  pool_minor: moneySchema.optional(),
  entries: z.array(nativeEntrySchema).max(ENTRIES_MAX),
});

/** One contribution of a `ron-accounting snapshot v1`. */
export const compatContributionSchema = z.strictObject({
  account: z.string().regex(ACCOUNT_PATTERN),
  bytes_stored: counterSchema,
  bytes_served: counterSchema,
  uptime_seconds: counterSchema,
});

/** `ron-accounting snapshot v1` document (reference schema; no `schema` key, epoch id or asset). */
export const compatInputsSchema = z.strictObject({
  produced_at_millis: counterSchema,
  pool_minor_units: moneySchema,
  contributions: z.array(compatContributionSchema).max(ENTRIES_MAX),
});

/**
 * One entry after parsing: metric values are validated money strings (contract §1), turned
 * into bigint only for the metrics a policy scores (keeps 1M-entry epochs lean in memory).
 */
export interface InputEntry {
  account: string;
  metrics: Readonly<Record<string, string>>;
}

/*
 * Why entries bypass zod: measured on this machine (`deno task bench`), zod 4 validates a
 * 1M-entry native document in ~3.4 s on top of a 1.1 s JSON.parse, while the hand-written
 * loops below take a fraction of that. The documents' envelopes are still parsed by zod
 * (with `entries` as an opaque array), and `inputs_test.ts` checks with fast-check that the
 * fast path accepts and rejects exactly what the reference zod schemas do.
 */
const nativeEnvelopeSchema = nativeInputsSchema.extend({
  entries: z.array(z.unknown()).max(ENTRIES_MAX),
});
const compatEnvelopeSchema = compatInputsSchema.extend({
  contributions: z.array(z.unknown()).max(ENTRIES_MAX),
});

/** The parsed, shape-independent view of an inputs document. */
export interface ParsedInputs {
  shape: "native" | "compat";
  /** Present for native inputs only. */
  epochId: string | undefined;
  /** Present for native inputs only. */
  asset: string | undefined;
  /** The inputs' pool, when the document carries one. */
  poolMinor: bigint | undefined;
  /** Entries sorted by account (byte order), accounts unique. */
  table: EntryTable;
}

/** Field paths in inputs errors are prefixed with this (contract §8: fetched documents). */
const ROOT = "inputs";

/**
 * Parses inputs bytes (UTF-8 JSON, read as I-JSON: a bad document is 400 `json`). The two
 * shapes are told apart by the presence of a top-level `schema` key (contract §2). Errors
 * name the field as `inputs.<path>` (§8), never its value. `checkpoint` is called every
 * CHECKPOINT_EVERY entries (and while scanning the text); it throws to abandon the parse.
 *
 * A plain document is read in one pass straight into its entry table (`inputs_fast.ts`);
 * any other (a refusal, or an unusual but valid spelling) by {@link parseInputsReference},
 * with the same answer (`inputs_fast_test.ts`).
 */
export function parseInputs(
  input: Uint8Array | string,
  checkpoint: Checkpoint = NEVER_CANCELLED,
): Result<ParsedInputs> {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const fast = parseInputsFast(bytes, checkpoint);
  if (fast !== null) return { ok: true, value: fast };
  return parseInputsReference(bytes, checkpoint);
}

/**
 * The reference reader of {@link parseInputs}: the strict I-JSON reader, then the schemas
 * (entries by hand-written loops checked against the zod schemas). It answers every document
 * the one-pass reader (`inputs_fast.ts`) does not take, and gives every refusal its error.
 */
export function parseInputsReference(
  input: Uint8Array | string,
  checkpoint: Checkpoint = NEVER_CANCELLED,
): Result<ParsedInputs> {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const parsed = parseStrictJson(bytes, checkpoint);
  if (!parsed.ok) return { ok: false, error: badRequest("json", ROOT) };
  const doc = parsed.value;
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    return { ok: false, error: badRequest("schema", ROOT) };
  }
  checkpoint();
  if ("schema" in doc) return parseNative(doc, checkpoint);
  const compat = parseCompat(doc, checkpoint);
  // Compat counters are JSON integer literals (contract §2): `1e2`, `100.0` and `-0` parse
  // to integers, so only the literal shows them. Every number of a valid compat document is
  // a counter, so any non-integer literal is one.
  if (compat.ok && parsed.nonIntegerAt >= 0) {
    const path = jsonPathAt(bytes, parsed.nonIntegerAt);
    return { ok: false, error: badRequest("schema", `${ROOT}.${path}`) };
  }
  return compat;
}

function parseNative(doc: object, checkpoint: Checkpoint): Result<ParsedInputs> {
  const parsed = nativeEnvelopeSchema.safeParse(doc);
  if (!parsed.success) return { ok: false, error: schemaError(parsed.error, ROOT) };
  const value = parsed.data;
  const entries: InputEntry[] = new Array(value.entries.length);
  for (let i = 0; i < value.entries.length; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    const entry = parseNativeEntry(value.entries[i]);
    if (typeof entry === "string") {
      return { ok: false, error: badRequest("schema", `${ROOT}.entries[${i}]${entry}`) };
    }
    entries[i] = entry;
  }
  checkpoint();
  const sorted = sortUnique(entries, "entries", checkpoint);
  if (!sorted.ok) return sorted;
  return {
    ok: true,
    value: {
      shape: "native",
      epochId: value.epoch_id,
      asset: value.asset,
      poolMinor: value.pool_minor === undefined ? undefined : BigInt(value.pool_minor),
      table: tableOfEntries(sorted.value),
    },
  };
}

function parseCompat(doc: object, checkpoint: Checkpoint): Result<ParsedInputs> {
  const parsed = compatEnvelopeSchema.safeParse(doc);
  if (!parsed.success) return { ok: false, error: schemaError(parsed.error, ROOT) };
  const value = parsed.data;
  const entries: InputEntry[] = new Array(value.contributions.length);
  for (let i = 0; i < value.contributions.length; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    const entry = parseCompatContribution(value.contributions[i]);
    if (typeof entry === "string") {
      return { ok: false, error: badRequest("schema", `${ROOT}.contributions[${i}]${entry}`) };
    }
    entries[i] = entry;
  }
  checkpoint();
  const sorted = sortUnique(entries, "contributions", checkpoint);
  if (!sorted.ok) return sorted;
  return {
    ok: true,
    value: {
      shape: "compat",
      epochId: undefined,
      asset: undefined,
      poolMinor: BigInt(value.pool_minor_units),
      table: tableOfEntries(sorted.value),
    },
  };
}

/**
 * Sorts entries by account (UTF-16 code units, which is byte order for the ASCII account
 * grammar) and rejects duplicates. Sorting doubles as the duplicate check: measured, a 1M
 * `Set` costs more than the sort we need anyway for order independence (contract §4.10).
 */
function sortUnique(
  entries: readonly InputEntry[],
  field: string,
  checkpoint: Checkpoint,
): Result<InputEntry[]> {
  const order = Array.from({ length: entries.length }, (_, i) => i);
  order.sort((a, b) => {
    const x = entries[a]!.account;
    const y = entries[b]!.account;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  checkpoint();
  const out: InputEntry[] = new Array(entries.length);
  for (let i = 0; i < order.length; i++) {
    if ((i & CHECKPOINT_MASK) === 0) checkpoint();
    const entry = entries[order[i]!]!;
    if (i > 0 && out[i - 1]!.account === entry.account) {
      return {
        ok: false,
        error: badRequest("duplicate_account", `${ROOT}.${field}[${order[i]}].account`),
      };
    }
    out[i] = entry;
  }
  return { ok: true, value: out };
}

const hasOwn = Object.prototype.hasOwnProperty;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Fast strict check of one native entry; returns the entry or the failing sub-path. */
function parseNativeEntry(raw: unknown): InputEntry | string {
  if (!isPlainObject(raw)) return "";
  let keys = 0;
  for (const key in raw) {
    if (!hasOwn.call(raw, key)) continue;
    if (key !== "account" && key !== "metrics") return ""; // an unknown key: its parent (§8)
    keys++;
  }
  const account = raw.account;
  if (typeof account !== "string" || !ACCOUNT_PATTERN.test(account)) return ".account";
  const rawMetrics = raw.metrics;
  if (keys !== 2 || !isPlainObject(rawMetrics)) return ".metrics";
  let count = 0;
  for (const name in rawMetrics) {
    if (!hasOwn.call(rawMetrics, name)) continue;
    const value = rawMetrics[name];
    if (!METRIC_PATTERN.test(name) || !isMoney(value)) return `.metrics.${safeKey(name)}`;
    if (++count > METRICS_PER_ENTRY_MAX) return ".metrics";
  }
  // Only own, validated, well-named string properties remain (JSON.parse gives plain objects).
  return { account, metrics: rawMetrics as Record<string, string> };
}

const COMPAT_KEYS = ["account", "bytes_stored", "bytes_served", "uptime_seconds"] as const;

/** Fast strict check of one compat contribution; returns the entry or the failing sub-path. */
function parseCompatContribution(raw: unknown): InputEntry | string {
  if (!isPlainObject(raw)) return "";
  let keys = 0;
  for (const key in raw) {
    if (!hasOwn.call(raw, key)) continue;
    if (!(COMPAT_KEYS as readonly string[]).includes(key)) return ""; // its parent (§8)
    keys++;
  }
  const account = raw.account;
  if (typeof account !== "string" || !ACCOUNT_PATTERN.test(account)) return ".account";
  const metrics: Record<string, string> = {};
  for (const name of COMPAT_KEYS) {
    if (name === "account") continue;
    const value = raw[name];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) return `.${name}`;
    metrics[name] = String(value);
  }
  if (keys !== COMPAT_KEYS.length) return "";
  return { account, metrics };
}

/** A key is echoed in a path only when it is a well-formed metric name; else `*`. */
function safeKey(name: string): string {
  return METRIC_PATTERN.test(name) ? name : "*";
}
