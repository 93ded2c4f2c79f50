import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson, hasLoneSurrogate } from "./canonical_json.ts";

Deno.test("canonicalJson sorts keys by UTF-16 code units and drops whitespace", () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, "x"] }), '{"a":[true,null,"x"],"b":1}');
  // RFC 8785 §3.2.3: "\u20ac" (€, U+20AC) sorts before "\ud83d\ude00" (😀, surrogates D83D).
  assert.equal(canonicalJson({ "😀": 1, "€": 2, "a": 3 }), '{"a":3,"€":2,"😀":1}');
});

Deno.test("canonicalJson escapes strings as JSON.stringify does", () => {
  assert.equal(canonicalJson('\u0000\n"\\\u2028é'), JSON.stringify('\u0000\n"\\\u2028é'));
});

Deno.test("canonicalJson refuses values outside the contract's value space", () => {
  for (const bad of [1.5, -1, -0, 2 ** 53, NaN, Infinity, 1n, undefined, () => 1, new Date(0)]) {
    assert.throws(() => canonicalJson({ x: bad }), TypeError);
  }
  assert.throws(() => canonicalJson({ x: undefined }), TypeError);
});

Deno.test("canonicalJson round-trips through JSON.parse and is idempotent", () => {
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: "small" },
      fc.constant(null),
      fc.boolean(),
      fc.string(),
      fc.nat(),
      fc.array(tie("node"), { maxLength: 4 }),
      fc.dictionary(fc.string(), tie("node"), { maxKeys: 4 }),
    ),
  })).node;
  fc.assert(
    fc.property(value, (v) => {
      const text = canonicalJson(v);
      assert.equal(canonicalJson(JSON.parse(text)), text);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("canonicalJson: integer-like keys sort as strings (explicit writer path)", () => {
  assert.equal(canonicalJson({ "10": 1, "9": 2, "a": 3 }), '{"10":1,"9":2,"a":3}');
  assert.equal(canonicalJson({ x: [{ "1": true, "0": false }] }), '{"x":[{"0":false,"1":true}]}');
  assert.equal(
    canonicalJson(JSON.parse('{"__proto__":1,"b":[null]}')),
    '{"__proto__":1,"b":[null]}',
  );
  assert.throws(() => canonicalJson([undefined]), TypeError);
});

Deno.test("lone surrogates are refused in strings and keys, never written (RFC 8785 §3.2.2.2)", () => {
  // v1 wrote `"\ud800"`; v2 refuses with the path (contract §1).
  assert.throws(
    () => canonicalJson({ a: ["ok", "x\uD800"] }),
    { name: "TypeError", message: "Cannot canonicalize JSON: lone surrogate at $.a[1]" },
  );
  assert.throws(
    () => canonicalJson({ b: { ["\uDC00k"]: 1 } }),
    {
      name: "TypeError",
      message: "Cannot canonicalize JSON: lone surrogate at $.b (a member name)",
    },
  );
  assert.throws(() => canonicalJson({ "0": "\uDBFF" }), /lone surrogate at \$\.0/); // slow writer
  assert.throws(() => canonicalJson("\uDC00\uD800"), /lone surrogate at \$$/); // reversed pair
  // Well-formed pairs (astral characters) stay valid and are written raw, as JSON.stringify does.
  assert.equal(canonicalJson({ e: "\uD83D\uDE00" }), '{"e":"\uD83D\uDE00"}');
  assert.equal(hasLoneSurrogate("\uD83D\uDE00"), false);
  assert.equal(hasLoneSurrogate("a\uD83D"), true);
});
