/**
 * Key rotation commands (docs/KEYS.md):
 * - `key-rotate --dir <SIGNING_KEYS_DIR> --kid <kid> [--alg ed25519|ml-dsa-65] [--overlap-s N]`
 *   adds a key that the service publishes from its next start and signs with from
 *   `now + overlap`; prints the keys document entry of the new key;
 * - `key-status --dir <SIGNING_KEYS_DIR> --kid <kid> --status active|retired|revoked`;
 * - `rotate-at-rest-key --data-dir <dir> --old-key <file> --new-key <file>` re-encrypts the
 *   file store and the settlement journal (service stopped; resumable after a crash).
 *
 * @module
 */
import { RewarderError } from "../core/errors.ts";
import { formatRfc3339UtcS } from "../shell/caps/rfc3339.ts";
import { publishedKey } from "../shell/keys/key_files.ts";
import {
  KEY_ROTATION_OVERLAP_S_DEFAULT,
  rotateSigningKey,
  setSigningKeyStatus,
} from "../shell/keys/key_rotation.ts";
import { rotateAtRestKey } from "../shell/store/rekey.ts";
import { type CliIo, parseArgs, required, UsageError } from "./args.ts";

/** Test hook: pause this long after each file (lets a test SIGKILL mid-rotation). */
const REKEY_TEST_DELAY_ENV = "REWARDER_TEST_REKEY_DELAY_MS";
/** Longest accepted test delay per file (ms). */
const REKEY_TEST_DELAY_MS_MAX = 1_000;

/** `key-rotate`: see the module doc. */
export async function keyRotateCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["dir", "kid", "alg", "overlap-s"]);
  const alg = parsed.flags.get("alg") ?? "ed25519";
  if (alg !== "ed25519" && alg !== "ml-dsa-65") {
    throw new UsageError("--alg", "is ed25519 or ml-dsa-65");
  }
  const overlapText = parsed.flags.get("overlap-s") ?? String(KEY_ROTATION_OVERLAP_S_DEFAULT);
  if (!/^[0-9]{1,9}$/.test(overlapText)) throw new UsageError("--overlap-s", "is whole seconds");
  const kid = required(parsed, "kid");
  const rotated = await rotateSigningKey(required(parsed, "dir"), {
    kid,
    alg,
    overlapS: Number(overlapText),
    nowMs: Date.now,
  });
  io.stderr(
    `key ${kid} published from the next start; signs from ${
      formatRfc3339UtcS(rotated.notBeforeMs)
    }\n`,
  );
  io.stdout(
    JSON.stringify({
      keys: [publishedKey({ kid, alg, publicKey: rotated.publicKey, status: "active" })],
    }) + "\n",
  );
  return 0;
}

/** `key-status`: see the module doc. */
export async function keyStatusCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["dir", "kid", "status"]);
  const status = required(parsed, "status");
  if (status !== "active" && status !== "retired" && status !== "revoked") {
    throw new UsageError("--status", "is active, retired or revoked");
  }
  await setSigningKeyStatus(required(parsed, "dir"), required(parsed, "kid"), status);
  io.stdout(`${status}\n`);
  return 0;
}

/** `rotate-at-rest-key`: see the module doc; exit 1 when some file opens with neither key. */
export async function rotateAtRestKeyCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["data-dir", "old-key", "new-key"]);
  const dataDir = parsed.flags.get("data-dir") ?? io.env("DATA_DIR") ?? "./.rewarder-data";
  const delayText = io.env(REKEY_TEST_DELAY_ENV);
  const delayMs = delayText === undefined
    ? 0
    : Math.min(REKEY_TEST_DELAY_MS_MAX, Math.max(0, Number(delayText) || 0));
  try {
    const report = await rotateAtRestKey({
      dataDir,
      oldKeyPath: required(parsed, "old-key"),
      newKeyPath: required(parsed, "new-key"),
      ...(delayMs === 0 ? {} : {
        onFile: async (done: number) => {
          io.stderr(`rekey: ${done}\n`);
          await new Promise((r) => setTimeout(r, delayMs));
        },
      }),
    });
    io.stdout(
      `rotated: ${report.rewritten} rewritten, ${report.alreadyNew} already under the new key, ` +
        `${report.journalLines} journal lines${report.resumed ? " (resumed)" : ""}\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof RewarderError && err.reason === "at_rest_unreadable") {
      const files = (err.extra?.files as string[] | undefined) ?? [];
      io.stderr(
        `invalid: ${err.extra?.count} file(s) open with neither key; nothing swapped, ` +
          `the rotation marker stays:\n${files.map((f) => `  ${f}\n`).join("")}`,
      );
      return 1;
    }
    throw err;
  }
}
