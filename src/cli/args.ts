/**
 * A strict `--flag value` parser for the CLI: unknown flags and missing values are errors,
 * so a typo never silently falls back to a default.
 *
 * @module
 */

/** Thrown on a bad command line; the CLI prints the message and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
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
        throw new UsageError(`--${name} needs a value`);
      }
      flags.set(name, value);
      i++;
    } else {
      throw new UsageError(`unknown flag --${name}`);
    }
  }
  return { flags, positionals };
}

/** The value of a required flag. */
export function required(parsed: ParsedArgs, name: string): string {
  const value = parsed.flags.get(name);
  if (value === undefined) throw new UsageError(`--${name} is required`);
  return value;
}

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: (name: string) => string | undefined;
}
