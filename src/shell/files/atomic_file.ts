/**
 * Crash-safe file primitives on `node:fs/promises` (works on Deno, Bun and Node).
 *
 * - {@link writeFileAtomic}: temp file in the same directory + fsync + rename + fsync(dir): a
 *   reader sees the old bytes or the new bytes, never a torn file, and the rename survives power
 *   loss once the directory is synced.
 * - {@link createFileExclusive}: the same, but published with `link()` instead of `rename()`:
 *   `link` fails with EEXIST when the name exists, so it is an exclusive create (like open `wx`)
 *   whose content is complete the instant the name appears. A bare `open(wx)` + write would
 *   leave an empty or torn file behind a crash, which a reader could not tell from tamper.
 *
 * @module
 */
import { link, mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

/** Suffix of temp files; the loader deletes stale ones. */
export const TEMP_SUFFIX = ".tmp";

function tempName(path: string): string {
  const rnd = crypto.getRandomValues(new Uint8Array(8));
  return `${path}.${[...rnd].map((b) => b.toString(16).padStart(2, "0")).join("")}${TEMP_SUFFIX}`;
}

/**
 * A file's content: its bytes, or chunks of them written one by one (each write an awaited
 * operation, so the request loop serves other requests between chunks of a large file).
 */
export type FileContent = Uint8Array | AsyncIterable<Uint8Array>;

async function writeSynced(path: string, content: FileContent): Promise<void> {
  const fh = await open(path, "wx", 0o600);
  try {
    if (content instanceof Uint8Array) await fh.writeFile(content);
    else {
      for await (const chunk of content) {
        for (let at = 0; at < chunk.length;) {
          at += (await fh.write(chunk, at, chunk.length - at)).bytesWritten;
        }
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a directory so a rename/link/unlink in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Atomically replaces `path` with `content` (mode 0600). */
export async function writeFileAtomic(path: string, content: FileContent): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = tempName(path);
  try {
    await writeSynced(tmp, content);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(path));
}

/** Creates `path` with `content` only if it does not exist; answers false if it did. */
export async function createFileExclusive(path: string, content: FileContent): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = tempName(path);
  try {
    await writeSynced(tmp, content);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  let created = true;
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    created = false;
  }
  await unlink(tmp);
  await syncDir(dirname(path));
  return created;
}
