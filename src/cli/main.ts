/**
 * `rewarder` — the svc-rewarder command line (contract §11).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { RewarderError } from "../core/errors.ts";
import { KeyFileError } from "../shell/key_files.ts";
import { type CliIo, DocumentError, UsageError } from "./args.ts";
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
import { runTokenCommand } from "./token_commands.ts";

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

/** One command: its usage line and its runner. */
interface Command {
  usage: string;
  run: (args: readonly string[], io: CliIo) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  compute: {
    usage:
      "compute --epoch <id> --inputs <file> --policy <file> [--signing-key <file>] [--pq-key <file>]",
    run: computeCommand,
  },
  verify: {
    usage:
      "verify --envelope <file> --keys <file> [--inputs <file> --policy <file>] [--require-pq]  (v1 or v2 envelope)",
    run: verifyCommand,
  },
  "verify-proof": {
    usage: "verify-proof --proof <file> --keys <file> [--require-pq]  (v2: no manifest needed)",
    run: verifyProofCommand,
  },
  keygen: {
    usage: "keygen --kid <kid> --out <file> [--alg ed25519|ml-dsa-65]",
    run: keygenCommand,
  },
  "policy-sign": {
    usage: "policy-sign --policy <file> --key <governance key file>",
    run: policySignCommand,
  },
  "gov-pubkey": { usage: "gov-pubkey --key <file>", run: govPubkeyCommand },
  "cas-put": { usage: "cas-put <file> [--data-dir <dir>]", run: casPutCommand },
  "token-mint": {
    usage:
      "token-mint --keys <caps key file> --tenant <t> --scope <a,b> [--ttl <s>] [--epoch <n>] [--ip <cidr,...>] [--max-runs <n>]",
    run: tokenCommand("token-mint"),
  },
  "token-attenuate": {
    usage: 'token-attenuate --token-file <file|-> --caveat "<name op value>" [--caveat ...]',
    run: tokenCommand("token-attenuate"),
  },
  "token-inspect": {
    usage: "token-inspect --token-file <file|->",
    run: tokenCommand("token-inspect"),
  },
  "audit-verify": {
    usage: "audit-verify --file <audit.jsonl> [--expect-head <b3:...>] [--expect-lines <n>]",
    run: runAuditVerify,
  },
  "key-rotate": {
    usage: "key-rotate --dir <dir> --kid <kid> [--alg ed25519|ml-dsa-65] [--overlap-s <s>]",
    run: keyRotateCommand,
  },
  "key-status": {
    usage: "key-status --dir <dir> --kid <kid> --status active|retired|revoked",
    run: keyStatusCommand,
  },
  "rotate-at-rest-key": {
    usage: "rotate-at-rest-key --data-dir <dir> --old-key <file> --new-key <file>",
    run: rotateAtRestKeyCommand,
  },
};

/** Registers more commands (token and audit commands live in their own modules). */
export function registerCommand(name: string, command: Command): void {
  COMMANDS[name] = command;
}

/** The help text. */
export function helpText(): string {
  const lines = Object.values(COMMANDS).map((c) => `  rewarder ${c.usage}`);
  return [
    "rewarder — deterministic reward settlement (svc-rewarder)",
    "",
    "Usage:",
    ...lines,
    "",
    "Exit codes: 0 ok/sealed/valid, 1 invalid, 2 bad input or usage, 3 quarantined.",
    "compute seals contract v2 manifests; verify and verify-proof take v1 and v2 by schema.",
    "Every JSON document read must be I-JSON (RFC 7493); a bad one exits 2 naming the file.",
    "Secrets are read from files (mode 0600), never from arguments.",
    "",
  ].join("\n");
}

/** Runs the CLI with `argv` (without the program name); returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout(helpText());
    return name === undefined ? EXIT_BAD_INPUT : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`unknown command ${JSON.stringify(name.slice(0, 32))}\n${helpText()}`);
    return EXIT_BAD_INPUT;
  }
  if (rest.includes("--help")) {
    io.stdout(`usage: rewarder ${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof DocumentError) {
      io.stderr(`error: ${err.message}\n`);
    } else if (err instanceof RewarderError) {
      io.stderr(`error: ${err.code} ${err.reason}${err.path ? ` at ${err.path}` : ""}\n`);
    } else if (err instanceof UsageError || err instanceof KeyFileError) {
      io.stderr(`error: ${err.message}\nusage: rewarder ${command.usage}\n`);
    } else if (
      err instanceof Error && "code" in err && typeof err.code === "string" &&
      err.code.startsWith("E")
    ) {
      io.stderr(`error: ${err.code} (file system)\n`);
    } else {
      throw err;
    }
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
  const code = await runCli(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: () => undefined,
  });
  return { code, stdout, stderr };
}

/** The process-facing io. */
export function processIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: (n) => process.env[n],
  };
}
