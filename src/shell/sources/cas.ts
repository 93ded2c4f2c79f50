/**
 * The local content-addressed store (contract §12): files under `<DATA_DIR>/cas/` named by
 * the hex of their BLAKE3, written atomically and verified on every read.
 *
 * @module
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { cidOf, isCid } from "../../core/cid.ts";
import { createFileExclusive } from "../files/atomic_file.ts";
import { RewarderError } from "../../core/errors.ts";

/** Largest object the local store accepts (bytes): 1M-recipient inputs are ~80 MB. */
export const CAS_OBJECT_BYTES_MAX = 512 * 1024 * 1024;

/** The directory of the local store under a data dir. */
export function casDir(dataDir: string): string {
  return join(dataDir, "cas");
}

/** Stores `bytes` and returns their CID (idempotent). */
export async function casPut(dataDir: string, bytes: Uint8Array): Promise<string> {
  if (bytes.length > CAS_OBJECT_BYTES_MAX) throw new RangeError("Cannot store object: too large");
  const cid = cidOf(bytes);
  const dir = casDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, cid.slice(3));
  const exists = await stat(path).then(() => true, () => false);
  if (exists) return cid;
  // Content-addressed: an object already there under this name has these bytes.
  await createFileExclusive(path, bytes);
  return cid;
}

/** Where a stored object is, and its size, found without reading it. */
export interface CasLocation {
  path: string;
  sizeBytes: number;
}

/**
 * Finds the object `cid` without reading it (the engine worker reads and verifies it).
 * Unknown → 404 `unknown_cid`; over the cap → 500 `store_corrupt` (as {@link casGet}).
 */
export async function casLocate(dataDir: string, cid: string): Promise<CasLocation> {
  if (!isCid(cid)) throw new RewarderError("BAD_REQUEST", "schema", { path: "cid" });
  const path = join(casDir(dataDir), cid.slice(3));
  const info = await stat(path).catch(() => null);
  if (info === null || !info.isFile()) throw new RewarderError("NOT_FOUND", "unknown_cid");
  if (info.size > CAS_OBJECT_BYTES_MAX) throw new RewarderError("INTERNAL", "store_corrupt");
  return { path, sizeBytes: info.size };
}

/**
 * Reads the object `cid`, verifying its BLAKE3. Unknown → 404 `unknown_cid`; an object over
 * the cap or whose bytes do not hash to the CID → 500 `store_corrupt` (the server's own store
 * is corrupted or tampered: never the client's `oversize`/`cid_mismatch`).
 */
export async function casGet(dataDir: string, cid: string): Promise<Uint8Array> {
  if (!isCid(cid)) throw new RewarderError("BAD_REQUEST", "schema", { path: "cid" });
  const path = join(casDir(dataDir), cid.slice(3));
  const info = await stat(path).catch(() => null);
  if (info === null) throw new RewarderError("NOT_FOUND", "unknown_cid");
  if (info.size > CAS_OBJECT_BYTES_MAX) throw new RewarderError("INTERNAL", "store_corrupt");
  const bytes = new Uint8Array(await readFile(path));
  if (cidOf(bytes) !== cid) throw new RewarderError("INTERNAL", "store_corrupt");
  return bytes;
}
