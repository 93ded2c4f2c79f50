import assert from "node:assert/strict";
import fc from "fast-check";
import { JSON_DEPTH_MAX, jsonPathAt, parseStrictJson, strictJsonProblem } from "./strict_json.ts";

const check = (text: string) => strictJsonProblem(new TextEncoder().encode(text));

Deno.test("strictJsonProblem accepts ordinary documents", () => {
  assert.equal(check('{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}],"d":"x\\"y"}'), null);
  assert.equal(check('[1,2,{"k":"v"}]'), null);
});

Deno.test("strictJsonProblem refuses duplicate keys, also when escaped differently", () => {
  assert.equal(check('{"a":1,"a":2}'), "duplicate_key");
  assert.equal(check('{"a":1,"\\u0061":2}'), "duplicate_key");
  assert.equal(check('{"x":[{"k":1,"k":1}]}'), "duplicate_key");
  assert.equal(check('{"é":1,"\\u00e9":2}'), "duplicate_key");
  assert.equal(check('{"a":{"b":1},"b":{"a":1}}'), null);
});

Deno.test("strictJsonProblem refuses a BOM and excessive depth", () => {
  assert.equal(strictJsonProblem(new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d])), "bom");
  assert.equal(check("[".repeat(JSON_DEPTH_MAX + 1) + "]".repeat(JSON_DEPTH_MAX + 1)), "depth");
  assert.equal(check("[".repeat(JSON_DEPTH_MAX) + "]".repeat(JSON_DEPTH_MAX)), null);
});

Deno.test("strictJsonProblem agrees with a key-set oracle on random objects", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "\\u0061", "é"), fc.nat(9)), {
        maxLength: 6,
      }),
      (pairs) => {
        const text = "{" + pairs.map(([k, v]) => `"${k}":${v}`).join(",") + "}";
        const keys = pairs.map(([k]) => JSON.parse(`"${k}"`));
        const dup = new Set(keys).size !== keys.length;
        assert.equal(check(text), dup ? "duplicate_key" : null);
      },
    ),
    { numRuns: 1000 },
  );
});

const bytesOf = (...b: number[]) => new Uint8Array(b);

Deno.test("I-JSON: lone surrogates and noncharacters are refused, escaped or raw (contract §1)", () => {
  // v1 read all of these (JSON.parse accepts them); v2 refuses them.
  assert.equal(check('{"a":"\\ud800"}'), "surrogate");
  assert.equal(check('{"a":"\\uDC00x"}'), "surrogate");
  assert.equal(check('{"\\ud83dk":1}'), "surrogate"); // in a member name
  assert.equal(check('["\\ud83d\\u0041"]'), "surrogate"); // high + non-low
  assert.equal(check('["\\ud83d\\ude00"]'), null); // a pair is fine
  assert.equal(check('["😀 é €"]'), null);
  assert.equal(check('["\\\\ud800"]'), null); // an escaped backslash, then text
  assert.equal(check('["\\ufdd0"]'), "noncharacter");
  assert.equal(check('["\\uFFFE"]'), "noncharacter");
  assert.equal(check('["\\ud83f\\udfff"]'), "noncharacter"); // U+1FFFF
  assert.equal(check('["\uFDEF"]'), "noncharacter"); // raw, UTF-8 EF B7 AF
  assert.equal(check('["\uFFFF"]'), "noncharacter");
  assert.equal(check('["\u{10FFFE}"]'), "noncharacter"); // raw, 4 bytes
  assert.equal(check('["\uFDCF\uFDF0\uFFFD"]'), null); // neighbours are characters
});

Deno.test("I-JSON: invalid UTF-8 (and so a raw lone surrogate) is refused", () => {
  const quote = 0x22;
  // ED A0 80 would be U+D800 in "UTF-8": not valid UTF-8.
  const raw = parseStrictJson(bytesOf(0x5b, quote, 0xed, 0xa0, 0x80, quote, 0x5d));
  assert.deepEqual(raw, { ok: false, problem: "utf8" });
  const truncated = parseStrictJson(bytesOf(0x5b, quote, 0xc3, quote, 0x5d));
  assert.deepEqual(truncated, { ok: false, problem: "utf8" });
  assert.equal(parseStrictJson('["\\ud800"]').ok, false);
});

Deno.test("the strict reader notes non-integer number literals and their field path", () => {
  const text = '{"n":[1,{"a":0,"b":1e2}],"m":-0}';
  const parsed = parseStrictJson(text);
  assert.ok(parsed.ok);
  assert.equal(text.slice(parsed.nonIntegerAt, parsed.nonIntegerAt + 3), "1e2");
  assert.equal(jsonPathAt(new TextEncoder().encode(text), parsed.nonIntegerAt), "n[1].b");
  for (const literal of ["100.0", "-0", "-1", "1E2", "1e+2"]) {
    const p = parseStrictJson(`{"x":{"y":[0,${literal}]}}`);
    assert.ok(p.ok && p.nonIntegerAt === 13, literal);
    assert.equal(jsonPathAt(new TextEncoder().encode(`{"x":{"y":[0,${literal}]}}`), 13), "x.y[1]");
  }
  const plain = parseStrictJson('{"a":[0,10,9007199254740991],"b":"1e2","t":true,"f":false}');
  assert.ok(plain.ok && plain.nonIntegerAt === -1);
});
