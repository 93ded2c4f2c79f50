/**
 * A publication read from a directory (`ORIGIN_DIR`, contract §13), for the edge launcher
 * only: it uses `node:fs`, which the pure edge module (`edge.ts`) must never load. The
 * directory is as untrusted as any origin; this reader only bounds what it reads.
 *
 * @module
 */
import { open } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { RewarderError } from "../core/errors.ts";
import type { OriginReader } from "./origin.ts";

function unavailable(reason: "source_unreachable" | "source_oversize"): RewarderError {
  return new RewarderError("DEPENDENCY_UNAVAILABLE", reason, { retryAfterS: 1 });
}

/**
 * An origin reader over the directory `dir`: `<dir>/<path>`, refusing a path that leaves it
 * (the paths come from `publication.ts`, built from validated ids; checked again here), a
 * file larger than `bytesMax`, and anything but a regular file.
 *
 * @example
 * ```ts
 * const origin = directoryOrigin("/srv/publication");
 * await origin("keys.json", 64 * 1024);
 * ```
 */
export function directoryOrigin(dir: string): OriginReader {
  const root = resolve(dir);
  return async function readDirectoryOrigin(path, bytesMax) {
    const file = resolve(root, path);
    if (!file.startsWith(root + sep)) return { found: false };
    let handle;
    try {
      handle = await open(file, "r");
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ENOENT" || code === "ENOTDIR") return { found: false };
      throw unavailable("source_unreachable");
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) return { found: false };
      if (st.size > bytesMax) throw unavailable("source_oversize");
      const bytes = new Uint8Array(await handle.readFile());
      if (bytes.byteLength > bytesMax) throw unavailable("source_oversize");
      return { found: true, bytes };
    } catch (err) {
      if (err instanceof RewarderError) throw err;
      throw unavailable("source_unreachable");
    } finally {
      await handle.close();
    }
  };
}
