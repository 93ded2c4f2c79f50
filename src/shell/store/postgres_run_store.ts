/**
 * The `postgres` backend (STORE=postgres, DATABASE_URL, docs/SCALE-OUT.md): several service instances
 * share one run registry, one outbox and one view of committed epochs through one database.
 * Client: the npm `postgres` package (runs on Deno, Bun and Node).
 *
 * Schema: versioned SQL files in `./migrations/` (`NNN_name.sql`), applied at open inside ONE
 * transaction that holds a transaction-scoped advisory lock, so N instances starting together
 * migrate exactly once; each applied file is recorded with its BLAKE3 checksum and a changed or
 * unknown (newer) migration refuses to start. Everything lives in one schema (default
 * `rewarder`, via `search_path`).
 *
 * THE ATOMIC STEP. {@link RunStore.commitRun} is one transaction: insert the epoch commitment
 * (primary key (tenant, epoch_id) — the single-writer rule), insert the inputs commitment
 * (primary key (tenant, inputs_cid) — one epoch per snapshot, contract §5), upsert the
 * committed run, insert the outbox row (primary key (tenant, run_key) — one intent per run)
 * holding the queued intent (key + exact body, contract §7) and the publication queue row
 * (contract §13, migration 003). Foreign keys are deferred to
 * COMMIT, so either all rows exist or none. Two instances racing for one epoch or one inputs
 * CID meet at a primary key: the second insert waits for the first transaction and then does
 * nothing (`ON CONFLICT DO NOTHING`); it reads the holder instead and rolls back.
 *
 * UPGRADE. Migration 002 (contract v2) derives the inputs commitments of a v1 database from
 * its committed runs, keeps every v1 epoch commitment (an inputs CID that v1 committed under
 * several epochs keeps them all, counted in its report) and leaves outbox rows as they are: a
 * v1 row's sealed intent object is sent as its JCS under the run key, as v1 sent it. The
 * instance that applies the migration logs its report once.
 *
 * CLAIMS. `duePending` is a claim here: it picks due pending rows `FOR UPDATE SKIP LOCKED`
 * whose lease is free or expired and sets `lease_owner`/`lease_until` (database clock, so
 * instance clock skew does not matter). The lease outlasts one whole delivery cycle (see
 * {@link outboxLeaseMsFor}), so no two instances send one intent at the same time; a killed
 * instance's rows become claimable when the lease runs out. `updateOutbox` releases the lease
 * and is fenced: a pending→pending update from an instance that no longer holds a live lease is
 * ignored, and a final state (accepted/duplicate/failed) is never overwritten.
 *
 * AT REST. The stored run (envelope with the manifest and payouts) and the intent are sealed
 * with the at-rest cipher (XChaCha20-Poly1305) exactly as in the file store; the AAD is the
 * row's logical name. Plain columns (tenant, epoch, status, hashes, times) exist only for
 * lookups and ordering. A row failing authentication throws the typed `store_undecryptable`
 * error and `health()` reports `undecryptable` from then on.
 *
 * The DATABASE_URL is a secret: it is never logged nor put in an error message here.
 *
 * @module
 */
import postgres from "postgres";
import process from "node:process";
import { readdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { CidString } from "../../core/types.ts";
import { assert } from "../../core/assert.ts";
import { blake3Hex } from "../../core/blake3.ts";
import { RewarderError } from "../../core/errors.ts";
import type { AtRestCipher } from "./at_rest_cipher.ts";
import {
  commitConflict,
  type CommitResult,
  isStoreUndecryptable,
  LIST_LIMIT_MAX,
  type ListQuery,
  logUpgradeReport,
  newEntry,
  type OutboxEntry,
  type OutboxState,
  type PurgeReport,
  queuedIntentFromStored,
  type RunStore,
  type StoredRun,
  type StoreHealth,
  type UpgradeReport,
  upgradeStoredRecord,
} from "./run_store.ts";
import {
  LEDGER_ATTEMPT_TIMEOUT_MS,
  LEDGER_BACKOFF_CAP_MS,
  MAX_RETRIES_LEDGER,
} from "../outbox/limits.ts";

/** Connections per instance (pool size). */
export const PG_POOL_CONNECTIONS_MAX = 10;
/** Connection establishment bound, seconds (the client's unit). */
export const PG_CONNECT_TIMEOUT_S = 10;
/** Idle connections are closed after this, seconds. */
export const PG_IDLE_TIMEOUT_S = 60;
/** Server-side bound of any one statement, ms (also bounds a wait on a racing commit). */
export const PG_STATEMENT_TIMEOUT_MS = 15_000;
/** Bound of a migration run (it waits on the advisory lock of a migrating peer), ms. */
export const PG_MIGRATION_TIMEOUT_MS = 120_000;
/** Slack added to one delivery cycle's worst case to get the outbox lease, ms. */
export const OUTBOX_LEASE_MARGIN_MS = 5_000;
/** Largest lease accepted, ms (1 hour): a bigger one would only hide a dead instance longer. */
export const OUTBOX_LEASE_MS_MAX = 3_600_000;
/** Largest claim batch, rows. */
const CLAIM_BATCH_MAX = 1_000;
/** Largest retention batch, rows. */
const PURGE_BATCH_MAX = 10_000;
/** Most migration files read at open. */
const MIGRATION_FILES_MAX = 999;
/** First key of the advisory lock pair used by migrations ("rwdr"). */
const MIGRATION_LOCK_CLASS = 0x72776472;
const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const MIGRATION_RE = /^([0-9]{3})_[a-z0-9_]{1,64}\.sql$/;
const DEFAULT_SCHEMA = "rewarder";
const QUARANTINE_FLAG = "quarantine_only";

/** Options of {@link openPostgresRunStore}. */
export interface PostgresRunStoreOptions {
  /** postgres:// URL (secret: never logged). */
  databaseUrl: string;
  cipher: AtRestCipher;
  /** Outbox claim lease, ms; at least one whole delivery cycle ({@link outboxLeaseMsFor}). */
  leaseMs: number;
  /** Schema holding the tables (created if missing); default `rewarder`. */
  schema?: string;
  /** Pool size; default {@link PG_POOL_CONNECTIONS_MAX}. */
  poolMax?: number;
  /** Lease owner id; default `<host>/<pid>/<random>` (unique per opened store). */
  ownerId?: string;
  /** Receives the report of the open that upgrades a v1 database; default: one log line. */
  onUpgrade?: (report: UpgradeReport) => void;
}

/**
 * The outbox lease for a dispatcher configuration: the worst case of one delivery cycle
 * (every attempt runs to its timeout, every backoff sleep is at its cap) plus a margin.
 */
export function outboxLeaseMsFor(
  o: { retriesMax?: number; attemptTimeoutMs?: number; backoffCapMs?: number } = {},
): number {
  const retries = o.retriesMax ?? MAX_RETRIES_LEDGER;
  const attemptMs = o.attemptTimeoutMs ?? LEDGER_ATTEMPT_TIMEOUT_MS;
  const capMs = o.backoffCapMs ?? LEDGER_BACKOFF_CAP_MS;
  return Math.min(
    OUTBOX_LEASE_MS_MAX,
    (retries + 1) * attemptMs + retries * capMs + OUTBOX_LEASE_MARGIN_MS,
  );
}

type Sql = postgres.Sql;

interface RunRow {
  sealed: Uint8Array;
  tenant: string;
  run_key: string;
}
interface OutboxRow {
  tenant: string;
  run_key: string;
  intent: Uint8Array;
  state: OutboxState;
  attempts: number;
  next_attempt_at_ms: string;
  enqueued_at_ms: string;
  conflict: boolean;
}

const enc = (s: string) => new TextEncoder().encode(s);
const names = {
  run: (tenant: string, runKey: CidString) => `pg/run/${tenant}/${runKey}`,
  intent: (tenant: string, runKey: CidString) => `pg/intent/${tenant}/${runKey}`,
  canary: "pg/canary",
};

/** Opens the store: connects, applies pending migrations, writes the canary if missing. */
export async function openPostgresRunStore(options: PostgresRunStoreOptions): Promise<RunStore> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  if (!SCHEMA_RE.test(schema)) {
    throw new TypeError("Cannot open the postgres store: schema must match [a-z_][a-z0-9_]{0,62}");
  }
  if (
    !Number.isInteger(options.leaseMs) || options.leaseMs < 1 ||
    options.leaseMs > OUTBOX_LEASE_MS_MAX
  ) {
    throw new RangeError(
      `Cannot open the postgres store: leaseMs must be an integer in 1..${OUTBOX_LEASE_MS_MAX}`,
    );
  }
  const { cipher, leaseMs } = options;
  const owner = options.ownerId ??
    `${hostname()}/${process.pid}/${crypto.randomUUID().slice(0, 8)}`;
  const sql: Sql = postgres(options.databaseUrl, {
    max: options.poolMax ?? PG_POOL_CONNECTIONS_MAX,
    connect_timeout: PG_CONNECT_TIMEOUT_S,
    idle_timeout: PG_IDLE_TIMEOUT_S,
    onnotice: () => {},
    connection: {
      application_name: "svc-rewarder",
      search_path: schema,
      statement_timeout: PG_STATEMENT_TIMEOUT_MS,
    },
  });
  let undecryptableSeen = false;

  function open<T>(name: string, blob: Uint8Array): T {
    try {
      return JSON.parse(new TextDecoder().decode(cipher.open(name, new Uint8Array(blob)))) as T;
    } catch (err) {
      if (isStoreUndecryptable(err)) undecryptableSeen = true;
      throw err;
    }
  }
  const seal = (name: string, value: unknown) => cipher.seal(name, enc(JSON.stringify(value)));

  function runOf(row: RunRow): StoredRun {
    const run = open<StoredRun>(names.run(row.tenant, row.run_key), row.sealed);
    // The sealed copy is the truth; the plain key columns must agree with it.
    if (run.tenant !== row.tenant || run.record.run_key !== row.run_key) {
      undecryptableSeen = true;
      throw new RewarderError("INTERNAL", "store_undecryptable");
    }
    return { ...run, record: upgradeStoredRecord(run.record) }; // v1: intent_key null
  }
  function entryOf(row: OutboxRow): OutboxEntry {
    // v2 rows hold the queued intent; v1 rows the intent object (queued as v1 sent it).
    const intent = queuedIntentFromStored(
      open<unknown>(names.intent(row.tenant, row.run_key), row.intent),
    );
    return {
      tenant: row.tenant,
      runKey: row.run_key,
      intent,
      state: row.state,
      attempts: Number(row.attempts),
      nextAttemptAtMs: Number(row.next_attempt_at_ms),
      enqueuedAtMs: Number(row.enqueued_at_ms),
      conflict: row.conflict,
    };
  }

  async function upsertRun(q: Sql | postgres.TransactionSql, run: StoredRun): Promise<void> {
    const r = run.record;
    await q`
      INSERT INTO runs (tenant, run_key, epoch_id, status, dry_run, policy_hash, inputs_cid,
                        created_seq, created_at_ms, sealed)
      VALUES (${run.tenant}, ${r.run_key}, ${r.epoch_id}, ${r.status}, ${r.dry_run},
              ${run.meta.policyHash}, ${run.meta.inputsCid}, ${run.meta.createdSeq},
              ${run.meta.createdAtMs}, ${seal(names.run(run.tenant, r.run_key), run)})
      ON CONFLICT (tenant, run_key) DO UPDATE SET
        epoch_id = EXCLUDED.epoch_id, status = EXCLUDED.status, dry_run = EXCLUDED.dry_run,
        policy_hash = EXCLUDED.policy_hash, inputs_cid = EXCLUDED.inputs_cid,
        created_seq = EXCLUDED.created_seq, created_at_ms = EXCLUDED.created_at_ms,
        sealed = EXCLUDED.sealed`;
  }

  const store: RunStore = {
    kind: "postgres",
    async getRun(tenant, runKey) {
      const rows = await sql<RunRow[]>`
        SELECT tenant, run_key, sealed FROM runs WHERE tenant = ${tenant} AND run_key = ${runKey}`;
      const row = rows[0];
      return row === undefined ? undefined : runOf(row);
    },
    async putRun(run) {
      await sql.begin(async (tx) => {
        // Lock the commitment row (if any) so a racing commitRun cannot slip in between.
        const held = await tx`
          SELECT 1 FROM commitments WHERE tenant = ${run.tenant} AND run_key = ${run.record.run_key}
          FOR SHARE`;
        assert(held.length === 0, "putRun must not overwrite a committed run");
        await upsertRun(tx, run);
      });
    },
    async commitRun(run, intent, nowMs): Promise<CommitResult> {
      const entry = intent === null ? null : newEntry(run, intent, nowMs); // asserts agreement
      const r = run.record;
      try {
        return await sql.begin(async (tx): Promise<CommitResult> => {
          const won = await tx`
            INSERT INTO commitments (tenant, epoch_id, run_key, committed_at_ms)
            VALUES (${run.tenant}, ${r.epoch_id}, ${r.run_key}, ${nowMs})
            ON CONFLICT DO NOTHING
            RETURNING run_key`;
          if (won.length === 0) {
            // The racing transaction has committed (the insert waited for it): read its holder.
            const rows = await tx<{ run_key: string }[]>`
              SELECT run_key FROM commitments
              WHERE tenant = ${run.tenant} AND epoch_id = ${r.epoch_id}`;
            const holder = rows[0]?.run_key;
            assert(holder !== undefined, "a conflicting commitment must be readable");
            return { committed: false, conflict: "epoch", holder };
          }
          const inputsWon = await tx`
            INSERT INTO inputs_commitments (tenant, inputs_cid, epoch_id)
            VALUES (${run.tenant}, ${run.meta.inputsCid}, ${r.epoch_id})
            ON CONFLICT DO NOTHING
            RETURNING epoch_id`;
          if (inputsWon.length === 0) {
            const rows = await tx<{ epoch_id: string }[]>`
              SELECT epoch_id FROM inputs_commitments
              WHERE tenant = ${run.tenant} AND inputs_cid = ${run.meta.inputsCid}`;
            const conflict = commitConflict(undefined, rows[0]?.epoch_id, run);
            assert(conflict !== undefined, "a conflicting inputs commitment must be readable");
            throw new RollbackWith(conflict); // undoes the epoch commitment above
          }
          await upsertRun(tx, run);
          if (entry !== null) {
            await tx`
              INSERT INTO outbox (tenant, run_key, intent, state, attempts, next_attempt_at_ms,
                                  enqueued_at_ms, conflict)
              VALUES (${run.tenant}, ${r.run_key},
                      ${seal(names.intent(run.tenant, r.run_key), entry.intent)}, 'pending', 0,
                      ${entry.nextAttemptAtMs}, ${entry.enqueuedAtMs}, false)`;
          }
          await tx`
            INSERT INTO publication_queue (tenant, run_key, epoch_id, enqueued_at_ms)
            VALUES (${run.tenant}, ${r.run_key}, ${r.epoch_id}, ${nowMs})`;
          return { committed: true };
        });
      } catch (err) {
        if (err instanceof RollbackWith) return err.result;
        throw err;
      }
    },
    async getCommitment(tenant, epochId) {
      const rows = await sql<{ run_key: string }[]>`
        SELECT run_key FROM commitments WHERE tenant = ${tenant} AND epoch_id = ${epochId}`;
      return rows[0]?.run_key;
    },
    async getInputsCommitment(tenant, inputsCid) {
      const rows = await sql<{ epoch_id: string }[]>`
        SELECT epoch_id FROM inputs_commitments
        WHERE tenant = ${tenant} AND inputs_cid = ${inputsCid}`;
      return rows[0]?.epoch_id;
    },
    async listRuns(tenant, q: ListQuery) {
      const limit = Math.min(Math.max(0, Math.trunc(q.limit)), LIST_LIMIT_MAX + 1);
      const rows = await sql<RunRow[]>`
        SELECT tenant, run_key, sealed FROM runs
        WHERE tenant = ${tenant}
          ${q.epochId === undefined ? sql`` : sql`AND epoch_id = ${q.epochId}`}
          ${q.policyHash === undefined ? sql`` : sql`AND policy_hash = ${q.policyHash}`}
          ${q.inputsCid === undefined ? sql`` : sql`AND inputs_cid = ${q.inputsCid}`}
          ${q.status === undefined ? sql`` : sql`AND status = ${q.status}`}
          ${
        q.after === undefined
          ? sql``
          : sql`AND (created_seq, run_key) > (${q.after.seq}, ${q.after.runKey})`
      }
        ORDER BY created_seq, run_key
        LIMIT ${limit}`;
      return rows.map(runOf);
    },
    async nextSeq() {
      const rows = await sql<{ n: string }[]>`SELECT nextval('run_seq') AS n`;
      return Number(rows[0]!.n);
    },
    async getOutbox(tenant, runKey) {
      const rows = await sql<OutboxRow[]>`
        SELECT * FROM outbox WHERE tenant = ${tenant} AND run_key = ${runKey}`;
      const row = rows[0];
      return row === undefined ? undefined : entryOf(row);
    },
    async duePending(nowMs, limit) {
      const n = Math.min(Math.max(0, Math.trunc(limit)), CLAIM_BATCH_MAX);
      if (n === 0) return [];
      const rows = await sql<OutboxRow[]>`
        WITH due AS (
          SELECT tenant, run_key FROM outbox
          WHERE state = 'pending' AND next_attempt_at_ms <= ${nowMs}
            AND (lease_until IS NULL OR lease_until <= clock_timestamp())
          ORDER BY enqueued_at_ms, tenant, run_key
          LIMIT ${n}
          FOR UPDATE SKIP LOCKED
        )
        UPDATE outbox o
        SET lease_owner = ${owner},
            lease_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000})
        FROM due
        WHERE o.tenant = due.tenant AND o.run_key = due.run_key
        RETURNING o.*`;
      return rows.map(entryOf).sort((a, b) =>
        a.enqueuedAtMs - b.enqueuedAtMs ||
        (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0) ||
        (a.runKey < b.runKey ? -1 : a.runKey > b.runKey ? 1 : 0)
      );
    },
    async updateOutbox(entry) {
      const final = entry.state !== "pending";
      const updated = await sql`
        UPDATE outbox SET
          state = ${entry.state}, attempts = ${entry.attempts},
          next_attempt_at_ms = ${entry.nextAttemptAtMs}, conflict = ${entry.conflict},
          lease_owner = NULL, lease_until = NULL
        WHERE tenant = ${entry.tenant} AND run_key = ${entry.runKey} AND state = 'pending'
          AND (${final} OR lease_owner IS NULL OR lease_owner = ${owner}
               OR lease_until <= clock_timestamp())
        RETURNING 1`;
      if (updated.length > 0) return;
      const exists = await sql`
        SELECT 1 FROM outbox WHERE tenant = ${entry.tenant} AND run_key = ${entry.runKey}`;
      assert(exists.length > 0, "updateOutbox needs an existing entry");
      // Otherwise fenced: the entry is final already, or another instance holds a live lease.
    },
    async outboxStats() {
      const rows = await sql<{ depth: string; oldest: string | null }[]>`
        SELECT count(*) AS depth, min(enqueued_at_ms) AS oldest
        FROM outbox WHERE state = 'pending'`;
      const row = rows[0]!;
      return {
        depth: Number(row.depth),
        oldestEnqueuedAtMs: row.oldest === null ? undefined : Number(row.oldest),
      };
    },
    async pendingPublications(limit) {
      const n = Math.min(Math.max(0, Math.trunc(limit)), CLAIM_BATCH_MAX);
      if (n === 0) return [];
      const rows = await sql<
        { tenant: string; run_key: string; epoch_id: string; enqueued_at_ms: string }[]
      >`
        SELECT tenant, run_key, epoch_id, enqueued_at_ms FROM publication_queue
        ORDER BY enqueued_at_ms, tenant, run_key
        LIMIT ${n}`;
      return rows.map((row) => ({
        tenant: row.tenant,
        runKey: row.run_key,
        epochId: row.epoch_id,
        enqueuedAtMs: Number(row.enqueued_at_ms),
      }));
    },
    async removePublication(tenant, runKey) {
      await sql`DELETE FROM publication_queue WHERE tenant = ${tenant} AND run_key = ${runKey}`;
    },
    async publicationStats() {
      const rows = await sql<{ depth: string; oldest: string | null }[]>`
        SELECT count(*) AS depth, min(enqueued_at_ms) AS oldest FROM publication_queue`;
      const row = rows[0]!;
      return {
        depth: Number(row.depth),
        oldestEnqueuedAtMs: row.oldest === null ? undefined : Number(row.oldest),
      };
    },
    async listCommitments(after, limit) {
      const n = Math.min(Math.max(0, Math.trunc(limit)), LIST_LIMIT_MAX);
      const rows = await sql<{ tenant: string; epoch_id: string; run_key: string }[]>`
        SELECT tenant, epoch_id, run_key FROM commitments
        ${
        after === undefined
          ? sql``
          : sql`WHERE (tenant, epoch_id) > (${after.tenant}, ${after.epochId})`
      }
        ORDER BY tenant, epoch_id
        LIMIT ${n}`;
      return rows.map((row) => ({
        tenant: row.tenant,
        epochId: row.epoch_id,
        runKey: row.run_key,
      }));
    },
    async getQuarantineOnly() {
      const rows = await sql<{ value: boolean }[]>`
        SELECT value FROM flags WHERE name = ${QUARANTINE_FLAG}`;
      return rows[0]?.value === true;
    },
    async setQuarantineOnly(on) {
      await sql`
        INSERT INTO flags (name, value) VALUES (${QUARANTINE_FLAG}, ${on})
        ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`;
    },
    async count(key) {
      const rows = await sql<{ n: string }[]>`
        SELECT n FROM counters WHERE key_hash = ${blake3Hex(enc(key))}`;
      return Number(rows[0]?.n ?? 0);
    },
    async increment(key) {
      const rows = await sql<{ n: string }[]>`
        INSERT INTO counters (key_hash, n) VALUES (${blake3Hex(enc(key))}, 1)
        ON CONFLICT (key_hash) DO UPDATE SET n = counters.n + 1
        RETURNING n`;
      return Number(rows[0]!.n);
    },
    async tryIncrement(key, max) {
      // One statement: the conflicting row is locked and the WHERE re-checked on its latest
      // version, so N instances racing on one key never pass `max` together.
      const rows = await sql`
        INSERT INTO counters (key_hash, n)
        SELECT ${blake3Hex(enc(key))}, 1 WHERE ${max} > 0
        ON CONFLICT (key_hash) DO UPDATE SET n = counters.n + 1 WHERE counters.n < ${max}
        RETURNING n`;
      return rows.length > 0;
    },
    async purgeOlderThan(cutoffMs, { batchMax }): Promise<PurgeReport> {
      const batch = Math.min(Math.max(0, Math.trunc(batchMax)), PURGE_BATCH_MAX);
      return await sql.begin(async (tx) => {
        const victims = await tx<{ tenant: string; run_key: string }[]>`
          SELECT r.tenant, r.run_key FROM runs r
          WHERE r.created_at_ms < ${cutoffMs}
            AND NOT EXISTS (SELECT 1 FROM commitments c
                            WHERE c.tenant = r.tenant AND c.run_key = r.run_key)
          ORDER BY r.created_at_ms, r.tenant, r.run_key
          LIMIT ${batch + 1}
          FOR UPDATE SKIP LOCKED`;
        const doomed = victims.slice(0, batch);
        for (const v of doomed) {
          await tx`
            DELETE FROM runs r WHERE r.tenant = ${v.tenant} AND r.run_key = ${v.run_key}
              AND NOT EXISTS (SELECT 1 FROM commitments c
                              WHERE c.tenant = r.tenant AND c.run_key = r.run_key)`;
        }
        return { purgedRuns: doomed.length, more: victims.length > batch };
      });
    },
    async health(): Promise<StoreHealth> {
      try {
        const rows = await sql<{ sealed: Uint8Array }[]>`SELECT sealed FROM canary WHERE id = 1`;
        const row = rows[0];
        if (row === undefined) return "unreadable";
        if (open<{ canary: boolean }>(names.canary, row.sealed).canary !== true) {
          return "unreadable";
        }
      } catch (err) {
        return isStoreUndecryptable(err) ? "undecryptable" : "unreadable";
      }
      return undecryptableSeen ? "undecryptable" : "ok";
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };

  try {
    const applied = await migrate(
      sql,
      schema,
      new URL("./migrations/", import.meta.url),
    );
    if (applied.includes(V2_MIGRATION) && applied[0] !== 1) {
      // A database written before contract v2 (a fresh one applies 001 too): report once.
      (options.onUpgrade ?? logUpgradeReport)(await upgradeReportOf(sql));
    }
    await sql`
      INSERT INTO canary (id, sealed) VALUES (1, ${seal(names.canary, { canary: true })})
      ON CONFLICT (id) DO NOTHING`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => undefined);
    throw err;
  }
  return store;
}

/** The migration that moves a database to contract v2 (002_inputs_commitments.sql). */
const V2_MIGRATION = 2;

/** Carries a commit's refusal out of its transaction, rolling the transaction back. */
class RollbackWith extends Error {
  readonly result: CommitResult;
  constructor(result: CommitResult) {
    super("commit refused: rolled back");
    this.result = result;
  }
}

/** The report migration 002 wrote. */
async function upgradeReportOf(sql: Sql): Promise<UpgradeReport> {
  const rows = await sql<Record<string, string>[]>`
    SELECT * FROM upgrade_report WHERE version = ${V2_MIGRATION}`;
  const row = rows[0];
  assert(row !== undefined, "migration 002 writes its report");
  return {
    store: "postgres",
    commitments: Number(row["commitments"]),
    inputsCommitments: Number(row["inputs_commitments"]),
    inputsUnderSeveralEpochs: Number(row["inputs_under_several_epochs"]),
    extraEpochCommitments: Number(row["extra_epoch_commitments"]),
    pendingV1Intents: Number(row["pending_v1_intents"]),
  };
}

/** One migration file. */
interface Migration {
  version: number;
  name: string;
  text: string;
  checksum: string;
}

async function readMigrations(dir: URL): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => MIGRATION_RE.test(f)).sort();
  if (files.length === 0 || files.length > MIGRATION_FILES_MAX) {
    throw new Error("Cannot open the postgres store: no migration files found beside the module");
  }
  const out: Migration[] = [];
  for (const name of files) {
    const text = await readFile(new URL(name, dir), "utf8");
    const version = Number(MIGRATION_RE.exec(name)![1]);
    if (out.some((m) => m.version === version)) {
      throw new Error(`Cannot open the postgres store: two migrations have version ${version}`);
    }
    out.push({ version, name, text, checksum: blake3Hex(enc(text)) });
  }
  return out;
}

/**
 * Applies pending migrations in one transaction under an advisory lock (per schema): the first
 * instance migrates, the others wait on the lock and then find nothing to do. Answers the
 * versions applied by this call.
 */
export async function migrate(sql: Sql, schema: string, dir: URL): Promise<number[]> {
  assert(SCHEMA_RE.test(schema), "schema name must be validated before use");
  const migrations = await readMigrations(dir);
  const applied: number[] = [];
  await sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL statement_timeout = ${PG_MIGRATION_TIMEOUT_MS}`);
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_CLASS}, hashtext(${schema}))`;
    const exists = await tx`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`;
    if (exists.length === 0) await tx.unsafe(`CREATE SCHEMA "${schema}"`);
    await tx.unsafe(`
      CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const done = await tx<{ version: number; checksum: string }[]>`
      SELECT version, checksum FROM ${tx(schema)}.schema_migrations ORDER BY version`;
    const known = new Map(migrations.map((m) => [m.version, m]));
    for (const row of done) {
      const m = known.get(row.version);
      if (m === undefined) {
        throw new Error(
          `Cannot open the postgres store: the database has schema version ${row.version}, newer than this build`,
        );
      }
      if (m.checksum !== row.checksum) {
        throw new Error(
          `Cannot open the postgres store: migration ${m.name} changed after it was applied`,
        );
      }
    }
    const doneSet = new Set(done.map((r) => r.version));
    for (const m of migrations) {
      if (doneSet.has(m.version)) continue;
      await tx.unsafe(`SET LOCAL search_path = "${schema}"`);
      await tx.unsafe(m.text);
      await tx`
        INSERT INTO ${tx(schema)}.schema_migrations (version, name, checksum)
        VALUES (${m.version}, ${m.name}, ${m.checksum})`;
      applied.push(m.version);
    }
  });
  return applied;
}
