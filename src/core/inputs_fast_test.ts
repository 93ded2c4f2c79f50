/**
 * The one-pass inputs reader (`inputs_fast.ts`) against the reference reader (strict I-JSON
 * + schemas): on random documents, spelled with random whitespace, key order and escapes and
 * then mutated byte by byte, `parseInputs` gives the same answer as `parseInputsReference`
 * (same entries, or the same error), and every refusal of the strict reader is still made.
 * Reproduce a failure with `FC_SEED=<seed> deno test -A src/core/inputs_fast_test.ts`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { entriesOf } from "./entry_table.ts";
import { parseInputsFast } from "./inputs_fast.ts";
import { parseInputs, parseInputsReference } from "./inputs.ts";
import type { Result } from "./errors.ts";
import type { ParsedInputs } from "./inputs.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 1000);
const seedEnv = Deno.env.get("FC_SEED");
const params = { numRuns: RUNS, ...(seedEnv ? { seed: Number(seedEnv) } : {}) };
const NEVER = () => {};

/** A comparable view of a parse result. */
function view(r: Result<ParsedInputs>): unknown {
  if (!r.ok) return { error: [r.error.code, r.error.reason, r.error.path] };
  const { table, ...rest } = r.value;
  return { ...rest, entries: entriesOf(table) };
}

function same(bytes: Uint8Array): void {
  const ours = view(parseInputs(bytes));
  const reference = view(parseInputsReference(bytes));
  assert.deepEqual(ours, reference, new TextDecoder().decode(bytes));
}

// A JSON value model serialised with random choices (whitespace, escapes, key order).
type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function serialise(value: Json, choices: number[]): string {
  let at = 0;
  const pick = (n: number) => (choices.length === 0 ? 0 : choices[at++ % choices.length]! % n);
  const ws = () => ["", "", "", "", " ", "\n", "\t", "\r\n "][pick(8)]!;
  const str = (s: string) => {
    const plain = JSON.stringify(s);
    if (pick(12) !== 0 || s.length === 0) return plain;
    // A valid but unusual spelling: the first character as a \u escape.
    const code = s.charCodeAt(0).toString(16).padStart(4, "0");
    return `"\\u${pick(2) === 0 ? code : code.toUpperCase()}${JSON.stringify(s.slice(1)).slice(1)}`;
  };
  const go = (v: Json): string => {
    if (typeof v === "string") return str(v);
    if (typeof v !== "object" || v === null) return JSON.stringify(v);
    if (Array.isArray(v)) return `[${ws()}${v.map((x) => go(x) + ws()).join(`,${ws()}`)}]`;
    const keys = Object.keys(v);
    if (pick(3) === 0) keys.reverse();
    return `{${ws()}${keys.map((k) => `${str(k)}${ws()}:${ws()}${go(v[k]!)}${ws()}`).join(",")}}`;
  };
  return ws() + go(value) + ws();
}

// Mostly valid pieces (a document often hinges on one field), a few repeated accounts.
const account = fc.oneof(
  { weight: 30, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:/-]{1,10}$/) },
  { weight: 4, arbitrary: fc.constantFrom("a", "b", "n:1") },
  { weight: 1, arbitrary: fc.constantFrom(".", "..", "", "a b", "é", "x".repeat(161), "ok/1") },
);
/** Drops one member now and then (a missing required key). */
function sometimesMissing<T extends Record<string, unknown>>(arb: fc.Arbitrary<T>) {
  return fc.tuple(arb, fc.nat({ max: 40 })).map(([o, drop]) => {
    const keys = Object.keys(o);
    if (drop >= keys.length) return o;
    const { [keys[drop]!]: _gone, ...rest } = o;
    return rest;
  });
}
const metricName = fc.oneof(
  { weight: 30, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/) },
  { weight: 1, arbitrary: fc.constantFrom("Bad", "_x", "1a", "constructor", "x".repeat(65)) },
);
const money = fc.oneof(
  { weight: 40, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 17n }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "01",
      "-1",
      "1.5",
      "",
      "1e3",
      "9007199254740991",
      "9007199254740992",
      "170141183460469231731687303715884105727",
      "170141183460469231731687303715884105728",
      "1".repeat(40),
    ),
  },
  { weight: 1, arbitrary: fc.integer().map((n) => n as Json) },
);
const nativeEntry = sometimesMissing(fc.record({
  account,
  metrics: fc.dictionary(metricName, money, { maxKeys: 3 }),
}));
const counter = fc.oneof(
  { weight: 40, arbitrary: fc.nat() },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 53, 2 ** 53 - 1, "7" as Json) },
);
const compatEntry = sometimesMissing(fc.record({
  account,
  bytes_stored: counter,
  bytes_served: counter,
  uptime_seconds: counter,
}));
const extra = fc.oneof(
  { weight: 15, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom("extra", "schema", "entries", "pool_minor_units") },
);

const nativeDoc = fc.record({
  epoch: fc.oneof({ weight: 20, arbitrary: fc.constant("e-1") }, fc.constantFrom("", ".", "a b")),
  asset: fc.oneof({ weight: 20, arbitrary: fc.constant("roc") }, fc.constant("..")),
  pool: fc.oneof(fc.constant(undefined), money),
  entries: fc.array(nativeEntry, { maxLength: 6 }),
  extra,
}).map((d): Json => ({
  schema: "svc-rewarder.inputs.v1",
  epoch_id: d.epoch,
  asset: d.asset,
  ...(d.pool === undefined ? {} : { pool_minor: d.pool }),
  entries: d.entries as Json[],
  ...(d.extra === undefined ? {} : { [d.extra]: "1" }),
}));
const compatDoc = fc.record({
  millis: counter,
  pool: money,
  contributions: fc.array(compatEntry, { maxLength: 6 }),
  extra,
}).map((d): Json => ({
  produced_at_millis: d.millis,
  pool_minor_units: d.pool,
  contributions: d.contributions as Json[],
  ...(d.extra === undefined ? {} : { [d.extra]: "svc-rewarder.inputs.v1" }),
}));

/** Byte-level damage, including each kind of refusal the strict reader makes. */
const SNIPPETS = [
  '"\\ud800"',
  '"\\udc00x"',
  '"\\uffff"',
  '"\\ufdd0"',
  "\xef\xbf\xbe",
  "\xff",
  "\xed\xa0\x80",
  "1e2",
  "100.0",
  "-0",
  "01",
  ",",
  "}",
  '"account":"z",',
  '"a":"1","a":"2"',
  "\xef\xbb\xbf",
  "[",
  " ",
  "\\",
];
const mutation = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.record({
      at: fc.nat(),
      cut: fc.nat({ max: 3 }),
      snippet: fc.constantFrom(...SNIPPETS),
    }),
  },
);

function bytesOf(text: string, m: { at: number; cut: number; snippet: string } | undefined) {
  const base = new TextEncoder().encode(text);
  if (m === undefined) return base;
  const at = m.at % (base.length + 1);
  // Snippets are byte strings (each char one byte), so raw invalid UTF-8 can be injected.
  const inserted = Uint8Array.from(m.snippet, (c) => c.charCodeAt(0));
  const out = new Uint8Array(base.length + inserted.length);
  out.set(base.subarray(0, at));
  out.set(inserted, at);
  out.set(base.subarray(Math.min(base.length, at + m.cut)), at + inserted.length);
  return out.subarray(0, base.length - Math.min(m.cut, base.length - at) + inserted.length);
}

Deno.test("one pass = reference reader on random native and compat documents, mutated or not", () => {
  let taken = 0;
  let accepted = 0;
  fc.assert(
    fc.property(
      fc.oneof(nativeDoc, compatDoc),
      fc.array(fc.nat(), { maxLength: 16 }),
      mutation,
      (doc, choices, m) => {
        const bytes = bytesOf(serialise(doc, choices), m);
        same(bytes);
        if (parseInputsFast(bytes, NEVER) !== null) taken++;
        if (parseInputsReference(bytes).ok) accepted++;
      },
    ),
    params,
  );
  // The property is only worth something if both paths see plenty of accepted documents.
  assert.ok(taken > RUNS / 10 && accepted > RUNS / 5, `taken ${taken}, accepted ${accepted}`);
});

Deno.test("the one-pass reader takes the plain documents (and gives the reference's answer)", () => {
  const native = new TextEncoder().encode(
    '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e","asset":"roc","pool_minor":"100",' +
      '"entries":[{"account":"b","metrics":{"x":"2","y":"170141183460469231731687303715884105727"}},' +
      '{"metrics":{},"account":"a"}]}',
  );
  assert.notEqual(parseInputsFast(native, NEVER), null);
  same(native);
  const compat = new TextEncoder().encode(
    '{ "produced_at_millis": 1, "pool_minor_units": "10", "contributions": [\n' +
      ' {"account":"n1","bytes_stored":0,"bytes_served":9007199254740991,"uptime_seconds":3} ] }',
  );
  assert.notEqual(parseInputsFast(compat, NEVER), null);
  same(compat);
});

Deno.test("every refusal of the strict reader is still made (and by the reference path)", () => {
  const doc = (metric: string, value = '"1"') =>
    `{"schema":"svc-rewarder.inputs.v1","epoch_id":"e","asset":"roc","entries":[` +
    `{"account":"a","metrics":{${metric}:${value}}}]}`;
  const compat = (counter: string) =>
    `{"produced_at_millis":1,"pool_minor_units":"10","contributions":[` +
    `{"account":"a","bytes_stored":${counter},"bytes_served":1,"uptime_seconds":1}]}`;
  const cases: [string, Uint8Array, string][] = [
    ["lone surrogate", new TextEncoder().encode(doc('"\\ud800"')), "json"],
    ["escaped noncharacter", new TextEncoder().encode(doc('"\\uffff"')), "json"],
    ["raw noncharacter", Uint8Array.from(doc('"a\xef\xbf\xbe"'), (c) => c.charCodeAt(0)), "json"],
    ["invalid UTF-8", Uint8Array.from(doc('"a\xff"'), (c) => c.charCodeAt(0)), "json"],
    ["duplicate key", new TextEncoder().encode(doc('"x":"1","x"')), "json"],
    ["BOM", new TextEncoder().encode("\ufeff" + doc('"x"')), "json"],
    ["1e2", new TextEncoder().encode(compat("1e2")), "schema"],
    ["100.0", new TextEncoder().encode(compat("100.0")), "schema"],
    ["-0", new TextEncoder().encode(compat("-0")), "schema"],
    ["leading zero", new TextEncoder().encode(compat("01")), "json"],
  ];
  for (const [name, bytes, reason] of cases) {
    assert.equal(parseInputsFast(bytes, NEVER), null, name);
    const r = parseInputs(bytes);
    assert.ok(!r.ok, name);
    assert.equal(r.error.reason, reason, name);
    same(bytes);
  }
});
