/**
 * `rewarder` — the svc-rewarder command line (contract §11).
 *
 * One table ({@link COMMANDS}) describes every command: its options (with the files each reads
 * or writes), and from it come `rewarder --help`, `rewarder <command> --help`, and the first
 * check of a command line (unknown or repeated options, missing values, missing required
 * options, input files that do not exist). Every failure is one line on stderr,
 * `error: <file or option>: <what>`, exit 2 for a bad command line or input; never a stack
 * trace.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { stat } from "node:fs/promises";
import process from "node:process";
import { RewarderError } from "../core/errors.ts";
import { KeyFileError } from "../shell/keys/key_files.ts";
import { type CliIo, DocumentError, fileSystemProblem, UsageError } from "./args.ts";
import {
  casPutCommand,
  govPubkeyCommand,
  keygenCommand,
  policySignCommand,
} from "./chore_commands.ts";
import {
  computeCommand,
  EXIT_BAD_INPUT,
  verifyCommand,
  verifyProofCommand,
} from "./engine_commands.ts";
import { keyRotateCommand, keyStatusCommand, rotateAtRestKeyCommand } from "./rotate_commands.ts";
import { runAuditVerify } from "./audit_verify.ts";
import { diffCommand } from "./diff_command.ts";
import { publishCommand } from "./publish_command.ts";
import { runTokenCommand } from "./token_commands.ts";
import { processStdoutStep, queuedWriter } from "./stdout_writer.ts";

async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  return new TextDecoder().decode(Buffer.concat(chunks));
}

function tokenCommand(name: string) {
  return (args: readonly string[], io: CliIo) =>
    runTokenCommand(name, args, {
      stdout: io.stdout,
      stderr: io.stderr,
      readStdin,
      nowMs: Date.now,
    });
}

/** One option of a command. */
export interface CliOption {
  /** `--name`. */
  flag: string;
  /** Placeholder of its value (`<file>`); absent for a switch. */
  value?: string;
  /** What it does (one line). */
  text: string;
  required?: boolean;
  /** May be given several times. */
  repeat?: boolean;
  /** A file the command reads: checked to exist before the command runs (`-` is stdin). */
  reads?: boolean;
}

/** One command: what it does, its options and files, its runner. */
export interface CliCommand {
  /** One line for `rewarder --help`. */
  summary: string;
  /** Positional arguments, e.g. `<file>`, with their meaning. */
  positionals?: { name: string; text: string; reads?: boolean }[];
  options: CliOption[];
  /** The files and environment it reads and writes, and where its output goes. */
  files: string[];
  /** Its exit codes. */
  exits: string;
  run: (args: readonly string[], io: CliIo) => Promise<number>;
}

const EXITS_PLAIN = "0 done, 2 bad command line or input";
const SIGNING_KEY_FILE = "signing key file (keygen; mode 0600)";

/** Every command, in the order `rewarder --help` lists them. */
export const COMMANDS: Readonly<Record<string, CliCommand>> = {
  compute: {
    summary: "seal one epoch's manifest v2 from an inputs file and a policy, offline",
    options: [
      { flag: "--epoch", value: "<id>", required: true, text: "the epoch id to compute" },
      {
        flag: "--inputs",
        value: "<file>",
        required: true,
        reads: true,
        text: "the epoch's inputs snapshot (native or RustyOnions export; docs/FORMATS.md §2)",
      },
      {
        flag: "--policy",
        value: "<file>",
        required: true,
        reads: true,
        text: "a policy document or its signed envelope (signatures are not checked here)",
      },
      {
        flag: "--signing-key",
        value: "<file>",
        reads: true,
        text: `an Ed25519 ${SIGNING_KEY_FILE}; without one the envelope is unsigned`,
      },
      {
        flag: "--pq-key",
        value: "<file>",
        reads: true,
        text: `an ML-DSA-65 ${SIGNING_KEY_FILE}, for a dual signature`,
      },
    ],
    files: [
      "reads the --inputs, --policy and key files; IDEMPOTENCY_SALT from the environment",
      "writes the sealed envelope (JCS, one line) to stdout",
    ],
    exits: "0 sealed, 3 quarantined, 2 bad command line or input",
    run: computeCommand,
  },
  verify: {
    summary: "check a sealed envelope (v1 or v2): hash, signatures, and optionally recompute it",
    options: [
      {
        flag: "--envelope",
        value: "<file>",
        required: true,
        reads: true,
        text: "the sealed envelope (e.g. saved from GET /rewarder/epochs/{epoch_id})",
      },
      {
        flag: "--keys",
        value: "<file>",
        required: true,
        reads: true,
        text: "the published keys document (saved from GET /rewarder/keys)",
      },
      {
        flag: "--inputs",
        value: "<file>",
        reads: true,
        text: "with --policy: recompute the manifest and compare it byte for byte",
      },
      { flag: "--policy", value: "<file>", reads: true, text: "with --inputs: see --inputs" },
      { flag: "--require-pq", text: "also require a valid ML-DSA-65 signature" },
    ],
    files: [
      "reads the --envelope, --keys (and --inputs, --policy) files; IDEMPOTENCY_SALT",
      "writes `valid <manifest_hash>` to stdout, or `invalid: <why> (<file>)` to stderr",
    ],
    exits: "0 valid, 1 invalid, 2 bad command line or input",
    run: verifyCommand,
  },
  "verify-proof": {
    summary: "check one recipient's payout proof against the published keys alone",
    options: [
      {
        flag: "--proof",
        value: "<file>",
        required: true,
        reads: true,
        text: "the proof document (saved from GET /rewarder/epochs/{epoch_id}/proofs/{account})",
      },
      {
        flag: "--keys",
        value: "<file>",
        required: true,
        reads: true,
        text: "the published keys document (saved from GET /rewarder/keys)",
      },
      { flag: "--require-pq", text: "also require a valid ML-DSA-65 signature" },
    ],
    files: [
      "reads the --proof and --keys files",
      "writes `valid <account> <amount_minor>` to stdout, or `invalid: <why> (<file>)` to stderr",
    ],
    exits: "0 valid, 1 invalid, 2 bad command line or input",
    run: verifyProofCommand,
  },
  diff: {
    summary:
      "what-if: who gains and who loses between two envelopes, or one epoch under two policies",
    options: [
      {
        flag: "--envelope",
        value: "<file>",
        reads: true,
        text: "form 1: envelope A, the baseline (v1 or v2)",
      },
      {
        flag: "--envelope-b",
        value: "<file>",
        reads: true,
        text: "form 1: envelope B, compared with A",
      },
      {
        flag: "--keys",
        value: "<file>",
        reads: true,
        text: "form 1: the published keys document; both envelopes verified (else unsigned check)",
      },
      {
        flag: "--inputs",
        value: "<file>",
        reads: true,
        text: "form 2: the epoch's inputs snapshot, computed under both policies",
      },
      {
        flag: "--policy",
        value: "<file>",
        reads: true,
        text: "form 2: policy A, the baseline (a document or its envelope)",
      },
      {
        flag: "--policy-b",
        value: "<file>",
        reads: true,
        text: "form 2: policy B, the proposal (default --policy)",
      },
      { flag: "--epoch", value: "<id>", text: "form 2: the epoch id to compute (required)" },
      {
        flag: "--inputs-b",
        value: "<file>",
        reads: true,
        text: "form 2: other inputs for B (default --inputs)",
      },
      { flag: "--format", value: "json|table", text: "json (default; JCS, one line) or table" },
      { flag: "--limit", value: "<n>", text: "with --format table: accounts shown (default 20)" },
      { flag: "--include-unchanged", text: "also list accounts paid the same in A and B" },
    ],
    files: [
      "reads the --envelope, --envelope-b and --keys files, or --inputs, --policy, --policy-b",
      "(and --inputs-b); IDEMPOTENCY_SALT; nothing is signed or written",
      'writes {"totals":{…},"accounts":[…]} (docs/FORMATS.md What-if for governors) or the table to stdout',
    ],
    exits: "0 compared, 1 an envelope invalid, 2 bad command line or input, 3 a side quarantined",
    run: diffCommand,
  },
  keygen: {
    summary: "create a signing or governance key file (0600) and print its public key",
    options: [
      { flag: "--kid", value: "<kid>", required: true, text: "the key id written in the file" },
      {
        flag: "--out",
        value: "<file>",
        required: true,
        text: "the key file to create (refused if it exists, unless --force)",
      },
      { flag: "--alg", value: "ed25519|ml-dsa-65", text: "the algorithm (default ed25519)" },
      { flag: "--force", text: "replace an existing --out, keeping it as <file>.bak-<n>" },
    ],
    files: [
      "writes the --out file (mode 0600; private key)",
      'writes the public keys document {"keys":[…]} to stdout',
    ],
    exits: EXITS_PLAIN,
    run: keygenCommand,
  },
  "policy-sign": {
    summary: "add one governance signature to a policy; prints the signed envelope",
    options: [
      {
        flag: "--policy",
        value: "<file>",
        required: true,
        reads: true,
        text: "a policy document, or an envelope other governors already signed",
      },
      {
        flag: "--key",
        value: "<file>",
        required: true,
        reads: true,
        text: "an Ed25519 governance key file (development: $DATA_DIR/keys/gov-dev.key.json)",
      },
    ],
    files: [
      "reads the --policy and --key files",
      "writes the envelope (JCS) to stdout: save it as a *.json file in POLICY_DIR",
    ],
    exits: EXITS_PLAIN,
    run: policySignCommand,
  },
  "gov-pubkey": {
    summary: "print the public key of a governance key file (for GOV_KEYS_PATH)",
    options: [
      {
        flag: "--key",
        value: "<file>",
        required: true,
        reads: true,
        text: "an Ed25519 governance key file",
      },
    ],
    files: ["reads the --key file", "writes the base64url public key to stdout"],
    exits: EXITS_PLAIN,
    run: govPubkeyCommand,
  },
  "cas-put": {
    summary: "store a file in the local content store; prints its CID",
    positionals: [{ name: "<file>", text: "the file to store (e.g. an inputs file)", reads: true }],
    options: [
      {
        flag: "--data-dir",
        value: "<dir>",
        text: "the service's data directory (default $DATA_DIR, else ./.rewarder-data)",
      },
    ],
    files: [
      "reads <file>; writes it under <data dir>/cas/ (named by its BLAKE3)",
      "writes the CID (b3:<hex>) to stdout",
    ],
    exits: EXITS_PLAIN,
    run: casPutCommand,
  },
  "token-mint": {
    summary: "mint a capability token (v2 identifier, contract §9)",
    options: [
      {
        flag: "--keys",
        value: "<file>",
        required: true,
        reads: true,
        text: "the caps key file (CAPS_KEYS_PATH; development: $DATA_DIR/keys/caps.json)",
      },
      { flag: "--tenant", value: "<tenant>", required: true, text: "the tenant it acts for" },
      {
        flag: "--scope",
        value: "<a,b>",
        required: true,
        text: "granted scopes: rewarder.run, rewarder.inspect, rewarder.quarantine (operator only)",
      },
      {
        flag: "--operator-tenant",
        value: "<tenant>",
        text: "the service's OPERATOR_TENANT (default operator)",
      },
      { flag: "--ttl", value: "<s>", text: "lifetime in seconds (default 3600, at most 30 days)" },
      { flag: "--epoch", value: "<n>", text: "key epoch (default the file's current epoch)" },
      { flag: "--ip", value: "<cidr,...>", text: "adds an `ip` caveat" },
      { flag: "--max-runs", value: "<n>", text: "adds a `max_runs` caveat" },
    ],
    files: ["reads the --keys file (mode 0600)", "writes the token to stdout"],
    exits: EXITS_PLAIN,
    run: tokenCommand("token-mint"),
  },
  "token-attenuate": {
    summary: "add caveats to a token (narrows it; never widens)",
    options: [
      {
        flag: "--token-file",
        value: "<file|->",
        required: true,
        reads: true,
        text: "the token, from a file or stdin (-); never an argument",
      },
      {
        flag: "--caveat",
        value: '"<name> <op> <value>"',
        required: true,
        repeat: true,
        text: 'a first-party caveat, e.g. "time < 2030-01-01T00:00:00Z"; repeatable',
      },
    ],
    files: ["reads --token-file", "writes the narrowed token to stdout"],
    exits: EXITS_PLAIN,
    run: tokenCommand("token-attenuate"),
  },
  "token-inspect": {
    summary: "show a token's identifier and caveats (never its signature)",
    options: [
      {
        flag: "--token-file",
        value: "<file|->",
        required: true,
        reads: true,
        text: "the token, from a file or stdin (-)",
      },
    ],
    files: ["reads --token-file", "writes one JSON line to stdout"],
    exits: EXITS_PLAIN,
    run: tokenCommand("token-inspect"),
  },
  "audit-verify": {
    summary: "check the BLAKE3 chain of the audit log",
    options: [
      {
        flag: "--file",
        value: "<audit.jsonl>",
        required: true,
        reads: true,
        text: "the audit log ($DATA_DIR/audit.jsonl)",
      },
      {
        flag: "--expect-head",
        value: "<b3:...>",
        text: "the head an earlier run printed: detects a cut tail",
      },
      { flag: "--expect-lines", value: "<n>", text: "at least this many lines" },
    ],
    files: [
      "reads the --file",
      "writes one JSON line to stdout: ok, lines, head (keep it as the next anchor)",
    ],
    exits: "0 chain valid, 1 chain broken, 2 bad command line or unreadable file",
    run: runAuditVerify,
  },
  "key-rotate": {
    summary: "add a signing key: published from the next start, signs from now + overlap",
    options: [
      {
        flag: "--dir",
        value: "<dir>",
        required: true,
        text: "the SIGNING_KEYS_DIR to add the key file to",
      },
      { flag: "--kid", value: "<kid>", required: true, text: "the new key's id" },
      { flag: "--alg", value: "ed25519|ml-dsa-65", text: "the algorithm (default ed25519)" },
      {
        flag: "--overlap-s",
        value: "<s>",
        text: "seconds it is published before it signs (default 24 h)",
      },
    ],
    files: [
      "writes a new key file (0600) in --dir; the service picks it up at its next start",
      "writes the new key's public keys document to stdout",
    ],
    exits: EXITS_PLAIN,
    run: keyRotateCommand,
  },
  "key-status": {
    summary: "mark a signing key active, retired or revoked (docs/KEYS.md)",
    options: [
      { flag: "--dir", value: "<dir>", required: true, text: "the SIGNING_KEYS_DIR" },
      { flag: "--kid", value: "<kid>", required: true, text: "the key to change" },
      {
        flag: "--status",
        value: "active|retired|revoked",
        required: true,
        text: "retired: published, never signs; revoked: neither published nor used",
      },
    ],
    files: ["rewrites the key file of --kid in --dir", "writes the new status to stdout"],
    exits: EXITS_PLAIN,
    run: keyStatusCommand,
  },
  publish: {
    summary: "write the publication (contract §13) of everything committed into a directory",
    options: [
      {
        flag: "--out",
        value: "<dir>",
        required: true,
        text: "the publication root (created if needed); existing identical files are skipped",
      },
      {
        flag: "--data-dir",
        value: "<dir>",
        text: "the data directory of STORE=file (default $DATA_DIR, else ./.rewarder-data)",
      },
      {
        flag: "--at-rest-key",
        value: "<file>",
        reads: true,
        text: "the store's at-rest key (default $AT_REST_KEY_PATH, else the development key)",
      },
      {
        flag: "--signing-keys",
        value: "<dir>",
        text: "the manifest signing keys that sign pointers (default $SIGNING_KEYS_DIR, else " +
          "the development keys)",
      },
    ],
    files: [
      "reads the store: STORE=file (DATA_DIR) or STORE=postgres (DATABASE_URL), with the at-rest key",
      "writes <dir>/tenants/<tenant>/objects/…, …/epochs/<epoch_id>.json and <dir>/keys.json " +
      "(docs/EDGE.md); never overwrites a different object or pointer",
      "writes a summary to stdout, each conflicting file to stderr",
    ],
    exits: "0 done, 1 some file exists with other content (the rest is written), " +
      "2 bad command line or input",
    run: publishCommand,
  },
  "rotate-at-rest-key": {
    summary: "re-encrypt the file store under a new at-rest key (service stopped; resumable)",
    options: [
      {
        flag: "--data-dir",
        value: "<dir>",
        text: "the data directory (default $DATA_DIR, else ./.rewarder-data)",
      },
      {
        flag: "--old-key",
        value: "<file>",
        required: true,
        reads: true,
        text: "the current AT_REST_KEY_PATH file",
      },
      {
        flag: "--new-key",
        value: "<file>",
        required: true,
        reads: true,
        text: "the new key file (0600), then set AT_REST_KEY_PATH to it",
      },
    ],
    files: [
      "reads both key files; rewrites every stored file and the settlement journal in place",
      "writes a summary to stdout",
    ],
    exits: "0 done, 1 some file opens with neither key, 2 bad command line or input",
    run: rotateAtRestKeyCommand,
  },
};

/** `rewarder <name> <synopsis>`: required options bare, the others in brackets. */
function synopsis(name: string, command: CliCommand): string {
  const parts = [
    ...(command.positionals ?? []).map((p) => p.name),
    ...command.options.map((o) => {
      const text = o.value === undefined ? o.flag : `${o.flag} ${o.value}`;
      return o.required ? text : `[${text}]`;
    }),
  ];
  return `rewarder ${name} ${parts.join(" ")}`;
}

/** `rewarder --help`: every command with its one-line summary. */
export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    "rewarder — deterministic reward settlement (svc-rewarder), offline tools",
    "",
    "Usage: rewarder <command> [options]    rewarder <command> --help for its options and files",
    "",
    "Commands:",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "Exit codes: 0 ok/sealed/valid, 1 invalid, 2 bad command line or input, 3 quarantined.",
    "Errors are one line: error: <file or option>: <what>.",
    "compute seals contract v2 manifests; verify and verify-proof take v1 and v2 by schema.",
    "Every JSON document read must be I-JSON (RFC 7493). Secrets are read from files (mode",
    "0600), never from arguments.",
    "",
  ].join("\n");
}

/** `rewarder <name> --help`: synopsis, options, files, exit codes. */
export function commandHelp(name: string): string {
  const command = COMMANDS[name];
  if (command === undefined) throw new UsageError(name, "unknown command");
  const rows: [string, string][] = [
    ...(command.positionals ?? []).map((p): [string, string] => [p.name, p.text]),
    ...command.options.map((o): [string, string] => [
      o.value === undefined ? o.flag : `${o.flag} ${o.value}`,
      `${o.text}${o.required ? " (required)" : ""}`,
    ]),
  ];
  const width = Math.max(...rows.map(([left]) => left.length));
  return [
    `usage: ${synopsis(name, command)}`,
    "",
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    "",
    "Options:",
    ...rows.map(([left, text]) => `  ${left.padEnd(width)}  ${text}`),
    "",
    "Files:",
    ...command.files.map((f) => `  ${f}`),
    "",
    `Exit: ${command.exits}.`,
    "",
  ].join("\n");
}

/** Turns a missing or unusable input file into a one-line `<file>: <what>`. */
async function checkReadable(path: string): Promise<void> {
  if (path === "-") return;
  const info = await stat(path).catch((err: unknown) => {
    throw new UsageError(fileSystemProblem(err, path) ?? `${path}: cannot be read`);
  });
  if (info.isDirectory()) throw new UsageError(path, "is a directory, not a file");
}

/**
 * The command line checked against the table before the command runs: known options, values
 * present, a non-repeatable option given once, required options present, input files exist.
 */
async function checkCommandLine(
  name: string,
  command: CliCommand,
  args: readonly string[],
): Promise<void> {
  const seen = new Map<string, number>();
  const reads: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const option = command.options.find((o) => o.flag === arg);
    if (option === undefined) throw new UsageError(arg.slice(0, 40), "unknown argument");
    seen.set(arg, (seen.get(arg) ?? 0) + 1);
    if (seen.get(arg)! > 1 && !option.repeat) throw new UsageError(arg, "given twice");
    if (option.value === undefined) continue;
    const value = args[i + 1];
    if (value === undefined || (value.startsWith("--") && value !== "-")) {
      throw new UsageError(arg, `needs a value ${option.value}`);
    }
    if (option.reads) reads.push(value);
    i++;
  }
  for (const option of command.options) {
    if (option.required && !seen.has(option.flag)) {
      throw new UsageError(option.flag, "is required");
    }
  }
  const expected = command.positionals ?? [];
  if (positionals.length !== expected.length) {
    throw expected.length === 0
      ? new UsageError(positionals[0]!.slice(0, 40), "unexpected argument")
      : new UsageError(name, `takes ${expected.map((p) => p.name).join(" ")}, once`);
  }
  expected.forEach((p, i) => p.reads && reads.push(positionals[i]!));
  for (const path of reads) await checkReadable(path);
}

/** The file arguments of a command line (values and positionals), longest first. */
function fileArguments(args: readonly string[]): string[] {
  return args.filter((a) => !a.startsWith("--") && a.length > 1)
    .sort((a, b) => b.length - a.length);
}

/**
 * A library's message about one of the command's files, put as `<file>: <what>` (e.g.
 * "Cannot use key file k.json: mode is 644, must be 0600" → "k.json: mode is 644, must be
 * 0600"); the message unchanged when it names none of them.
 */
function aboutFile(message: string, args: readonly string[]): string {
  for (const file of fileArguments(args)) {
    const at = message.indexOf(file);
    if (at === -1) continue;
    const what = message.slice(at + file.length).replace(/^[\s:,]+/, "");
    if (what !== "") return `${file}: ${what}`;
  }
  return message;
}

/** The one line an error of a command becomes (after `error: `). */
function errorLine(err: unknown, args: readonly string[]): string {
  if (err instanceof DocumentError || err instanceof UsageError) return err.message;
  if (err instanceof RewarderError) {
    const what = `${err.code} ${err.reason}`;
    return err.path ? `${err.path}: ${what}` : what;
  }
  const fs = fileSystemProblem(err);
  if (fs !== undefined) return fs;
  if (err instanceof KeyFileError || err instanceof Error) return aboutFile(err.message, args);
  return "failed";
}

/** Runs the CLI with `argv` (without the program name); returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(helpText());
    return EXIT_BAD_INPUT;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    const topic = rest[0];
    if (topic !== undefined && Object.hasOwn(COMMANDS, topic)) io.stdout(commandHelp(topic));
    else io.stdout(helpText());
    return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.stderr(
      `error: ${JSON.stringify(name.slice(0, 32))}: unknown command (rewarder --help lists them)\n`,
    );
    return EXIT_BAD_INPUT;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(commandHelp(name));
    return 0;
  }
  try {
    await checkCommandLine(name, command, rest);
    return await command.run(rest, io);
  } catch (err) {
    const line = errorLine(err, rest).split("\n")[0]!.slice(0, 500);
    const hint = err instanceof UsageError ? ` (see rewarder ${name} --help)` : "";
    io.stderr(`error: ${line}${hint}\n`);
    return EXIT_BAD_INPUT;
  }
}

/**
 * Runs the CLI in-process with a clean environment and captures its output (vectors and
 * tests: the pinned envelopes are exactly what `rewarder compute` prints).
 */
export async function runCliCaptured(
  argv: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const decoder = new TextDecoder();
  const code = await runCli(argv, {
    stdout: (t) => (stdout += t),
    stdoutBytes: (bytes) => (stdout += decoder.decode(bytes, { stream: true })),
    stderr: (t) => (stderr += t),
    env: () => undefined,
  });
  stdout += decoder.decode();
  return { code, stdout, stderr };
}

/**
 * The process-facing io: stdout goes through an ordered queue of awaited writes
 * (src/cli/stdout_writer.ts); `flush()` must be awaited before the process exits.
 */
export function processIo(): CliIo & { flush(): Promise<void> } {
  const out = queuedWriter(processStdoutStep());
  const utf8 = new TextEncoder();
  return {
    stdout: (t) => out.write(utf8.encode(t)),
    stdoutBytes: (bytes) => out.write(bytes),
    stderr: (t) => process.stderr.write(t),
    env: (n) => process.env[n],
    flush: () => out.flush(),
  };
}
