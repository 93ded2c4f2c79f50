/**
 * The run store from the configuration: memory, file (under DATA_DIR, encrypted at rest) or
 * PostgreSQL (several instances on one database, docs/SCALE-OUT.md), with the at-rest cipher
 * the settlement journal also uses.
 *
 * @module
 */
import { mkdir } from "node:fs/promises";
import type { Config } from "../config/config.ts";
import type { KeyPaths } from "../keys/build_keys.ts";
import { getLogger } from "../observe/log.ts";
import { type AtRestCipher, createAtRestCipher, readAtRestKey } from "./at_rest_cipher.ts";
import { openFileRunStore } from "./file_run_store.ts";
import { createMemoryRunStore } from "./memory_run_store.ts";
import { openPostgresRunStore, outboxLeaseMsFor } from "./postgres_run_store.ts";
import { assertNoRotationInProgress } from "./rekey.ts";
import type { RunStore } from "./run_store.ts";

/** Opens the configured store; `cipher` is undefined for the memory store. */
export async function buildStore(
  config: Pick<
    Config,
    | "store"
    | "dataDir"
    | "databaseUrl"
    | "ledgerRetriesMax"
    | "downstreamAttemptMs"
    | "ledgerUrl"
  >,
  paths: Pick<KeyPaths, "atRestKeyPath">,
  nowMs: () => number,
): Promise<{ store: RunStore; cipher: AtRestCipher | undefined }> {
  let store: RunStore;
  let cipher: AtRestCipher | undefined;
  if (config.store === "memory") {
    store = createMemoryRunStore();
  } else if (config.store === "file") {
    if (!paths.atRestKeyPath) {
      throw new Error("Cannot open the file store: no at-rest key (AT_REST_KEY_PATH)");
    }
    cipher = createAtRestCipher(await readAtRestKey(paths.atRestKeyPath));
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    // A half-done at-rest key rotation must be finished first (rotate-at-rest-key resumes).
    await assertNoRotationInProgress(config.dataDir);
    store = await openFileRunStore({ dataDir: config.dataDir, cipher, nowMs });
  } else {
    // STORE=postgres: several instances share one database; see docs/SCALE-OUT.md.
    if (!paths.atRestKeyPath || config.databaseUrl === undefined) {
      throw new Error("Cannot open the postgres store: needs DATABASE_URL and AT_REST_KEY_PATH");
    }
    cipher = createAtRestCipher(await readAtRestKey(paths.atRestKeyPath));
    store = await openPostgresRunStore({
      databaseUrl: config.databaseUrl,
      cipher,
      leaseMs: outboxLeaseMsFor({
        retriesMax: config.ledgerRetriesMax,
        attemptTimeoutMs: config.downstreamAttemptMs,
      }),
    });
    if (!config.ledgerUrl) {
      getLogger("service").warn(
        "STORE=postgres without LEDGER_URL: each instance settles into its own journal",
      );
    }
  }
  return { store, cipher };
}
