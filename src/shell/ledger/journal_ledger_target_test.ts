import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fakeRun } from "../../../tests/support/ledger_fixtures.ts";
import { openJournalLedgerTarget } from "./journal_ledger_target.ts";
import { LedgerRetryableError } from "./ledger_target.ts";
import { ledgerIntentsPathOf, parseAck } from "./http_ledger_target.ts";
import { canonicalJson } from "../../core/canonical_json.ts";
import { toBase64Url } from "../../core/base64url.ts";
import { createAtRestCipher } from "../store/at_rest_cipher.ts";
import { isStoreUndecryptable, type QueuedIntent } from "../store/run_store.ts";

const ctx = { tenant: "acme", corrId: "c", signal: new AbortController().signal };
const other = (q: QueuedIntent) => ({
  ...q,
  body: q.body.replace('"total_minor":"999"', '"total_minor":"1"'),
});
const cipher = createAtRestCipher(new Uint8Array(32).fill(8));

Deno.test("journal (memory): accepted, duplicate, conflict", async () => {
  const j = await openJournalLedgerTarget({});
  const f = fakeRun();
  assert.equal(await j.send(f.queued, ctx), "accepted");
  assert.equal(await j.send(structuredClone(f.queued), ctx), "duplicate");
  assert.equal(await j.send(other(f.queued), ctx), "conflict");
  assert.equal((await j.applied()).length, 1);
  assert.deepEqual(await j.entries(), [{ tenant: "acme", key: f.intentKey, body: f.queued.body }]);
});

Deno.test("journal (file): encrypted lines, index rebuilt, torn tail cut, tamper refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rw-journal-"));
  try {
    const path = join(dir, "journal.jsonl");
    const j = await openJournalLedgerTarget({ path, cipher });
    const a = fakeRun({ variant: "a" });
    const b = fakeRun({ variant: "b", epochId: "e2" });
    await j.send(a.queued, ctx);
    await j.send(b.queued, ctx);
    assert.ok(!(await readFile(path, "utf8")).includes("acct_a"), "encrypted at rest");
    await appendFile(path, '{"key":"b3:torn'); // crash mid-append
    const j2 = await openJournalLedgerTarget({ path, cipher });
    assert.equal(await j2.send(a.queued, ctx), "duplicate");
    assert.equal(await j2.send(other(b.queued), ctx), "conflict");
    assert.equal((await j2.applied()).length, 2);
    const text = await readFile(path, "utf8");
    assert.ok(text.endsWith("\n"), "torn tail cut off");
    await writeFile(path, text.replace(/"box":"(.)/, (_m, c) => `"box":"${c === "A" ? "B" : "A"}`));
    await assert.rejects(openJournalLedgerTarget({ path, cipher }), isStoreUndecryptable);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("journal: keys are scoped by tenant; v1 run-key keys of two tenants do not collide", async () => {
  const j = await openJournalLedgerTarget({});
  const a = fakeRun({ tenant: "acme", v1: true });
  const b = fakeRun({ tenant: "beta", v1: true });
  assert.equal(a.queued.idempotencyKey, b.queued.idempotencyKey, "v1: one key for both");
  assert.equal(await j.send(a.queued, ctx), "accepted");
  assert.equal(await j.send(b.queued, { ...ctx, tenant: "beta" }), "accepted");
  assert.equal(await j.send(b.queued, { ...ctx, tenant: "beta" }), "duplicate");
});

Deno.test("journal (file): a journal written before v2 reads unchanged (key = run key, box = JCS v1)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rw-journal-"));
  try {
    const path = join(dir, "journal.jsonl");
    const f = fakeRun({ v1: true });
    // The v1 line format: {"key":<run key>,"box":seal("journal:"+run key, JCS(intent v1))}.
    const box = toBase64Url(
      cipher.seal(`journal:${f.runKey}`, new TextEncoder().encode(canonicalJson(f.intent))),
    );
    await writeFile(path, `${JSON.stringify({ key: f.runKey, box })}\n`);
    const j = await openJournalLedgerTarget({ path, cipher });
    assert.equal(await j.send(f.queued, ctx), "duplicate");
    assert.deepEqual(await j.applied(), [f.intent]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("http ack parsing is strict", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(parseAck(enc('{"status":"accepted"}')), "accepted");
  assert.equal(parseAck(enc('{"status":"duplicate"}')), "duplicate");
  for (
    const bad of [
      '{"status":"accepted"',
      '{"status":"ok"}',
      '{"status":"accepted","x":1}',
      "[]",
      "",
    ]
  ) {
    assert.throws(() => parseAck(enc(bad)), LedgerRetryableError);
  }
});

Deno.test("ledgerIntentsPathOf: the path of LEDGER_URL + /intents", () => {
  assert.equal(ledgerIntentsPathOf("http://127.0.0.1:9000"), "/intents");
  assert.equal(ledgerIntentsPathOf("https://ledger.example/v1/"), "/v1/intents");
  assert.equal(ledgerIntentsPathOf("https://ledger.example/a/b"), "/a/b/intents");
});
