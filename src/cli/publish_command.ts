/**
 * `rewarder publish --out DIR`: writes the publication (contract §13) of everything committed
 * in a store — each committed envelope as its object then its signed pointer, and `keys.json`
 * — into DIR, catching up on what the service's publisher has not written (or writing a
 * publication the service never had, PUBLISH_DIR being unset).
 *
 * The store is the service's: `STORE=file` (default; DATA_DIR with AT_REST_KEY_PATH) or
 * `STORE=postgres` (DATABASE_URL with AT_REST_KEY_PATH); `STORE=memory` holds nothing once
 * its process is gone and is refused. Pointers are signed with SIGNING_KEYS_DIR's keys.
 *
 * Idempotent: a file that exists with the same bytes is skipped (so is a pointer naming the
 * same epoch and manifest hash that verifies with the published keys); a different file is an
 * error, never overwritten (exit 1 after the rest is written, each one named on stderr).
 * `keys.json` is the current key set and is replaced when it differs. The service's queue is
 * left as it is.
 *
 * @module
 */
import { join } from "node:path";
import { loadSigner } from "../shell/keys/signer.ts";
import { parsePublishedKeys } from "../shell/keys/key_files.ts";
import {
  PublicationConflict,
  publishEnvelope,
  writeKeysFile,
} from "../shell/publish/publication_writer.ts";
import { createAtRestCipher, readAtRestKey } from "../shell/store/at_rest_cipher.ts";
import { openFileRunStore } from "../shell/store/file_run_store.ts";
import { openPostgresRunStore } from "../shell/store/postgres_run_store.ts";
import { type CommitmentRef, LIST_LIMIT_MAX, type RunStore } from "../shell/store/run_store.ts";
import { type CliIo, parseArgs, required, UsageError } from "./args.ts";

/** The outbox lease of a store opened here: nothing is claimed, any bound is fine. */
const CLI_LEASE_MS = 60_000;

async function openStore(io: CliIo, dataDir: string, atRestKeyPath: string): Promise<RunStore> {
  const kind = io.env("STORE") ?? (io.env("AMNESIA") === "on" ? "memory" : "file");
  if (kind === "memory") {
    throw new UsageError(
      "STORE",
      "memory holds nothing once its process is gone: publish from file or postgres",
    );
  }
  const cipher = createAtRestCipher(await readAtRestKey(atRestKeyPath));
  if (kind === "file") return await openFileRunStore({ dataDir, cipher, nowMs: Date.now });
  if (kind === "postgres") {
    const databaseUrl = io.env("DATABASE_URL");
    if (databaseUrl === undefined) {
      throw new UsageError("DATABASE_URL", "is required with STORE=postgres");
    }
    return await openPostgresRunStore({ databaseUrl, cipher, leaseMs: CLI_LEASE_MS });
  }
  throw new UsageError("STORE", "must be file, postgres or memory");
}

/** Runs `rewarder publish`. */
export async function publishCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["out", "data-dir", "at-rest-key", "signing-keys"]);
  const out = required(parsed, "out");
  const dataDir = parsed.flags.get("data-dir") ?? io.env("DATA_DIR") ?? "./.rewarder-data";
  const atRestKeyPath = parsed.flags.get("at-rest-key") ?? io.env("AT_REST_KEY_PATH") ??
    join(dataDir, "keys", "at-rest.key");
  const signingKeysDir = parsed.flags.get("signing-keys") ?? io.env("SIGNING_KEYS_DIR") ??
    join(dataDir, "keys", "signing");
  const signer = await loadSigner(signingKeysDir, { requirePq: false });
  const store = await openStore(io, dataDir, atRestKeyPath);
  try {
    const signingKeys = signer.active();
    const keys = parsePublishedKeys({ keys: signer.published() });
    let epochs = 0;
    let written = 0;
    const conflicts: string[] = [];
    let after: CommitmentRef | undefined;
    for (;;) {
      const page = await store.listCommitments(after, LIST_LIMIT_MAX);
      for (const c of page) {
        const run = await store.getRun(c.tenant, c.runKey);
        if (run === undefined) {
          throw new Error(`Cannot publish ${c.tenant}/${c.epochId}: its run is not readable`);
        }
        try {
          written += await publishEnvelope(c.tenant, run.envelope, {
            root: out,
            signingKeys,
            keys,
            onDiffer: "refuse",
          });
        } catch (err) {
          if (!(err instanceof PublicationConflict)) throw err;
          conflicts.push(err.path);
          io.stderr(
            `conflict: ${join(out, err.path)}: a different file exists (not overwritten)\n`,
          );
        }
        epochs += 1;
      }
      if (page.length < LIST_LIMIT_MAX) break;
      after = page[page.length - 1];
    }
    const keysOutcome = await writeKeysFile(out, keys);
    io.stdout(
      `published: ${epochs} committed epochs, ${written} files written, ` +
        `keys.json ${keysOutcome === "written" ? "written" : "unchanged"}` +
        (conflicts.length > 0 ? `, ${conflicts.length} conflicts` : "") + "\n",
    );
    return conflicts.length > 0 ? 1 : 0;
  } finally {
    signer.wipe();
    await store.close();
  }
}
