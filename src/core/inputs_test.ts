/**
 * The inputs parser's fast entry loops against the reference zod schemas: on documents
 * without duplicate accounts, `parseInputs` accepts exactly what `nativeInputsSchema` /
 * `compatInputsSchema` accept (a differential property), and errors name paths, not values.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { compatInputsSchema, nativeInputsSchema, parseInputs } from "./inputs.ts";

const RUNS = Number(Deno.env.get("FC_RUNS") ?? 1000);

// Mostly valid pieces with a few invalid ones, so that a document often hinges on one field.
const account = fc.oneof(
  { weight: 12, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:/-]{1,12}$/) },
  { weight: 1, arbitrary: fc.constantFrom("", "a b", "é", "x".repeat(161), "ok/acct") },
);
const metricName = fc.oneof(
  { weight: 12, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/) },
  { weight: 1, arbitrary: fc.constantFrom("Bad", "_x", "1a", "constructor", "x".repeat(65)) },
);
const moneyish = fc.oneof(
  { weight: 12, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 12n }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "01",
      "-1",
      "1.5",
      "",
      " 1",
      "1e3",
      "170141183460469231731687303715884105727", // I128_MAX: valid
      "170141183460469231731687303715884105728", // I128_MAX + 1: invalid
    ),
  },
  { weight: 1, arbitrary: fc.integer().map((n) => n as unknown) },
);
const extraKey = fc.option(fc.constantFrom("extra", "account2"), { nil: undefined, freq: 12 });

const nativeEntry = fc.record({
  account,
  metrics: fc.dictionary(metricName, moneyish, { maxKeys: 4 }),
  extra: extraKey,
}).map(({ extra, ...e }) => (extra === undefined ? e : { ...e, [extra]: 1 }));

const compatEntry = fc.record({
  account,
  bytes_stored: fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, 2 ** 53, "7")),
  bytes_served: fc.nat(),
  uptime_seconds: fc.nat(),
  extra: extraKey,
}).map(({ extra, ...e }) => (extra === undefined ? e : { ...e, [extra]: 1 }));

function uniqueAccounts(entries: { account: unknown }[]): boolean {
  return new Set(entries.map((e) => e.account)).size === entries.length;
}

Deno.test("native: the fast path accepts exactly what the reference schema accepts", () => {
  fc.assert(
    fc.property(
      fc.array(nativeEntry, { maxLength: 5 }),
      fc.option(moneyish, { nil: undefined }),
      (entries, pool) => {
        fc.pre(uniqueAccounts(entries));
        const doc = {
          schema: "svc-rewarder.inputs.v1",
          epoch_id: "e",
          asset: "roc",
          ...(pool === undefined ? {} : { pool_minor: pool }),
          entries,
        };
        const reference = nativeInputsSchema.safeParse(doc).success;
        const ours = parseInputs(JSON.stringify(doc));
        assert.equal(ours.ok, reference, JSON.stringify(doc));
      },
    ),
    { numRuns: RUNS },
  );
});

Deno.test("compat: the fast path accepts exactly what the reference schema accepts", () => {
  fc.assert(
    fc.property(fc.array(compatEntry, { maxLength: 5 }), (contributions) => {
      fc.pre(uniqueAccounts(contributions));
      const doc = { produced_at_millis: 1, pool_minor_units: "100", contributions };
      const reference = compatInputsSchema.safeParse(doc).success;
      assert.equal(parseInputs(JSON.stringify(doc)).ok, reference, JSON.stringify(doc));
    }),
    { numRuns: RUNS },
  );
});

Deno.test("errors name the field path and never echo the offending value", () => {
  const bad = parseInputs(
    '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e","asset":"roc","entries":[' +
      '{"account":"a","metrics":{"votes":"1"}},{"account":"b","metrics":{"votes":"SECRET-VALUE"}}]}',
  );
  assert.ok(!bad.ok);
  assert.equal(bad.error.reason, "schema");
  assert.equal(bad.error.path, "inputs.entries[1].metrics.votes");
  assert.ok(!bad.error.message.includes("SECRET-VALUE"));
  const unknown = parseInputs(
    '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e","asset":"roc","entries":[' +
      '{"account":"a","metrics":{},"SECRET KEY":1}]}',
  );
  assert.ok(!unknown.ok);
  assert.ok(!unknown.error.message.includes("SECRET"), unknown.error.message);
  const dup = parseInputs(
    '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e","asset":"roc","entries":[' +
      '{"account":"b","metrics":{}},{"account":"a","metrics":{}},{"account":"b","metrics":{}}]}',
  );
  assert.ok(!dup.ok);
  assert.equal(dup.error.reason, "duplicate_account");
  assert.equal(dup.error.path, "inputs.entries[2].account");
});

const compatDoc = (counter: string, millis = "1") =>
  `{"produced_at_millis":${millis},"pool_minor_units":"1000","contributions":[` +
  `{"account":"a","bytes_stored":1,"bytes_served":2,"uptime_seconds":3},` +
  `{"account":"b","bytes_stored":1,"bytes_served":${counter},"uptime_seconds":3}]}`;

Deno.test("compat counters are plain integer literals: 1e2, 100.0 and -0 are refused (§2)", () => {
  // v1 accepted `1e2` (JSON.parse reads it as 100); v2 refuses it, naming the field.
  assert.ok(parseInputs(compatDoc("100")).ok);
  for (const literal of ["1e2", "100.0", "-0", "1E2", "0.0"]) {
    const r = parseInputs(compatDoc(literal));
    assert.ok(!r.ok, literal);
    assert.equal(r.error.reason, "schema", literal);
    assert.equal(r.error.path, "inputs.contributions[1].bytes_served", literal);
  }
  const millis = parseInputs(compatDoc("100", "1e3"));
  assert.ok(!millis.ok && millis.error.path === "inputs.produced_at_millis");
  const big = parseInputs(compatDoc("9007199254740992"));
  assert.ok(!big.ok && big.error.path === "inputs.contributions[1].bytes_served");
  assert.ok(parseInputs(compatDoc("9007199254740991")).ok);
});

Deno.test("inputs that are not I-JSON are 400 json; ids and assets are never . or ..", () => {
  const r = parseInputs(compatDoc("1").replace('"a"', '"\\ud800"'));
  assert.ok(!r.ok && r.error.reason === "json" && r.error.path === "inputs");
  for (const asset of [".", ".."]) {
    const doc =
      `{"schema":"svc-rewarder.inputs.v1","epoch_id":"e","asset":"${asset}","entries":[]}`;
    const p = parseInputs(doc);
    assert.ok(!p.ok && p.error.path === "inputs.asset", asset);
  }
  const account = parseInputs(compatDoc("1").replace('"a"', '".."'));
  assert.ok(!account.ok && account.error.path === "inputs.contributions[0].account");
  const unknown = parseInputs(
    compatDoc("1").replace('"uptime_seconds":3}]', '"uptime_seconds":3,"x":1}]'),
  );
  assert.ok(!unknown.ok && unknown.error.path === "inputs.contributions[1]");
});
