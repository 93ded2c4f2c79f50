/**
 * Unix socket hygiene shared by every runtime (node:fs and node:net work on all three):
 * a private parent directory, stale-socket removal, mode 0600, removal on shutdown.
 *
 * Policy (docs/RUNTIMES.md): the parent directory is created with mode 0700 when missing;
 * when it exists it must be a real directory (not a symlink) owned by our uid with no group
 * or other permission bits, else we refuse to start — the directory is the access control
 * (it also covers the short window between bind and chmod, during which the socket carries
 * the umask's mode). A socket file is removed only when it is a socket and nothing answers
 * on it; any other file at the path is never touched.
 *
 * @module
 */
import { chmod, lstat, mkdir, unlink } from "node:fs/promises";
import { createConnection } from "node:net";
import { dirname } from "node:path";
import process from "node:process";
import { STALE_PROBE_MS_MAX } from "./limits.ts";
import { ListenError } from "./types.ts";

/** Directory and socket modes required by the security seed (UDS mode checklist). */
export const SOCKET_DIR_MODE = 0o700;
export const SOCKET_FILE_MODE = 0o600;

/** Identity of the socket file we created, so shutdown never unlinks a successor's socket. */
export interface SocketFileId {
  path: string;
  ino: number;
  dev: number;
}

/** Make the parent directory safe and clear a stale socket. Call before bind. */
export async function prepareUnixSocket(path: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: SOCKET_DIR_MODE });
  const dirStat = await lstat(dir);
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  if (!dirStat.isDirectory()) {
    throw new ListenError("socket_dir_insecure", "socket parent is not a directory (symlink?)");
  }
  if (uid !== undefined && dirStat.uid !== uid) {
    throw new ListenError("socket_dir_insecure", "socket directory is not owned by this user");
  }
  if ((dirStat.mode & 0o077) !== 0) {
    const mode = (dirStat.mode & 0o777).toString(8);
    throw new ListenError("socket_dir_insecure", `socket directory mode is ${mode}, need 700`);
  }
  await clearStaleSocket(path);
}

async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return;
    throw error;
  }
  if (!st.isSocket()) {
    throw new ListenError("socket_path_occupied", "a non-socket file exists at the socket path");
  }
  const probe = await probeSocket(path);
  if (probe === "live") {
    throw new ListenError("socket_in_use", "another server answers on the socket path");
  }
  if (probe === "stale") await unlinkIgnoringMissing(path);
}

/** "live" if a server accepts, "stale" if refused, "gone" if the file vanished meanwhile. */
function probeSocket(path: string): Promise<"live" | "stale" | "gone"> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      // A listener with a full backlog may not accept in time; treat as live (refuse).
      resolve("live");
    }, STALE_PROBE_MS_MAX);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve("live");
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      const code = errnoOf(error);
      if (code === "ECONNREFUSED") resolve("stale");
      else if (code === "ENOENT") resolve("gone");
      else reject(error);
    });
  });
}

/** After bind: chmod 0600 and remember which inode we created. */
export async function secureBoundSocket(path: string): Promise<SocketFileId> {
  await chmod(path, SOCKET_FILE_MODE);
  const st = await lstat(path);
  if (!st.isSocket() || (st.mode & 0o777) !== SOCKET_FILE_MODE) {
    throw new ListenError("socket_path_occupied", "bound socket file is not a 0600 socket");
  }
  return { path, ino: st.ino, dev: st.dev };
}

/** On shutdown: unlink the socket if it is still the one we created. */
export async function removeBoundSocket(id: SocketFileId): Promise<void> {
  try {
    const st = await lstat(id.path);
    if (st.isSocket() && st.ino === id.ino && st.dev === id.dev) await unlink(id.path);
  } catch (error) {
    if (errnoOf(error) !== "ENOENT") throw error;
  }
}

async function unlinkIgnoringMissing(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if (errnoOf(error) !== "ENOENT") throw error;
  }
}

function errnoOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}
