import assert from "node:assert/strict";
import { Hono } from "hono";
import { z } from "zod";
import type { AppEnv } from "../middleware/context.ts";
import { errorHandler } from "../middleware/error_mapper.ts";
import { strictJsonBody, validJson, validParam, validQuery } from "./validate.ts";

function app() {
  const a = new Hono<AppEnv>();
  a.onError(errorHandler({ jitterMsMax: 0 }));
  a.post(
    "/v",
    strictJsonBody(),
    validJson(z.object({ name: z.string(), n: z.array(z.number()) }).strict()),
    async (c) => c.json({ valid: c.req.valid("json"), text: await c.req.text() }),
  );
  return a;
}

Deno.test("strictJsonBody hands the body validator the text Fetch's text() gives (BOM, non-ASCII, escapes)", async () => {
  for (
    const text of [
      '{"name":"Zoë \\u00e9 \\ud83d\\ude00","n":[1,2]}',
      '\uFEFF{"name":"bom","n":[]}',
      ' {"n":[0.5],"name":"\\"q\\""}\n',
    ]
  ) {
    const bytes = new TextEncoder().encode(text);
    const res = await app().request("/v", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: bytes,
    });
    const fetchText = await new Response(bytes).text();
    if (res.status !== 200) {
      // The strict reader refuses it: the same 400 `json` as before any validator ran.
      assert.equal(res.status, 400, text);
      assert.equal((await res.json()).error.reason, "json", text);
      continue;
    }
    assert.deepEqual(await res.json(), { valid: JSON.parse(fetchText), text: fetchText }, text);
  }
});

Deno.test("strictJsonBody: a body that is not I-JSON is 400 json; a schema fault is 400 schema", async () => {
  const post = (body: string) =>
    app().request("/v", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
  const dup = await post('{"name":"a","name":"b","n":[]}');
  assert.equal(dup.status, 400);
  assert.equal((await dup.json()).error.reason, "json");
  const schema = await post('{"name":1,"n":[]}');
  assert.equal(schema.status, 400);
  assert.deepEqual((await schema.json()).error.field, "name");
});

Deno.test("validParam / validQuery remember a valid input by its text, never a fault", async () => {
  const a = new Hono<AppEnv>();
  a.onError(errorHandler({ jitterMsMax: 0 }));
  const seen: unknown[] = [];
  a.get(
    "/e/:id",
    validParam(z.object({ id: z.string().regex(/^[a-z0-9-]{1,8}$/) })),
    validQuery(z.object({ limit: z.string().regex(/^[0-9]+$/).optional() }).strict()),
    (c) => {
      seen.push({ param: c.req.valid("param"), query: c.req.valid("query") });
      return c.json({ ok: true });
    },
  );
  const status = async (path: string) => (await a.request(path)).status;
  for (let round = 0; round < 3; round++) {
    assert.equal(await status("/e/abc"), 200);
    assert.equal(await status("/e/abc?limit=5"), 200);
    assert.equal(await status("/e/d%2Dx?limit=6"), 200); // decoded once by Hono: "d-x"
    assert.equal(await status("/e/BAD"), 400); // a fault: found again every time
    assert.equal(await status("/e/abc?limit=x"), 400);
    assert.equal(await status("/e/abc?other=1"), 400);
  }
  const expected = [
    { param: { id: "abc" }, query: {} },
    { param: { id: "abc" }, query: { limit: "5" } },
    { param: { id: "d-x" }, query: { limit: "6" } },
  ];
  assert.deepEqual(seen, [...expected, ...expected, ...expected]);
  const bad = await a.request("/e/abc?other=1");
  assert.equal((await bad.json()).error.field, "");
});

Deno.test("a JSON body's verdicts are remembered by its exact bytes: the same answers on every resend", async () => {
  let validated = 0;
  const a = new Hono<AppEnv>();
  a.onError(errorHandler({ jitterMsMax: 0 }));
  a.post(
    "/v",
    strictJsonBody(),
    validJson(z.object({ name: z.string(), n: z.array(z.number()) }).strict()),
    (c) => {
      validated += 1;
      return c.json({ valid: c.req.valid("json"), text: "" });
    },
  );
  const post = async (body: BodyInit, type = "application/json") => {
    const res = await a.request("/v", { method: "POST", headers: { "content-type": type }, body });
    const json = await res.json();
    return [res.status, json.error?.reason ?? json.valid] as const;
  };
  const good = '{"name":"Zoë","n":[1,2]}';
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(good)]);
  const invalid = new Uint8Array([...new TextEncoder().encode('{"name":"'), 0xff, 0x22, 0x7d]);
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(await post(good), [200, { name: "Zoë", n: [1, 2] }]);
    assert.deepEqual(await post(bom), [400, "json"]); // the same text but a BOM: other bytes
    assert.deepEqual(await post(invalid), [400, "json"]);
    assert.deepEqual(await post('{"name":"a","name":"b","n":[]}'), [400, "json"]);
    assert.deepEqual(await post('{"name":1,"n":[]}'), [400, "schema"]);
    assert.deepEqual(await post(good, "text/plain"), [400, "schema"]); // not read as JSON
    assert.deepEqual(await post(`{"name":"${"x".repeat(5000)}","n":[]}`), [
      200,
      { name: "x".repeat(5000), n: [] },
    ]);
  }
  assert.equal(validated, 6);
});
