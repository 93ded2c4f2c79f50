/**
 * Strict parsers for environment values, used by `loadConfig`. Each parser names the
 * variable in its error and prints the offending value only for variables that are not
 * secret (secret values are never printed, whatever their form).
 *
 * @module
 */

/** Exit code for a configuration error (sysexits EX_CONFIG). */
export const CONFIG_EXIT_CODE = 78;
/** Longest environment value accepted, chars: paths and URLs stay well under this. */
export const ENV_VALUE_CHARS_MAX = 4096;
/** Longest value quoted back in an error message, chars. */
const QUOTED_CHARS_MAX = 64;

const secrets = new Set<string>();

/**
 * Variables whose values never appear in messages (credentials may hide in them): the
 * table's `secret` entries, registered by `config.ts` through {@link markSecret}.
 */
export const SECRET_VARIABLES: ReadonlySet<string> = secrets;

/** Registers a variable whose value must never be printed. */
export function markSecret(name: string): void {
  secrets.add(name);
}

/** A bad configuration: names the variable, never shows a secret value. */
export class ConfigError extends Error {
  /** The environment variable at fault (or the first of a violated relation). */
  readonly variable: string;
  /** Suggested process exit code. */
  readonly exitCode: number = CONFIG_EXIT_CODE;
  constructor(variable: string, message: string) {
    super(message);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/** The environment record loadConfig reads. */
export type Env = Readonly<Record<string, string | undefined>>;

function shown(name: string, value: string): string {
  if (SECRET_VARIABLES.has(name)) return "(hidden)";
  const cut = value.length > QUOTED_CHARS_MAX ? `${value.slice(0, QUOTED_CHARS_MAX)}…` : value;
  return JSON.stringify(cut);
}

/** Throws a ConfigError "Cannot start as NAME must be RULE: current value is V". */
export function fail(name: string, rule: string, value: string): never {
  throw new ConfigError(
    name,
    `Cannot start as ${name} must be ${rule}: current value is ${shown(name, value)}`,
  );
}

/** The raw value; empty or unset → undefined. Rejects NUL and over-long values. */
export function raw(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  if (v.length > ENV_VALUE_CHARS_MAX) fail(name, `at most ${ENV_VALUE_CHARS_MAX} chars`, v);
  if (v.includes("\0")) fail(name, "free of NUL characters", v);
  return v;
}

const TRUE_WORDS: ReadonlySet<string> = new Set(["on", "true", "1"]);
const FALSE_WORDS: ReadonlySet<string> = new Set(["off", "false", "0"]);

/** on|off|true|false|1|0 (case-insensitive). */
export function bool(env: Env, name: string, dflt: boolean): boolean {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  const w = v.trim().toLowerCase();
  if (TRUE_WORDS.has(w)) return true;
  if (FALSE_WORDS.has(w)) return false;
  return fail(name, "one of on|off|true|false|1|0", v);
}

/** A decimal integer in [min, max] (no sign, no exponent, no separators). */
export function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  return intValue(name, v, min, max);
}

/** Parses one integer value with bounds. */
export function intValue(name: string, v: string, min: number, max: number): number {
  const rule = `a decimal integer in ${min}..${max}`;
  if (!/^[0-9]{1,16}$/.test(v)) fail(name, rule, v);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) fail(name, rule, v);
  return n;
}

/** One of a fixed set of words (exact, lower case). */
export function oneOf<T extends string>(env: Env, name: string, words: readonly T[], dflt: T): T {
  const v = raw(env, name);
  if (v === undefined) return dflt;
  if ((words as readonly string[]).includes(v)) return v as T;
  return fail(name, `one of ${words.join("|")}`, v);
}

/** A filesystem path (absolute or relative); undefined when unset. */
export function path(env: Env, name: string): string | undefined {
  const v = raw(env, name);
  if (v === undefined) return undefined;
  if (v.trim() !== v || v.includes("\n")) fail(name, "a path without surrounding whitespace", v);
  return v;
}

/** An http(s) URL without credentials, query or fragment; trailing slash removed. */
export function httpUrl(env: Env, name: string): string | undefined {
  const v = raw(env, name);
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return fail(name, "an absolute http(s) URL", v);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") fail(name, "an http(s) URL", v);
  // Secrets come from files (contract §12): a token in a URL would end up in logs.
  if (u.username !== "" || u.password !== "") fail(name, "a URL without credentials", v);
  if (u.search !== "" || u.hash !== "") fail(name, "a URL without query or fragment", v);
  return u.href.replace(/\/+$/, "");
}
