/**
 * The shell's file readers, beside the atomic writer: every file the service or the command
 * line reads as a document goes through {@link readFileBounded} (and, for JSON,
 * {@link readJsonDocument}).
 *
 * One handle: the file is opened once and everything is judged on that handle — `fstat` says
 * it is a regular file, its size is within the bound and, for a secret, that no group or other
 * permission bit is set (0600 or 0400, contract §12) — then the bytes are read through the same
 * handle (at most the bound: a file growing after the `fstat` is refused too). A rename between
 * a check and a read cannot swap the file. JSON is parsed strictly (I-JSON, contract §1:
 * `src/core/strict_json.ts`). Errors name the path and the rule, never the content.
 *
 * Uses `node:fs/promises`, so the same code runs on Deno, Bun and Node.
 *
 * @module
 */
import { open } from "node:fs/promises";
import { parseStrictJson, type StrictJsonProblem } from "../../core/strict_json.ts";

/** Why a file was refused. */
export type FileReadProblem =
  | "unreadable"
  | "not_file"
  | "too_large"
  | "loose_mode"
  | StrictJsonProblem;

/** One line of text per problem, for messages (`<path>: <text>`). */
export const FILE_READ_PROBLEM_TEXT: Readonly<Record<FileReadProblem, string>> = {
  unreadable: "cannot be read",
  not_file: "is not a file",
  too_large: "is too large",
  loose_mode: "has a mode looser than 0600",
  bom: "not I-JSON (byte-order mark)",
  duplicate_key: "not I-JSON (duplicate member name)",
  depth: "not I-JSON (nested too deep)",
  surrogate: "not I-JSON (lone surrogate)",
  noncharacter: "not I-JSON (noncharacter)",
  utf8: "not I-JSON (invalid UTF-8)",
  syntax: "not JSON",
};

/** A file refused by {@link readFileBounded} or {@link readJsonDocument}. */
export class FileReadError extends Error {
  /** The file's permission bits when the problem is `loose_mode`. */
  readonly mode: number | undefined;
  constructor(readonly path: string, readonly problem: FileReadProblem, mode?: number) {
    super(`Cannot read ${path}: ${FILE_READ_PROBLEM_TEXT[problem]}`);
    this.name = "FileReadError";
    this.mode = mode;
  }
}

/** What {@link readFileBounded} checks. */
export interface ReadFileOptions {
  /** Largest accepted size (bytes). */
  maxBytes: number;
  /** A secret: refused when any group or other permission bit is set (contract §12). */
  secret?: boolean;
}

/** Reads a whole regular file through one handle (see the module doc); `mode` is its `& 0o777`. */
export async function readFileBounded(
  path: string,
  options: ReadFileOptions,
): Promise<{ bytes: Uint8Array; mode: number }> {
  const handle = await open(path, "r").catch(() => {
    throw new FileReadError(path, "unreadable");
  });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new FileReadError(path, "not_file");
    const mode = Number(info.mode) & 0o777;
    if (options.secret === true && (mode & 0o077) !== 0) {
      throw new FileReadError(path, "loose_mode", mode);
    }
    if (info.size > options.maxBytes) throw new FileReadError(path, "too_large");
    // Read through the handle up to maxBytes + 1: a file grown past the bound is refused.
    let buffer = new Uint8Array(Math.min(Number(info.size), options.maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > options.maxBytes) {
          buffer.fill(0);
          throw new FileReadError(path, "too_large");
        }
        const grown = new Uint8Array(Math.min(buffer.length * 2, options.maxBytes + 1));
        grown.set(buffer);
        buffer.fill(0);
        buffer = grown;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    const bytes = buffer.slice(0, length);
    buffer.fill(0);
    return { bytes, mode };
  } finally {
    await handle.close();
  }
}

/**
 * Reads and strictly parses a JSON document (I-JSON, contract §1) through
 * {@link readFileBounded}; a secret's bytes are zeroed once parsed.
 */
export async function readJsonDocument(path: string, options: ReadFileOptions): Promise<unknown> {
  const { bytes } = await readFileBounded(path, options);
  try {
    const parsed = parseStrictJson(bytes);
    if (!parsed.ok) throw new FileReadError(path, parsed.problem);
    return parsed.value;
  } finally {
    if (options.secret === true) bytes.fill(0);
  }
}
