/**
 * The shell's one file reader: a secret's mode is judged on the handle it is read through, a
 * bound holds, and JSON is I-JSON (contract §1, §12).
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileReadError, readFileBounded, readJsonDocument } from "./read_file.ts";

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "read-file-"));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function refused(problem: string) {
  return (err: unknown) => err instanceof FileReadError && err.problem === problem;
}

Deno.test("readFileBounded: secret modes, size bound, a directory, a missing file", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "key.json");
    await writeFile(path, '{"a":1}', { mode: 0o600 });
    await chmod(path, 0o600);
    const ok = await readFileBounded(path, { maxBytes: 7, secret: true });
    assert.equal(new TextDecoder().decode(ok.bytes), '{"a":1}');
    assert.equal(ok.mode, 0o600);
    await chmod(path, 0o400);
    assert.equal((await readFileBounded(path, { maxBytes: 7, secret: true })).mode, 0o400);
    for (const loose of [0o640, 0o604, 0o644]) {
      await chmod(path, loose);
      await assert.rejects(readFileBounded(path, { maxBytes: 7, secret: true }), (err) => {
        return refused("loose_mode")(err) && (err as FileReadError).mode === loose;
      });
    }
    assert.equal((await readFileBounded(path, { maxBytes: 7 })).bytes.length, 7, "public");
    await assert.rejects(readFileBounded(path, { maxBytes: 6 }), refused("too_large"));
    await assert.rejects(readFileBounded(dir, { maxBytes: 6 }), refused("not_file"));
    await assert.rejects(readFileBounded(join(dir, "no"), { maxBytes: 6 }), refused("unreadable"));
  });
});

Deno.test("readJsonDocument: I-JSON only; the problem names the rule, not the content", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "doc.json");
    await writeFile(path, '{"k":[1,2]}');
    assert.deepEqual(await readJsonDocument(path, { maxBytes: 64 }), { k: [1, 2] });
    for (
      const [text, problem] of [
        ['{"zq":1,"zq":2}', "duplicate_key"],
        ['\uFEFF{"zq":1}', "bom"],
        ['{"zq":"\\ud800"}', "surrogate"],
        ["{zq:1}", "syntax"],
      ] as const
    ) {
      await writeFile(path, text);
      await assert.rejects(readJsonDocument(path, { maxBytes: 64 }), (err) => {
        return refused(problem)(err) && !(err as Error).message.includes("zq");
      });
    }
  });
});
