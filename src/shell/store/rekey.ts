/**
 * At-rest key rotation (docs/KEYS.md): re-encrypts every artifact of the file store
 * (`<dataDir>/store/**.bin`) and the settlement journal (`<dataDir>/settlement-journal.log`)
 * from the old XChaCha20-Poly1305 key to the new one, then swaps the key files.
 *
 * Crash safety — a resumable two-key procedure, run while the service is stopped:
 * 1. A marker `<dataDir>/at-rest-rotation.json` is written atomically first, naming both keys
 *    by fingerprint (BLAKE3 of a domain prefix and the key, 16 hex digits; never the key).
 * 2. Each file is opened with the NEW key first (already done: skipped) and then with the OLD
 *    key, and rewritten atomically under the new key (temp + fsync + rename + fsync dir, the
 *    store's own primitive). At any instant every file is whole and opens with one of the two
 *    keys, so a crash (even SIGKILL) loses nothing; rerunning the same command resumes.
 *    The journal is rewritten as a whole file the same way, line by line under either key.
 * 3. When every file opens with the new key, the new key's bytes atomically replace the old key
 *    file (so AT_REST_KEY_PATH keeps its value), and the marker is removed.
 *    A crash between the swap and the marker's removal is recognised on rerun: the old key path
 *    then holds the new key's fingerprint; the files are checked under it and the marker goes.
 *
 * A file that opens with neither key (tampered, or sealed under a third key) stops the rotation
 * before the swap: it is reported by name, left untouched, and the marker stays, so the service
 * (which refuses to start while the marker exists, see {@link assertNoRotationInProgress})
 * cannot come up half-rotated.
 *
 * @module
 */
import { readdir, readFile, stat, unlink } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { blake3Hex } from "../../core/blake3.ts";
import { RewarderError } from "../../core/errors.ts";
import { writeSecretFile } from "../keys/key_files.ts";
import { type AtRestCipher, createAtRestCipher, readAtRestKey } from "./at_rest_cipher.ts";
import { TEMP_SUFFIX, writeFileAtomic } from "../files/atomic_file.ts";

/** Name of the rotation marker under DATA_DIR. */
export const ROTATION_MARKER_FILE = "at-rest-rotation.json";
/** The settlement journal under DATA_DIR (src/shell/ledger/build_ledger.ts). */
export const JOURNAL_FILE = "settlement-journal.log";
/** Most files one rotation visits (bounds the walk). */
export const REKEY_FILES_MAX = 10_000_000;
/** Deepest directory level of the store layout (file_run_store.ts: 4). */
export const REKEY_DEPTH_MAX = 6;
/** Largest journal the rotation rewrites in memory (bytes). */
export const REKEY_JOURNAL_BYTES_MAX = 1 << 30;

const FINGERPRINT_DOMAIN = "svc-rewarder/at-rest-key-id/v1:";
const JOURNAL_NAME_PREFIX = "journal:";

/** Short, non-secret identifier of an at-rest key. */
export function keyFingerprint(key: Uint8Array): string {
  return blake3Hex(FINGERPRINT_DOMAIN, key).slice(0, 16);
}

interface Marker {
  schema: "svc-rewarder.at-rest-rotation.v1";
  old_key_id: string;
  new_key_id: string;
}

/** Outcome of {@link rotateAtRestKey}. */
export interface RekeyReport {
  /** Files rewritten under the new key in this invocation. */
  rewritten: number;
  /** Files that already opened with the new key (done by an earlier, interrupted invocation). */
  alreadyNew: number;
  /** Journal lines re-encrypted (0 without a journal). */
  journalLines: number;
  /** True when this invocation found a marker and resumed. */
  resumed: boolean;
}

/** Options of {@link rotateAtRestKey}. */
export interface RekeyOptions {
  dataDir: string;
  /** AT_REST_KEY_PATH: read, and replaced by the new key at the end. */
  oldKeyPath: string;
  newKeyPath: string;
  /** Called after each file is handled (progress; tests use it to pace a kill). */
  onFile?: (done: number) => void | Promise<void>;
}

/** Throws `INTERNAL at_rest_rotation_in_progress` when a rotation marker exists in `dataDir`. */
export async function assertNoRotationInProgress(dataDir: string): Promise<void> {
  const found = await stat(join(dataDir, ROTATION_MARKER_FILE)).then(() => true, () => false);
  if (found) throw new RewarderError("INTERNAL", "at_rest_rotation_in_progress");
}

function tryOpen(cipher: AtRestCipher, name: string, blob: Uint8Array): Uint8Array | undefined {
  try {
    return cipher.open(name, blob);
  } catch {
    return undefined;
  }
}

/** Every sealed store file as [absolute path, logical name], sorted, bounded. */
async function storeFiles(root: string): Promise<[string, string][]> {
  const out: [string, string][] = [];
  async function walk(dir: string, depth: number): Promise<void> {
    if (depth > REKEY_DEPTH_MAX) throw new RewarderError("INTERNAL", "rekey_layout");
    const entries = await readdir(dir, { withFileTypes: true }).catch((err) => {
      if ((err as { code?: string }).code === "ENOENT") return [];
      throw err;
    });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile() && e.name.endsWith(".bin") && !e.name.endsWith(TEMP_SUFFIX)) {
        if (out.length >= REKEY_FILES_MAX) throw new RewarderError("INTERNAL", "rekey_too_many");
        out.push([p, relative(root, p).split(sep).join("/")]);
      }
    }
  }
  await walk(root, 0);
  return out;
}

/**
 * Re-encrypts the journal as a whole (atomic replace). Lines open under either key; a torn
 * last line (no newline, a crash mid-append) is kept verbatim: the journal loader cuts it.
 */
async function rekeyJournal(
  path: string,
  oldCipher: AtRestCipher | undefined,
  newCipher: AtRestCipher,
  unreadable: string[],
): Promise<number> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > REKEY_JOURNAL_BYTES_MAX) throw new RewarderError("INTERNAL", "rekey_journal");
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return 0;
    throw err;
  }
  const lines = text.split("\n");
  const tail = lines.pop() ?? "";
  const out: string[] = [];
  let changed = false;
  for (const [i, line] of lines.entries()) {
    let row: { key: string; box: string };
    let blob: Uint8Array;
    try {
      row = JSON.parse(line) as { key: string; box: string };
      blob = fromBase64Url(row.box);
    } catch {
      unreadable.push(`${JOURNAL_FILE}:${i + 1}`);
      out.push(line);
      continue;
    }
    const name = JOURNAL_NAME_PREFIX + row.key;
    if (tryOpen(newCipher, name, blob) !== undefined) {
      out.push(line);
      continue;
    }
    const plain = oldCipher === undefined ? undefined : tryOpen(oldCipher, name, blob);
    if (plain === undefined) {
      unreadable.push(`${JOURNAL_FILE}:${i + 1}`);
      out.push(line);
      continue;
    }
    out.push(JSON.stringify({ key: row.key, box: toBase64Url(newCipher.seal(name, plain)) }));
    plain.fill(0);
    changed = true;
  }
  if (changed) {
    const body = out.map((l) => l + "\n").join("") + tail;
    await writeFileAtomic(path, new TextEncoder().encode(body));
  }
  return lines.length;
}

/**
 * Rotates the at-rest key of `dataDir` (see the module doc). Resumable: rerun with the same
 * arguments after a crash. Throws `INTERNAL at_rest_unreadable` (files named in `extra.files`,
 * at most 20) when some file opens with neither key; the marker then stays.
 */
export async function rotateAtRestKey(options: RekeyOptions): Promise<RekeyReport> {
  const markerPath = join(options.dataDir, ROTATION_MARKER_FILE);
  const oldKey = await readAtRestKey(options.oldKeyPath);
  const newKey = await readAtRestKey(options.newKeyPath);
  const oldId = keyFingerprint(oldKey);
  const newId = keyFingerprint(newKey);

  let marker: Marker | undefined;
  try {
    marker = JSON.parse(await readFile(markerPath, "utf8")) as Marker;
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") {
      throw new RewarderError("INTERNAL", "rekey_marker", { cause: err });
    }
  }
  const resumed = marker !== undefined;
  // After the swap the old key path holds the new key: only the "finish" step is left.
  const swapped = marker !== undefined && marker.new_key_id === oldId;
  if (marker === undefined) {
    if (oldId === newId) throw new RewarderError("BAD_REQUEST", "rekey_same_key");
  } else if (
    swapped
      ? newId !== marker.new_key_id
      : marker.old_key_id !== oldId || marker.new_key_id !== newId
  ) {
    throw new RewarderError("BAD_REQUEST", "rekey_marker_mismatch");
  }
  if (marker === undefined) {
    const body: Marker = {
      schema: "svc-rewarder.at-rest-rotation.v1",
      old_key_id: oldId,
      new_key_id: newId,
    };
    await writeFileAtomic(markerPath, new TextEncoder().encode(JSON.stringify(body) + "\n"));
  }

  const newCipher = createAtRestCipher(newKey);
  const oldCipher = swapped ? undefined : createAtRestCipher(oldKey);
  const report: RekeyReport = { rewritten: 0, alreadyNew: 0, journalLines: 0, resumed };
  const unreadable: string[] = [];
  const root = join(options.dataDir, "store");
  let done = 0;
  for (const [path, name] of await storeFiles(root)) {
    const blob = new Uint8Array(await readFile(path));
    if (tryOpen(newCipher, name, blob) !== undefined) {
      report.alreadyNew += 1;
    } else {
      const plain = oldCipher === undefined ? undefined : tryOpen(oldCipher, name, blob);
      if (plain === undefined) {
        unreadable.push(name);
      } else {
        await writeFileAtomic(path, newCipher.seal(name, plain));
        plain.fill(0);
        report.rewritten += 1;
      }
    }
    done += 1;
    await options.onFile?.(done);
  }
  report.journalLines = await rekeyJournal(
    join(options.dataDir, JOURNAL_FILE),
    oldCipher,
    newCipher,
    unreadable,
  );
  if (unreadable.length > 0) {
    throw new RewarderError("INTERNAL", "at_rest_unreadable", {
      extra: { files: unreadable.slice(0, 20), count: unreadable.length },
    });
  }
  if (!swapped) {
    // The new key file's bytes, verbatim (raw or base64url, as the operator wrote it).
    const newFile = new Uint8Array(await readFile(options.newKeyPath));
    await writeSecretFile(options.oldKeyPath, newFile);
    newFile.fill(0);
  }
  oldKey.fill(0);
  newKey.fill(0);
  await unlink(markerPath);
  return report;
}
