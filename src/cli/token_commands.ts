/**
 * Operator token chores (contract §9, §11): `token-mint` (a v2 identifier carrying tenant,
 * key epoch and the granted scopes, with a 16-byte random nonce), `token-attenuate` (appends
 * first-party caveats), `token-inspect` (identifier fields and caveats). Secrets come from
 * files only: the master secret from the caps key file (`--keys`), an existing token from
 * `--token-file <path>` or stdin (`--token-file -`); neither is ever accepted as an argument
 * value. Failures are one line, `error: <option or file>: <what>`, exit 2.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { fileSystemProblem, UsageError } from "./args.ts";
import { loadCapsKeys } from "../shell/caps/key_file.ts";
import {
  attenuateToken,
  inspectToken,
  mintToken,
  type TokenInspection,
} from "../shell/caps/mint.ts";
import { formatRfc3339UtcS } from "../shell/caps/rfc3339.ts";
import { DEFAULT_OPERATOR_TENANT, QUARANTINE_SCOPE } from "../shell/caps/identifier.ts";

/** Longest token lifetime the CLI mints: 30 days (security §4: macaroons rotate ≤ 30 d). */
export const MINT_TTL_S_MAX = 30 * 24 * 3600;
/** Nonce bytes for minted identifiers. */
const NONCE_BYTES = 16;

/** Options of {@link tokenMint}. */
export interface TokenMintOptions {
  keyFilePath: string;
  tenant: string;
  /** Scopes granted by the identifier; `rewarder.quarantine` only for the operator tenant. */
  scopes: readonly string[];
  /** The service's OPERATOR_TENANT (default `operator`). */
  operatorTenant?: string;
  /** Lifetime in seconds, 1..MINT_TTL_S_MAX. */
  ttlS: number;
  /** Key epoch; default the file's current epoch. Revoked or unknown → error. */
  epoch?: number;
  /** CIDR list for an `ip` caveat. */
  ip?: readonly string[];
  maxRuns?: number;
  nowMs: number;
  /** Lowercase hex nonce; default 16 random bytes. */
  nonce?: string;
}

function randomNonceHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Mints a token from the key file: the identifier grants `scopes` to `tenant`; caveats
 * `time <`, then `ip`, `max_runs`. Refuses `rewarder.quarantine` for a non-operator tenant.
 */
export async function tokenMint(options: TokenMintOptions): Promise<string> {
  if (!Number.isSafeInteger(options.ttlS) || options.ttlS < 1 || options.ttlS > MINT_TTL_S_MAX) {
    throw new UsageError("--ttl", `is ${options.ttlS}: must be 1..${MINT_TTL_S_MAX} s`);
  }
  if (options.scopes.length === 0) throw new UsageError("--scope", "no scope given");
  const operatorTenant = options.operatorTenant ?? DEFAULT_OPERATOR_TENANT;
  if (options.scopes.includes(QUARANTINE_SCOPE) && options.tenant !== operatorTenant) {
    throw new UsageError(
      "--scope",
      "rewarder.quarantine is granted only to the operator tenant " +
        "(--operator-tenant, default operator)",
    );
  }
  const keys = await loadCapsKeys(options.keyFilePath).catch((err: unknown) => {
    const fs = fileSystemProblem(err, options.keyFilePath);
    const what = err instanceof Error ? err.message.replace(/^Cannot (load|read) /, "") : "";
    throw new UsageError(fs ?? `${options.keyFilePath}: cannot use ${what}`);
  });
  const keyEpoch = options.epoch ?? keys.currentEpoch;
  const masterSecret = keys.epochs.get(keyEpoch);
  if (masterSecret === undefined || keys.revoked.has(keyEpoch)) {
    throw new UsageError("--epoch", `key epoch ${keyEpoch} is unknown or revoked`);
  }
  const caveats = [`time < ${formatRfc3339UtcS(options.nowMs + options.ttlS * 1000)}`];
  if (options.ip !== undefined) caveats.push(`ip = ${options.ip.join(",")}`);
  if (options.maxRuns !== undefined) caveats.push(`max_runs = ${options.maxRuns}`);
  try {
    return mintToken({
      masterSecret,
      tenant: options.tenant,
      keyEpoch,
      scopes: options.scopes,
      operatorTenant,
      nonceHex: options.nonce ?? randomNonceHex(),
      caveats,
    });
  } finally {
    for (const s of keys.epochs.values()) s.fill(0);
  }
}

/** Adds caveats to a token (validated: known names, well-formed values). */
export function tokenAttenuate(token: string, caveats: readonly string[]): string {
  return attenuateToken(token.trim(), caveats);
}

/** Identifier and caveats of a token; never its signature. */
export function tokenInspect(token: string): TokenInspection {
  return inspectToken(token.trim());
}

/** I/O for {@link runTokenCommand} (injectable for tests). */
export interface TokenCommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads all of stdin (for `--token-file -`). */
  readStdin: () => Promise<string>;
  nowMs: () => number;
}

const VALUE_FLAGS: Readonly<Record<string, readonly string[]>> = {
  "token-mint": [
    "--keys",
    "--tenant",
    "--scope",
    "--operator-tenant",
    "--ttl",
    "--epoch",
    "--ip",
    "--max-runs",
  ],
  "token-attenuate": ["--token-file", "--caveat"],
  "token-inspect": ["--token-file"],
};
const REPEATABLE: ReadonlySet<string> = new Set(["--caveat"]);
const INT_TEXT = /^[1-9][0-9]{0,9}$/;

function parseFlags(name: string, args: readonly string[]): Map<string, string[]> {
  const allowed = VALUE_FLAGS[name] ?? [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i]!;
    const value = args[i + 1];
    if (!allowed.includes(flag)) throw new UsageError(flag.slice(0, 40), "unknown argument");
    if (value === undefined) throw new UsageError(flag, "needs a value");
    const prev = flags.get(flag);
    if (prev !== undefined && !REPEATABLE.has(flag)) throw new UsageError(flag, "given twice");
    flags.set(flag, [...(prev ?? []), value]);
  }
  return flags;
}

function one(flags: Map<string, string[]>, flag: string): string | undefined {
  return flags.get(flag)?.[0];
}

function required(flags: Map<string, string[]>, flag: string): string {
  const v = one(flags, flag);
  if (v === undefined) throw new UsageError(flag, "is required");
  return v;
}

function intFlag(flags: Map<string, string[]>, flag: string): number | undefined {
  const v = one(flags, flag);
  if (v === undefined) return undefined;
  if (!INT_TEXT.test(v)) {
    throw new UsageError(flag, "must be a positive integer");
  }
  return Number(v);
}

async function readToken(flags: Map<string, string[]>, io: TokenCommandIo): Promise<string> {
  const path = required(flags, "--token-file");
  if (path === "-") return (await io.readStdin()).trim();
  return (await readFile(path, "utf8").catch((err: unknown) => {
    throw new UsageError(fileSystemProblem(err, path) ?? `${path}: cannot be read`);
  })).trim();
}

/**
 * Puts a library error (`Cannot …: <what>`) as a usage error about `subject` (or about
 * `tokenFile` when the token itself cannot be decoded); usage errors pass unchanged.
 */
function rethrowAbout(subject: string, tokenFile?: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof UsageError || !(err instanceof Error)) throw err;
    const what = err.message.replace(/^Cannot [^:]*: /, "").replace(/^Cannot /, "cannot ");
    const about = tokenFile !== undefined && /decode|macaroon|token/i.test(err.message)
      ? (tokenFile === "-" ? "stdin" : tokenFile)
      : subject;
    throw new UsageError(about, what);
  };
}

async function dispatch(
  name: string,
  flags: Map<string, string[]>,
  io: TokenCommandIo,
): Promise<string> {
  switch (name) {
    case "token-mint": {
      const options: TokenMintOptions = {
        keyFilePath: required(flags, "--keys"),
        tenant: required(flags, "--tenant"),
        scopes: required(flags, "--scope").split(","),
        ttlS: intFlag(flags, "--ttl") ?? 3600,
        nowMs: io.nowMs(),
      };
      const epoch = intFlag(flags, "--epoch");
      const maxRuns = intFlag(flags, "--max-runs");
      const ip = one(flags, "--ip");
      const operatorTenant = one(flags, "--operator-tenant");
      if (operatorTenant !== undefined) options.operatorTenant = operatorTenant;
      if (epoch !== undefined) options.epoch = epoch;
      if (maxRuns !== undefined) options.maxRuns = maxRuns;
      if (ip !== undefined) options.ip = ip.split(",");
      return await tokenMint(options).catch(rethrowAbout("--scope"));
    }
    case "token-attenuate": {
      const token = await readToken(flags, io);
      const file = required(flags, "--token-file");
      return await Promise.resolve()
        .then(() => tokenAttenuate(token, flags.get("--caveat") ?? []))
        .catch(rethrowAbout("--caveat", file));
    }
    case "token-inspect": {
      const token = await readToken(flags, io);
      return await Promise.resolve()
        .then(() => JSON.stringify(tokenInspect(token)))
        .catch(rethrowAbout(required(flags, "--token-file")));
    }
    default:
      throw new UsageError(name, "unknown token command");
  }
}

/**
 * Runs `token-mint | token-attenuate | token-inspect` with argv-style `args`; prints the
 * result on stdout and returns the exit code (0 ok, 2 bad usage or input). Error messages
 * name the rule, never a secret or token.
 *
 * @example `rewarder token-mint --keys caps.json --tenant acme --scope rewarder.run,rewarder.inspect --ttl 3600`
 */
export async function runTokenCommand(
  name: string,
  args: readonly string[],
  io: TokenCommandIo,
): Promise<number> {
  try {
    io.stdout((await dispatch(name, parseFlags(name, args), io)) + "\n");
    return 0;
  } catch (err) {
    const message = err instanceof UsageError
      ? err.message
      : `${err instanceof Error ? err.message : "failed"}`;
    io.stderr(`error: ${message.split("\n")[0]}\n`);
    return 2;
  }
}
