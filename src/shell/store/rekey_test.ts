import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { toBase64Url } from "../../core/base64url.ts";
import { writeSecretFile } from "../keys/key_files.ts";
import { openJournalLedgerTarget } from "../ledger/journal_ledger_target.ts";
import { createAtRestCipher, readAtRestKey } from "./at_rest_cipher.ts";
import { openFileRunStore } from "./file_run_store.ts";
import type { QueuedIntent } from "./run_store.ts";
import {
  assertNoRotationInProgress,
  JOURNAL_FILE,
  keyFingerprint,
  rotateAtRestKey,
  ROTATION_MARKER_FILE,
} from "./rekey.ts";

const COUNTERS = 80;
const JOURNAL_INTENTS = 5;
/** Upper bound on the subprocess's life (ms): the test never waits longer. */
const CHILD_WAIT_MS_MAX = 60_000;
const MAIN_CLI = new URL("../../cli/rewarder.ts", import.meta.url).pathname;

async function newKeyFile(path: string, form: "raw" | "b64"): Promise<Uint8Array> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  await writeSecretFile(path, form === "raw" ? key : new TextEncoder().encode(toBase64Url(key)));
  return key;
}

function intent(i: number): QueuedIntent {
  const runKey = `b3:${"0".repeat(63)}${i}`;
  const body = { schema: "svc-rewarder.intent.v1", tenant: "t", run_key: runKey, n: i };
  return {
    idempotencyKey: runKey,
    body: JSON.stringify(body),
    runKey,
    intentKey: null,
    manifestHash: runKey,
  };
}

/** A data dir with COUNTERS counters (+ canary) in the file store and a journal. */
async function populate(dir: string, keyPath: string): Promise<void> {
  const cipher = createAtRestCipher(await readAtRestKey(keyPath));
  const store = await openFileRunStore({ dataDir: dir, cipher, nowMs: Date.now });
  for (let i = 0; i < COUNTERS; i++) {
    for (let j = 0; j <= i % 3; j++) await store.increment(`c${i}`);
  }
  await store.close();
  const journal = await openJournalLedgerTarget({ path: join(dir, JOURNAL_FILE), cipher });
  const signal = new AbortController().signal;
  for (let i = 0; i < JOURNAL_INTENTS; i++) {
    await journal.send(intent(i), { tenant: "t", corrId: "t", signal });
  }
}

/** Every artifact readable with the key in `keyPath`, with the values populate() wrote. */
async function assertAllReadable(dir: string, keyPath: string): Promise<void> {
  const cipher = createAtRestCipher(await readAtRestKey(keyPath));
  const store = await openFileRunStore({ dataDir: dir, cipher, nowMs: Date.now });
  assert.equal(await store.health(), "ok");
  for (let i = 0; i < COUNTERS; i++) assert.equal(await store.count(`c${i}`), (i % 3) + 1);
  const journal = await openJournalLedgerTarget({ path: join(dir, JOURNAL_FILE), cipher });
  assert.deepEqual(
    (await journal.applied()).map((x) => x.run_key),
    Array.from({ length: JOURNAL_INTENTS }, (_, i) => intent(i).runKey),
  );
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "rekey-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

Deno.test("rotation re-encrypts every artifact and the journal, then swaps the key file", async () => {
  await withDir(async (dir) => {
    const oldPath = join(dir, "at-rest.key");
    const newPath = join(dir, "new.key");
    const oldKey = await newKeyFile(oldPath, "b64");
    const newKey = await newKeyFile(newPath, "raw");
    await populate(dir, oldPath);
    const report = await rotateAtRestKey({
      dataDir: dir,
      oldKeyPath: oldPath,
      newKeyPath: newPath,
    });
    assert.equal(report.rewritten, COUNTERS + 2); // + canary + format marker
    assert.equal(report.journalLines, JOURNAL_INTENTS);
    assert.equal(keyFingerprint(await readAtRestKey(oldPath)), keyFingerprint(newKey));
    assert.equal((await stat(oldPath)).mode & 0o777, 0o600);
    await assertAllReadable(dir, oldPath);
    // The old key opens nothing any more.
    const stale = createAtRestCipher(oldKey);
    const blob = new Uint8Array(await readFile(join(dir, "store", "canary.bin")));
    assert.throws(() => stale.open("canary.bin", blob));
    await assertNoRotationInProgress(dir);
  });
});

Deno.test("a file sealed under neither key stops the rotation before the swap; the marker stays", async () => {
  await withDir(async (dir) => {
    const oldPath = join(dir, "at-rest.key");
    const newPath = join(dir, "new.key");
    const oldKey = await newKeyFile(oldPath, "raw");
    await newKeyFile(newPath, "raw");
    await populate(dir, oldPath);
    const strangerBlob = createAtRestCipher(crypto.getRandomValues(new Uint8Array(32)))
      .seal("counters/zz.bin", new Uint8Array([1]));
    await writeFile(join(dir, "store", "counters", "zz.bin"), strangerBlob, { mode: 0o600 });
    await assert.rejects(
      rotateAtRestKey({ dataDir: dir, oldKeyPath: oldPath, newKeyPath: newPath }),
      (err: { reason?: string; extra?: { files?: string[] } }) =>
        err.reason === "at_rest_unreadable" && err.extra?.files?.[0] === "counters/zz.bin",
    );
    assert.deepEqual(await readAtRestKey(oldPath), oldKey, "no swap");
    await assert.rejects(assertNoRotationInProgress(dir), /at_rest_rotation_in_progress|INTERNAL/);
  });
});

Deno.test("a crash after the key swap is finished on rerun; a mismatched rerun is refused", async () => {
  await withDir(async (dir) => {
    const oldPath = join(dir, "at-rest.key");
    const newPath = join(dir, "new.key");
    const oldKey = await newKeyFile(oldPath, "raw");
    const newKey = await newKeyFile(newPath, "raw");
    await populate(dir, oldPath);
    // Simulate: everything rewritten and swapped, crash before the marker was removed.
    await rotateAtRestKey({ dataDir: dir, oldKeyPath: oldPath, newKeyPath: newPath });
    await writeFile(
      join(dir, ROTATION_MARKER_FILE),
      JSON.stringify({
        schema: "svc-rewarder.at-rest-rotation.v1",
        old_key_id: keyFingerprint(oldKey),
        new_key_id: keyFingerprint(newKey),
      }),
    );
    const third = join(dir, "third.key");
    await newKeyFile(third, "raw");
    await assert.rejects(
      rotateAtRestKey({ dataDir: dir, oldKeyPath: oldPath, newKeyPath: third }),
      /rekey_marker_mismatch|BAD_REQUEST/,
    );
    const report = await rotateAtRestKey({
      dataDir: dir,
      oldKeyPath: oldPath,
      newKeyPath: newPath,
    });
    assert.equal(report.resumed, true);
    assert.equal(report.rewritten, 0);
    await assertNoRotationInProgress(dir);
    await assertAllReadable(dir, oldPath);
  });
});

/** Runs the CLI; resolves with its exit code and stderr. Kills it at `killAtLine` progress. */
function runRotation(
  args: string[],
  env: Record<string, string>,
  killWhen?: (stderr: string) => boolean,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(Deno.execPath(), ["run", "--allow-all", MAIN_CLI, ...args], {
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("rotation subprocess did not finish in time"));
    }, CHILD_WAIT_MS_MAX);
    child.stderr.on("data", (d: Uint8Array) => {
      stderr += new TextDecoder().decode(d);
      if (killWhen?.(stderr) && child.exitCode === null) child.kill("SIGKILL");
    });
    child.stdout.on("data", () => {});
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

Deno.test("rotate-at-rest-key killed midway (SIGKILL) then resumed: every artifact readable, none lost", async () => {
  await withDir(async (dir) => {
    const oldPath = join(dir, "at-rest.key");
    const newPath = join(dir, "new.key");
    await newKeyFile(oldPath, "b64");
    const newKey = await newKeyFile(newPath, "b64");
    await populate(dir, oldPath);
    const args = [
      "rotate-at-rest-key",
      "--data-dir",
      dir,
      "--old-key",
      oldPath,
      "--new-key",
      newPath,
    ];
    const killed = await runRotation(
      args,
      { REWARDER_TEST_REKEY_DELAY_MS: "5" },
      (err) => /rekey: 40\n/.test(err),
    );
    assert.equal(killed.signal, "SIGKILL", killed.stderr);
    // Midway: a marker, a mix of old- and new-key files, the old key still in place.
    await assert.rejects(assertNoRotationInProgress(dir));
    assert.notEqual(keyFingerprint(await readAtRestKey(oldPath)), keyFingerprint(newKey));
    const newCipher = createAtRestCipher(newKey);
    const counters = (await readdir(join(dir, "store", "counters"))).filter((n) =>
      n.endsWith(".bin")
    );
    let underNew = 0;
    for (const n of counters) {
      const blob = new Uint8Array(await readFile(join(dir, "store", "counters", n)));
      try {
        newCipher.open(`counters/${n}`, blob);
        underNew += 1;
      } catch { /* still under the old key */ }
    }
    assert.ok(underNew > 0 && underNew < counters.length, `mixed state, got ${underNew}`);

    const resumed = await runRotation(args, {});
    assert.equal(resumed.code, 0, resumed.stderr);
    await assertNoRotationInProgress(dir);
    assert.equal(keyFingerprint(await readAtRestKey(oldPath)), keyFingerprint(newKey));
    await assertAllReadable(dir, oldPath);
  });
});
