import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { blake3Hex } from "../../core/blake3.ts";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { createAtRestCipher } from "../store/at_rest_cipher.ts";
import { openJournalLedgerTarget } from "../ledger/journal_ledger_target.ts";
import {
  base64UrlChunks,
  blake3HexOfTexts,
  slicesOf,
  TEXT_STEP_CHARS,
  utf8Slices,
} from "./text_chunks.ts";

/** A text longer than a step, a surrogate pair straddling the step's edge, a lone surrogate. */
function longText(): string {
  const head = 'x"\\é'.repeat(Math.ceil(TEXT_STEP_CHARS / 4)).slice(0, TEXT_STEP_CHARS - 1);
  return `${head}\u{1F600}\ud800${"tail-".repeat(1000)}`;
}

Deno.test("text slices: never split a pair, join back to the text", () => {
  const text = longText();
  const slices = [...slicesOf(text)];
  assert.ok(slices.length >= 2);
  assert.equal(slices.join(""), text);
  for (const s of slices.slice(0, -1)) {
    assert.ok(!/[\ud800-\udbff]$/.test(s), "no slice ends with a high surrogate");
  }
  assert.equal(slices[0]!.length, TEXT_STEP_CHARS - 1, "the pair moved to the next slice");
  const utf8 = [...utf8Slices(["a", text])];
  const joined = new Uint8Array(utf8.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of utf8) {
    joined.set(c, at);
    at += c.length;
  }
  assert.deepEqual(joined, new TextEncoder().encode(`a${text}`));
});

Deno.test("text digest: the BLAKE3 of the texts joined, a slice at a time", async () => {
  const text = longText();
  assert.equal(await blake3HexOfTexts([]), blake3Hex(""));
  assert.equal(await blake3HexOfTexts(["k", "\u0000", "body"]), blake3Hex("k\u0000body"));
  assert.equal(await blake3HexOfTexts(["key", "\u0000", text]), blake3Hex(`key\u0000${text}`));
});

Deno.test("base64url of chunks: the text of the bytes joined, any chunk sizes", async () => {
  const bytes = new Uint8Array(10_007).map((_, i) => (i * 131) & 255);
  for (const sizes of [[1], [2, 5], [3, 3, 1], [4096, 7], [10_007]]) {
    const chunks = async function* () {
      let at = 0;
      for (let i = 0; at < bytes.length; i++) {
        const n = sizes[i % sizes.length]!;
        yield bytes.subarray(at, Math.min(bytes.length, at + n));
        at += n;
      }
    };
    let text = "";
    for await (const piece of base64UrlChunks(chunks())) text += piece;
    assert.equal(text, toBase64Url(bytes), String(sizes));
  }
});

Deno.test("journal (file): a body longer than a step is one line, sealed whole, read back the same", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rw-chunks-"));
  try {
    const cipher = createAtRestCipher(new Uint8Array(32).fill(4));
    const path = join(dir, "journal.jsonl");
    const body = JSON.stringify({ tenant: "acme", text: longText() });
    const key = `b3:${"1".repeat(64)}`;
    const intent = { idempotencyKey: key, body, runKey: key, intentKey: key, manifestHash: key };
    const ctx = { tenant: "acme", corrId: "c", signal: new AbortController().signal };
    const j = await openJournalLedgerTarget({ path, cipher });
    assert.equal(await j.send(intent as never, ctx), "accepted");
    const text = await readFile(path, "utf8");
    assert.equal(text.split("\n").length, 2, "one line");
    const row = JSON.parse(text) as { key: string; box: string };
    assert.equal(text, `${JSON.stringify(row)}\n`, "the line the one-step writer wrote");
    assert.equal(
      new TextDecoder().decode(cipher.open(`journal:${key}`, fromBase64Url(row.box))),
      body,
    );
    const again = await openJournalLedgerTarget({ path, cipher });
    assert.deepEqual(await again.entries(), [{ tenant: "acme", key, body }]);
    assert.equal(await again.send(intent as never, ctx), "duplicate");
    assert.equal(await again.send({ ...intent, body: `${body} ` } as never, ctx), "conflict");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
