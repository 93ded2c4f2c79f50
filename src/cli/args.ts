/**
 * A strict `--flag value` parser for the CLI: unknown flags and missing values are errors,
 * so a typo never silently falls back to a default.
 *
 * @module
 */

/**
 * Thrown on a bad command line; the CLI prints `error: <message>` on one line and exits 2.
 * With a `subject` (the flag or file at fault) the message is `<subject>: <what>`.
 */
export class UsageError extends Error {
  /** The flag or file at fault, when known. */
  readonly subject: string | undefined;

  constructor(messageOrSubject: string, what?: string) {
    super(what === undefined ? messageOrSubject : `${messageOrSubject}: ${what}`);
    this.name = "UsageError";
    this.subject = what === undefined ? undefined : messageOrSubject;
  }
}

/**
 * A document given on the command line cannot be used (unreadable, not I-JSON, malformed):
 * the CLI prints `error: <file>: <what>` on one line and exits 2.
 */
export class DocumentError extends Error {
  /** The file as given on the command line. */
  readonly file: string;

  constructor(file: string, what: string) {
    super(`${file}: ${what}`);
    this.name = "DocumentError";
    this.file = file;
  }
}

/** Parsed flags and positional arguments. */
export interface ParsedArgs {
  flags: Map<string, string>;
  positionals: string[];
}

/**
 * Parses `args` allowing only `valueFlags` (take a value) and `boolFlags` (no value).
 * Secrets are never accepted as values: flags name files.
 */
export function parseArgs(
  args: readonly string[],
  valueFlags: readonly string[],
  boolFlags: readonly string[] = [],
): ParsedArgs {
  const flags = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const name = arg.slice(2);
    if (boolFlags.includes(name)) {
      flags.set(name, "true");
    } else if (valueFlags.includes(name)) {
      const value = args[i + 1];
      if (value === undefined || value.startsWith("--")) {
        throw new UsageError(`--${name}`, "needs a value");
      }
      flags.set(name, value);
      i++;
    } else {
      throw new UsageError(`--${name}`, "unknown argument");
    }
  }
  return { flags, positionals };
}

/** The value of a required flag. */
export function required(parsed: ParsedArgs, name: string): string {
  const value = parsed.flags.get(name);
  if (value === undefined) throw new UsageError(`--${name}`, "is required");
  return value;
}

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  stdout: (text: string) => void;
  /**
   * Bytes to stdout, in order with `stdout` (a large output, e.g. a 1M-payout envelope, is
   * written as the bytes it was built in). Absent: the command writes text through `stdout`.
   */
  stdoutBytes?: (bytes: Uint8Array) => void;
  stderr: (text: string) => void;
  env: (name: string) => string | undefined;
}

/** What a file-system error code means, for `error: <file>: <what>`. */
const FS_PROBLEM: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "a parent is not a directory",
  EEXIST: "already exists",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "name too long",
  ENOSPC: "no space left on the device",
  EROFS: "read-only file system",
};

/**
 * The one-line message of a file-system error (`node:fs`), naming its file: `<file>: <what>`.
 * `file` is used when the error carries no path (e.g. EISDIR on a read). Undefined for an
 * error that is not a file-system error.
 */
export function fileSystemProblem(err: unknown, file?: string): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string" || !/^E[A-Z]+$/.test(code)) return undefined;
  const path = (err as { path?: unknown }).path;
  const where = typeof path === "string" ? path : file;
  const what = FS_PROBLEM[code] ?? `cannot be used (${code})`;
  return where === undefined ? what : `${where}: ${what}`;
}
