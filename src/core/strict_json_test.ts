import assert from "node:assert/strict";
import fc from "fast-check";
import { JSON_DEPTH_MAX, strictJsonProblem } from "./strict_json.ts";

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
