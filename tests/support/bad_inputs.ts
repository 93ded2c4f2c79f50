/**
 * The bad-input rows for `POST /rewarder/epochs/{id}/compute`, as one table run unchanged
 * over TCP and over a Unix socket. Each row asserts the contract's status, `error.code`,
 * `error.reason` and `error.field` (§8: the schema path, or no field), that nothing of the
 * request is echoed, and that nothing is left behind: the tenant's run list is unchanged and
 * the epoch is not committed.
 *
 * @module
 */
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { type caller, runKeys } from "./service.ts";
import type { Fixtures } from "./fixtures.ts";

/** REQ_BODY_MAX default (contract §12). */
export const BODY_BYTES_MAX = 1_048_576;
/** POST_INFLATE_MAX default (contract §12). */
export const INFLATED_BYTES_MAX = 8_388_608;
/** DECOMP_RATIO_MAX default (contract §12). */
export const RATIO_MAX = 10;

/** A string put into requests to prove that error answers never echo input. */
export const ECHO_MARKER = "echo_marker_5f3a";

/** One row: a request against a fresh epoch and the contract's answer. */
export interface Row {
  name: string;
  /** Epoch in the path (raw path segment). */
  epochSegment: string;
  headers: Record<string, string>;
  /** Built per call (streams are single-use). */
  body: () => BodyInit | undefined;
  status: number;
  code: string;
  reason: string;
  /** The expected `error.field` (§8); `null`: the answer names no field. */
  field: string | null;
}

const json = { "content-type": "application/json" };

/** A gzip body that inflates within the ratio cap but beyond POST_INFLATE_MAX. */
export function gzipOverInflateCap(): Uint8Array<ArrayBuffer> {
  // Blocks of incompressible bytes and zero runs: ratio ≈ 9 (< 10), so the ratio cap
  // (10 × compressed > 8 MiB) is not what stops it; the 8 MiB cap is.
  const randomBytes = 1_000;
  const zeros = 8_200;
  const blocks = Math.ceil((INFLATED_BYTES_MAX + 64 * 1024) / (randomBytes + zeros));
  const plain = new Uint8Array(blocks * (randomBytes + zeros));
  for (let i = 0; i < blocks; i++) {
    crypto.getRandomValues(
      plain.subarray(i * (randomBytes + zeros), i * (randomBytes + zeros) + randomBytes),
    );
  }
  const gz = new Uint8Array(zlib.gzipSync(plain, { level: 9 }));
  assert.ok(plain.length > INFLATED_BYTES_MAX, "fixture: inflates beyond the cap");
  assert.ok(gz.length <= BODY_BYTES_MAX, `fixture: fits the body cap (${gz.length})`);
  assert.ok(gz.length * RATIO_MAX > INFLATED_BYTES_MAX, "fixture: the ratio cap is not binding");
  return gz;
}

function chunked(bytes: Uint8Array, chunkBytes = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunkBytes));
      offset += chunkBytes;
    },
  });
}

/** The rows; `n` makes the epoch ids unique per transport. */
export function computeRejectionRows(fx: Fixtures, prefix: string): Row[] {
  const good = { ...fx.interop };
  const rows: Row[] = [];
  let i = 0;
  const add = (
    name: string,
    status: number,
    code: string,
    reason: string,
    body: () => BodyInit | undefined,
    options: { headers?: Record<string, string>; epochSegment?: string; field?: string } = {},
  ) => {
    i += 1;
    rows.push({
      name,
      epochSegment: options.epochSegment ?? `${prefix}-bad-${i}`,
      headers: options.headers ?? json,
      body,
      status,
      code,
      reason,
      field: options.field ?? null,
    });
  };
  const f = (field: string) => ({ field });
  const s = (doc: unknown) => () => JSON.stringify(doc);
  const { policy_hash: _omit, ...missing } = good;
  add("missing field (policy_hash)", 400, "BAD_REQUEST", "schema", s(missing), f("policy_hash"));
  add("unknown field", 400, "BAD_REQUEST", "schema", s({ ...good, [ECHO_MARKER]: 1 }), f(""));
  add(
    "extra nested field",
    400,
    "BAD_REQUEST",
    "schema",
    s({ ...good, dry_run: { x: 1 } }),
    f("dry_run"),
  );
  add(
    "extra field run_key",
    400,
    "BAD_REQUEST",
    "schema",
    s({ ...good, run_key: good.inputs_cid }),
    f(""),
  );
  add(
    "wrong type: dry_run string",
    400,
    "BAD_REQUEST",
    "schema",
    s({ ...good, dry_run: "yes" }),
    f("dry_run"),
  );
  add(
    "wrong type: policy_id number",
    400,
    "BAD_REQUEST",
    "schema",
    s({ ...good, policy_id: 7 }),
    f("policy_id"),
  );
  add("wrong type: array body", 400, "BAD_REQUEST", "schema", s([good]), f(""));
  add(
    "first fault in schema order (policy_hash before dry_run)",
    400,
    "BAD_REQUEST",
    "schema",
    s({ dry_run: "no", inputs_cid: good.inputs_cid, policy_id: good.policy_id }),
    f("policy_hash"),
  );
  add("not JSON", 400, "BAD_REQUEST", "json", () => `{"inputs_cid": ${ECHO_MARKER}`);
  add(
    "duplicate member name (I-JSON)",
    400,
    "BAD_REQUEST",
    "json",
    () => `{"inputs_cid":"${good.inputs_cid}",` + s(good)().slice(1),
  );
  add(
    "lone surrogate (I-JSON)",
    400,
    "BAD_REQUEST",
    "json",
    s({ ...good, notes: "\ud800" }),
  );
  add(
    "notes over 1024 chars",
    400,
    "BAD_REQUEST",
    "schema",
    s({ ...good, notes: "n".repeat(1025) }),
    f("notes"),
  );
  // A `%20` escape is not one the request path may hold (contract §9): 400 `path`.
  add("bad epoch id (space)", 400, "BAD_REQUEST", "path", s(good), {
    epochSegment: "bad%20epoch",
  });
  add("bad epoch id (129 chars)", 400, "BAD_REQUEST", "schema", s(good), {
    epochSegment: "e".repeat(129),
    field: "epoch_id",
  });
  add(
    "uppercase CID",
    400,
    "BAD_REQUEST",
    "schema",
    s({
      ...good,
      inputs_cid: good.inputs_cid.toUpperCase().replace("B3:", "b3:"),
    }),
    f("inputs_cid"),
  );
  add(
    "malformed CID (short)",
    400,
    "BAD_REQUEST",
    "schema",
    s({
      ...good,
      inputs_cid: good.inputs_cid.slice(0, 40),
    }),
    f("inputs_cid"),
  );
  add(
    "malformed CID (sha256: prefix)",
    400,
    "BAD_REQUEST",
    "schema",
    s({
      ...good,
      policy_hash: good.policy_hash.replace("b3:", "sha256:"),
    }),
    f("policy_hash"),
  );
  add("content type text/plain", 415, "BAD_REQUEST", "media_type", s(good), {
    headers: { "content-type": "text/plain" },
  });
  add("content type missing", 415, "BAD_REQUEST", "media_type", () => new Blob([s(good)()]), {
    headers: {},
  });
  add("content type json with latin1 charset", 415, "BAD_REQUEST", "media_type", s(good), {
    headers: { "content-type": "application/json; charset=latin1" },
  });
  const big = new Uint8Array(BODY_BYTES_MAX + 1).fill(0x20);
  add("1 MiB + 1 with Content-Length", 413, "BAD_REQUEST", "oversize", () => big);
  add("1 MiB + 1 chunked (no Content-Length)", 413, "BAD_REQUEST", "oversize", () => chunked(big));
  const gzHeaders = { ...json, "content-encoding": "gzip" };
  add(
    "gzip over the ratio",
    413,
    "BAD_REQUEST",
    "decompress_cap",
    () => new Uint8Array(zlib.gzipSync(new Uint8Array(512 * 1024))),
    { headers: gzHeaders },
  );
  const overCap = gzipOverInflateCap();
  add("gzip over the post-inflate cap", 413, "BAD_REQUEST", "decompress_cap", () => overCap, {
    headers: gzHeaders,
  });
  const gzGood = new Uint8Array(zlib.gzipSync(new TextEncoder().encode(s(good)())));
  add("nested encodings: gzip, gzip", 415, "BAD_REQUEST", "encoding", () => gzGood, {
    headers: { ...json, "content-encoding": "gzip, gzip" },
  });
  add(
    "nested archive: gzip inside gzip",
    415,
    "BAD_REQUEST",
    "encoding",
    () => new Uint8Array(zlib.gzipSync(gzGood)),
    { headers: gzHeaders },
  );
  add("unknown encoding (br)", 415, "BAD_REQUEST", "encoding", () => gzGood, {
    headers: { ...json, "content-encoding": "br" },
  });
  add(
    "unknown inputs CID",
    404,
    "NOT_FOUND",
    "unknown_cid",
    s({
      ...good,
      inputs_cid: `b3:${"0".repeat(64)}`,
    }),
  );
  // Contract §5 step 2: a known hash whose policy is not the body's policy_id.
  add(
    "policy_id is not the policy of policy_hash",
    400,
    "BAD_REQUEST",
    "policy_mismatch",
    s({
      ...good,
      policy_id: "no-such-policy",
    }),
    f("policy_id"),
  );
  add(
    "unknown policy hash",
    404,
    "NOT_FOUND",
    "unknown_policy",
    s({
      ...good,
      policy_hash: `b3:${"1".repeat(64)}`,
    }),
  );
  // The server's own store holds bytes that do not hash to their name: its fault, not the
  // client's (500, never the client's `cid_mismatch`).
  add(
    "stored inputs bytes do not match their CID",
    500,
    "INTERNAL",
    "store_corrupt",
    s({
      ...good,
      inputs_cid: fx.corruptInputsCid,
    }),
  );
  // A POLICY_DIR envelope whose signature does not verify is not usable: the directory
  // registry refuses the file (logged) and answers a request for its id and hash with the
  // verification reason: 400 BAD_REQUEST `policy_signature` (contract §3, §8); never computed.
  add(
    "policy with a bad signature",
    400,
    "BAD_REQUEST",
    "policy_signature",
    s({
      ...good,
      policy_id: fx.badSig.policy_id,
      policy_hash: fx.badSig.policy_hash,
    }),
  );
  add(
    "stale epoch (native inputs of another epoch)",
    400,
    "BAD_REQUEST",
    "stale",
    s({
      inputs_cid: fx.hamilton.inputs_cid,
      policy_id: fx.hamilton.policy_id,
      policy_hash: fx.hamilton.policy_hash,
    }),
    f("inputs.epoch_id"),
  );
  return rows;
}

/**
 * Asserts an error answer: status, code, reason, corr id, and no echo of input; with `field`
 * (a string, or `null` for none) also the §8 `field`.
 */
export function assertError(
  a: { status: number; body: unknown; text: string },
  status: number,
  code: string,
  reason: string,
  field?: string | null,
): void {
  const err = (a.body as { error?: Record<string, unknown> } | undefined)?.error;
  assert.ok(err, `an error envelope, got ${a.status} ${a.text.slice(0, 200)}`);
  assert.deepEqual(
    { status: a.status, code: err.code, reason: err.reason },
    { status, code, reason },
  );
  assert.equal(typeof err.corr_id, "string");
  if (field !== undefined) assert.equal(err.field, field ?? undefined, "error.field");
  for (const key of Object.keys(err)) {
    assert.ok(
      ["code", "reason", "corr_id", "field", "run"].includes(key),
      `unexpected error key ${key}`,
    );
  }
  assert.ok(!a.text.includes(ECHO_MARKER), "the answer echoes input");
}

/** Runs every row as a step; each asserts its answer and that nothing was left behind. */
export async function runRejectionRows(
  t: Deno.TestContext,
  call: ReturnType<typeof caller>,
  token: string,
  rows: readonly Row[],
): Promise<void> {
  for (const row of rows) {
    await t.step(row.name, async () => {
      const before = await runKeys(call, token);
      const body = row.body();
      const a = await call("POST", `/rewarder/epochs/${row.epochSegment}/compute`, {
        token,
        headers: row.headers,
        ...(body === undefined ? {} : { body }),
      });
      assertError(a, row.status, row.code, row.reason, row.field);
      assert.deepEqual(await runKeys(call, token), before, "no run recorded");
      if (/^[A-Za-z0-9._:-]{1,128}$/.test(row.epochSegment)) {
        const epoch = await call("GET", `/rewarder/epochs/${row.epochSegment}`, { token });
        assertError(epoch, 404, "NOT_FOUND", "unknown_epoch");
      }
    });
  }
}
