import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fakeRun } from "./test_fixtures.ts";
import { openJournalLedgerTarget } from "./journal_ledger_target.ts";
import { LedgerRetryableError } from "./ledger_target.ts";
import { parseAck } from "./http_ledger_target.ts";
import { createAtRestCipher } from "../store/at_rest_cipher.ts";
import { isStoreUndecryptable } from "../store/run_store.ts";

const ctx = { corrId: "c", signal: new AbortController().signal };
const cipher = createAtRestCipher(new Uint8Array(32).fill(8));

Deno.test("journal (memory): accepted, duplicate, conflict", async () => {
  const j = await openJournalLedgerTarget({});
  const f = fakeRun();
  assert.equal(await j.send(f.intent, ctx), "accepted");
  assert.equal(await j.send(structuredClone(f.intent), ctx), "duplicate");
  assert.equal(await j.send({ ...f.intent, asset: "x" }, ctx), "conflict");
  assert.equal((await j.applied()).length, 1);
});

Deno.test("journal (file): encrypted lines, index rebuilt, torn tail cut, tamper refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rw-journal-"));
  try {
    const path = join(dir, "journal.jsonl");
    const j = await openJournalLedgerTarget({ path, cipher });
    const a = fakeRun({ variant: "a" });
    const b = fakeRun({ variant: "b", epochId: "e2" });
    await j.send(a.intent, ctx);
    await j.send(b.intent, ctx);
    assert.ok(!(await readFile(path, "utf8")).includes("acct_a"), "encrypted at rest");
    await appendFile(path, '{"key":"b3:torn'); // crash mid-append
    const j2 = await openJournalLedgerTarget({ path, cipher });
    assert.equal(await j2.send(a.intent, ctx), "duplicate");
    assert.equal(await j2.send({ ...b.intent, total_minor: "1" }, ctx), "conflict");
    assert.equal((await j2.applied()).length, 2);
    const text = await readFile(path, "utf8");
    assert.ok(text.endsWith("\n"), "torn tail cut off");
    await writeFile(path, text.replace(/"box":"(.)/, (_m, c) => `"box":"${c === "A" ? "B" : "A"}`));
    await assert.rejects(openJournalLedgerTarget({ path, cipher }), isStoreUndecryptable);
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
