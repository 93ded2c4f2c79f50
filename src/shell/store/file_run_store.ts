/**
 * The `file` backend (embedded default, under DATA_DIR): every artifact is one file, sealed
 * with XChaCha20-Poly1305 (see at_rest_cipher.ts; AAD = the file's logical name), written
 * atomically (temp + fsync + rename + fsync dir).
 *
 * Layout under `<dataDir>/store/`:
 *   tenants/<tenant>/log/<12-digit slot>.bin       {run, intent, enqueuedAtMs}  ← commit points
 *   tenants/<tenant>/commits/<b64url epoch_id>.bin  v1 commit points (read only, see below)
 *   tenants/<tenant>/runs/<run key hex>.bin         uncommitted runs (dry, quarantined)
 *   tenants/<tenant>/outbox/<run key hex>.bin       delivery state only (absent = pending)
 *   tenants/<tenant>/published/<run key hex>.bin    publication done (absent = pending, §13)
 *   counters/<b64url key>.bin, flags/quarantine_only.bin, canary.bin, format.bin
 *
 * THE ATOMIC STEP (contract §5: the epoch commitment, the inputs commitment, the run and its
 * intent together). A tenant's commitments are one append-only log of slots 1, 2, 3, …; a slot
 * holds a committed run (which names its epoch and inputs CID) and its queued intent, and is
 * published by one exclusive `link()` of a fully written, fsynced temp file (src/shell/files/atomic_file.ts).
 * To commit, a writer reads every slot up to the first free one, checks both uniqueness rules
 * against them, and links the first free slot; if another writer (process) took it first, the
 * link fails with EEXIST and the writer reads that slot and checks again. Every slot was
 * checked against all slots before it, so the log never holds two commitments of one epoch nor
 * one inputs CID under two epochs (beyond the v1 ones below), and a crash leaves either the
 * whole slot or nothing (a stray temp file is garbage, cleaned on open). What follows is
 * derived: an absent outbox state file means "pending, 0 attempts", and an absent `published/`
 * marker means the run's publication entry (contract §13) is pending — so the slot that commits
 * a run is also its publication entry, written in the same atomic step.
 *
 * UPGRADE (contract §5). A v1 store committed through one file per epoch (`commits/`), whose
 * intent is the v1 intent object. Those files are read at open and never written again: their
 * epochs stay committed, their inputs commitments are derived from the runs (a v1 store may
 * hold one inputs CID under two epochs: both are kept and counted), a pending v1 intent is
 * queued with the key and bytes the v1 dispatcher sent (run key, JCS of the object), and v1
 * records read with `intent_key: null`. `format.bin` marks the store as upgraded; the open that
 * writes it reports what it found. The upgrade is one way: no v1 process may open the store
 * again (it would not see the log).
 *
 * The intents of the commits this process made are kept in memory while their delivery is
 * pending (bounded by INTENT_CACHE_CHARS_MAX of body text, oldest dropped first; an intent
 * larger than that is kept alone, the newest commit's): the dispatcher and the emission of a
 * fresh answer read them without decrypting and parsing the slot again (a megabyte for 10k
 * transfers, hundreds for a 1M-recipient run, which the request loop would parse whole). They never change once committed (contract §7),
 * so the copy is the slot's; anything not kept is read from its slot as before.
 *
 * Reads of a file that fails authentication throw the typed `store_undecryptable` error; the
 * loader skips such files from its index but remembers them, and `health()` reports
 * `undecryptable` until they are dealt with. An unreadable slot blocks commits of its tenant
 * (its commitments are unknown, so none could be checked against it).
 *
 * @module
 */
import { mkdir, readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { CidString } from "../../core/types.ts";
import { toBase64Url } from "../../core/base64url.ts";
import { assert } from "../../core/assert.ts";
import { TENANT_PATTERN } from "../../core/ids.ts";
import { type AtRestCipher, sealedChunks } from "./at_rest_cipher.ts";
import {
  createFileExclusive,
  type FileContent,
  TEMP_SUFFIX,
  writeFileAtomic,
} from "../files/atomic_file.ts";
import { jsonPieces, lightManifestOf } from "./manifest_texts.ts";
import { createKeyedMutex } from "./keyed_mutex.ts";
import {
  commitConflict,
  commitmentAfter,
  compareCommitments,
  comparePublications,
  compareRuns,
  countInputsCommitments,
  isStoreUndecryptable,
  type ListQuery,
  logUpgradeReport,
  matchesQuery,
  newEntry,
  type OutboxEntry,
  type PublicationEntry,
  publicationEntryOf,
  type QueuedIntent,
  queuedIntentFromStored,
  type RunStore,
  type StoredRun,
  type StoreHealth,
  storeUndecryptable,
  type UpgradeReport,
  upgradeStoredRecord,
} from "./run_store.ts";

/** Temp files younger than this may belong to another live process: left alone on open. */
export const STALE_TEMP_AGE_MS = 60_000;
/** Highest slot number of a tenant's commit log (12 decimal digits in the file name). */
export const COMMIT_SLOTS_MAX = 999_999_999_999;
/** Lost link races one commit tolerates before giving up (each means another commit landed). */
export const COMMIT_RACES_MAX = 10_000;
/**
 * Body text of pending intents kept in memory (characters; see the module doc): ~35 pending
 * 10k-transfer intents. Delivery usually empties it at once; it fills only while deliveries
 * wait (quarantine-only mode, a ledger outage), and then costs at most this much memory, or
 * one intent's body when that one is larger (it is kept alone: its slot is the costliest read).
 */
export const INTENT_CACHE_CHARS_MAX = 16 * 1024 * 1024;
/** The store format this code writes (1: per-epoch commit files, before contract v2). */
export const FILE_STORE_FORMAT = 2;

/** A commit point as stored: v2 slots hold a {@link QueuedIntent}, v1 files the intent object. */
interface CommitFile {
  run: StoredRun;
  intent: QueuedIntent | null;
  enqueuedAtMs: number;
}
type OutboxState = Omit<OutboxEntry, "intent">;

/** Options of {@link openFileRunStore}. */
export interface FileRunStoreOptions {
  /** DATA_DIR; the store lives in `<dataDir>/store`. */
  dataDir: string;
  cipher: AtRestCipher;
  /** Injected clock (only for temp-file staleness). */
  nowMs: () => number;
  /** Receives the report of the open that upgrades a v1 store; default: one log line. */
  onUpgrade?: (report: UpgradeReport) => void;
  /** Default INTENT_CACHE_CHARS_MAX. */
  intentCacheCharsMax?: number;
}

const enc = (s: string) => new TextEncoder().encode(s);
const hexOf = (runKey: CidString) => runKey.slice(3);
const b64 = (s: string) => toBase64Url(enc(s));
const slotName = (n: number) => String(n).padStart(12, "0");

/** Per-tenant view of the commitments (epoch → run key, inputs → epoch) and the log's end. */
interface TenantLog {
  nextSlot: number;
  /** Set when a slot could not be read: commits of this tenant are refused. */
  blocked: boolean;
  epochs: Map<string, CidString>;
  inputs: Map<CidString, string>;
  /** Run key → the file holding its commit point. */
  committed: Map<CidString, string>;
}

/** Opens (creating if needed) the file store, upgrading a v1 store, and loads its index. */
export async function openFileRunStore(options: FileRunStoreOptions): Promise<RunStore> {
  const root = join(options.dataDir, "store");
  const { cipher } = options;
  await mkdir(root, { recursive: true, mode: 0o700 });
  const badFiles = new Set<string>();
  const runsIdx = new Map<string, StoredRun>(); // tenant\0runKey → light copy (no payouts)
  const logs = new Map<string, TenantLog>();
  const outboxIdx = new Map<string, OutboxState>();
  const publicationIdx = new Map<string, PublicationEntry>(); // tenant\0runKey → pending
  const counterLock = createKeyedMutex();
  const commitLock = createKeyedMutex();
  const syncLock = createKeyedMutex();
  let seq = 0;
  const k = (a: string, b: string) => `${a}\u0000${b}`;
  /** Pending intents committed by this process (tenant\0runKey), oldest first. */
  const intents = new Map<string, QueuedIntent>();
  const intentCharsMax = options.intentCacheCharsMax ?? INTENT_CACHE_CHARS_MAX;
  let intentChars = 0;
  function keepIntent(key: string, intent: QueuedIntent): void {
    for (const [old, kept] of intents) {
      if (intentChars + intent.body.length <= intentCharsMax) break;
      dropIntent(old, kept);
    }
    intents.set(key, intent);
    intentChars += intent.body.length;
  }
  function dropIntent(key: string, kept = intents.get(key)): void {
    if (kept === undefined) return;
    intents.delete(key);
    intentChars -= kept.body.length;
  }

  const names = {
    run: (t: string, rk: CidString) => `tenants/${tenantDir(t)}/runs/${hexOf(rk)}.bin`,
    slot: (t: string, n: number) => `tenants/${tenantDir(t)}/log/${slotName(n)}.bin`,
    v1Commit: (t: string, epoch: string) => `tenants/${tenantDir(t)}/commits/${b64(epoch)}.bin`,
    outbox: (t: string, rk: CidString) => `tenants/${tenantDir(t)}/outbox/${hexOf(rk)}.bin`,
    published: (t: string, rk: CidString) => `tenants/${tenantDir(t)}/published/${hexOf(rk)}.bin`,
    counter: (key: string) => `counters/${b64(key)}.bin`,
    flag: "flags/quarantine_only.bin",
    canary: "canary.bin",
    format: "format.bin",
  };

  async function readJson<T>(name: string): Promise<T | undefined> {
    let blob: Uint8Array;
    try {
      blob = new Uint8Array(await readFile(join(root, name)));
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return undefined;
      throw err;
    }
    try {
      return JSON.parse(new TextDecoder().decode(cipher.open(name, blob))) as T;
    } catch (err) {
      badFiles.add(name);
      throw err;
    }
  }
  /**
   * The sealed file of `value`'s JSON text: a value holding a computed manifest's payouts text
   * or a long string (a large run's slot: manifest_texts.ts) is serialised, encrypted and
   * written a piece at a time, the request loop serving other requests between pieces;
   * anything else is sealed in one step.
   */
  function sealedJson(name: string, value: unknown): FileContent {
    const pieces = jsonPieces(value);
    const first = pieces.next();
    const second = pieces.next();
    if (first.done || second.done) {
      const only = first.done ? "" : first.value;
      return cipher.seal(name, typeof only === "string" ? enc(only) : only);
    }
    return sealedChunks(cipher, name, utf8Of([first.value, second.value], pieces));
  }
  const writeJson = (name: string, value: unknown) =>
    writeFileAtomic(join(root, name), sealedJson(name, value));

  /** A stored run as read: v1 records get `intent_key: null` (contract §5). */
  const upgradeRun = (run: StoredRun): StoredRun => ({
    ...run,
    record: upgradeStoredRecord(run.record),
  });
  /** A commit point as read, v1 or v2, in its v2 form. */
  async function readCommit(name: string): Promise<CommitFile | undefined> {
    const raw = await readJson<{ run: StoredRun; intent: unknown; enqueuedAtMs: number }>(name);
    if (raw === undefined) return undefined;
    return {
      run: upgradeRun(raw.run),
      intent: raw.intent === null ? null : queuedIntentFromStored(raw.intent),
      enqueuedAtMs: raw.enqueuedAtMs,
    };
  }

  function indexRun(run: StoredRun): void {
    // The index keeps a light copy (no payouts) for filtering and ordering.
    const light: StoredRun = {
      ...run,
      envelope: { ...run.envelope, manifest: lightManifestOf(run.envelope.manifest) },
    };
    runsIdx.set(k(run.tenant, run.record.run_key), light);
    if (run.meta.createdSeq > seq) seq = run.meta.createdSeq;
  }

  function logOf(tenant: string): TenantLog {
    let log = logs.get(tenant);
    if (log === undefined) {
      log = {
        nextSlot: 1,
        blocked: false,
        epochs: new Map(),
        inputs: new Map(),
        committed: new Map(),
      };
      logs.set(tenant, log);
    }
    return log;
  }

  /** Indexes one commit point (a v1 file or a slot): commitments, run, outbox entry. */
  async function applyCommit(log: TenantLog, name: string, body: CommitFile): Promise<void> {
    const { run } = body;
    const rk = run.record.run_key;
    log.epochs.set(run.record.epoch_id, rk);
    // v1 may hold one inputs CID under two epochs: the first one read answers lookups.
    if (!log.inputs.has(run.meta.inputsCid)) {
      log.inputs.set(run.meta.inputsCid, run.record.epoch_id);
    }
    log.committed.set(rk, name);
    indexRun(run);
    const key = k(run.tenant, rk);
    if (body.intent !== null && !outboxIdx.has(key)) {
      const saved = await readJson<OutboxState>(names.outbox(run.tenant, rk)).catch(skipBad);
      const { intent: _i, ...fresh } = newEntry(run, body.intent, body.enqueuedAtMs);
      outboxIdx.set(key, saved ?? fresh);
    }
    if (!publicationIdx.has(key) && !(await exists(names.published(run.tenant, rk)))) {
      publicationIdx.set(key, publicationEntryOf(run, body.enqueuedAtMs));
    }
  }

  async function exists(name: string): Promise<boolean> {
    try {
      await stat(join(root, name));
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return false;
      throw err;
    }
  }

  async function syncAllLogs(): Promise<void> {
    for (const tenant of logs.keys()) await syncLog(tenant);
  }

  /**
   * Reads the tenant's slots written since the last read (by this or another process). One
   * reader per tenant at a time: two interleaved readers would both apply slot n and advance
   * past n + 1 unread.
   */
  function syncLog(tenant: string): Promise<TenantLog> {
    return syncLock.run(tenant, () => readNewSlots(tenant));
  }

  async function readNewSlots(tenant: string): Promise<TenantLog> {
    const log = logOf(tenant);
    for (;;) {
      assert(log.nextSlot <= COMMIT_SLOTS_MAX, "the commit log is full");
      const name = names.slot(tenant, log.nextSlot);
      let body: CommitFile | undefined;
      try {
        body = await readCommit(name);
      } catch (err) {
        if (!isStoreUndecryptable(err)) throw err;
        log.blocked = true; // remembered in badFiles; its commitments are unknown
        log.nextSlot += 1;
        continue;
      }
      if (body === undefined) return log;
      assert(body.run.tenant === tenant, "a slot belongs to its tenant's log");
      await applyCommit(log, name, body);
      log.nextSlot += 1;
    }
  }

  async function commitLocked(
    run: StoredRun,
    intent: QueuedIntent | null,
    nowMs: number,
  ): ReturnType<RunStore["commitRun"]> {
    const body: CommitFile = { run, intent, enqueuedAtMs: nowMs };
    for (let race = 0; race < COMMIT_RACES_MAX; race++) {
      const log = await syncLog(run.tenant);
      if (log.blocked) throw storeUndecryptable();
      const conflict = commitConflict(
        log.epochs.get(run.record.epoch_id),
        log.inputs.get(run.meta.inputsCid),
        run,
      );
      if (conflict !== undefined) return conflict;
      const name = names.slot(run.tenant, log.nextSlot);
      const slot = log.nextSlot;
      if (await createFileExclusive(join(root, name), sealedJson(name, body))) {
        await syncLock.run(run.tenant, async () => {
          // A reader running meanwhile may have read the new slot already; else index it here
          // (under the readers' lock, so the log's end moves by exactly one).
          if (log.nextSlot !== slot) return;
          await applyCommit(log, name, body);
          log.nextSlot += 1;
        });
        assert(log.committed.get(run.record.run_key) === name, "the new slot is indexed");
        if (intent !== null) keepIntent(k(run.tenant, run.record.run_key), { ...intent });
        return { committed: true };
      }
      // Another process linked this slot first: read it and check again.
    }
    throw new Error("Cannot commit the run as the commit log kept moving: too many races");
  }

  const store: RunStore = {
    kind: "file",
    async getRun(tenant, runKey) {
      const log = await syncLog(tenant);
      const committedIn = log.committed.get(runKey);
      if (committedIn !== undefined) return (await readCommit(committedIn))?.run;
      const run = await readJson<StoredRun>(names.run(tenant, runKey));
      return run === undefined ? undefined : upgradeRun(run);
    },
    async putRun(run) {
      const log = await syncLog(run.tenant);
      assert(!log.committed.has(run.record.run_key), "putRun must not overwrite a committed run");
      await writeJson(names.run(run.tenant, run.record.run_key), run);
      indexRun(run);
    },
    commitRun(run, intent, nowMs) {
      if (intent !== null) newEntry(run, intent, nowMs); // asserts intent ↔ run agreement
      // One committer per tenant in this process; other processes meet at the slot's link().
      return commitLock.run(run.tenant, () => commitLocked(run, intent, nowMs));
    },
    async getCommitment(tenant, epochId) {
      return (await syncLog(tenant)).epochs.get(epochId);
    },
    async getInputsCommitment(tenant, inputsCid) {
      return (await syncLog(tenant)).inputs.get(inputsCid);
    },
    async listRuns(tenant, query: ListQuery) {
      await syncLog(tenant);
      const rows = [...runsIdx.values()]
        .filter((r) => r.tenant === tenant && matchesQuery(r, query))
        .sort(compareRuns)
        .slice(0, query.limit);
      const out: StoredRun[] = [];
      for (const row of rows) {
        const run = await store.getRun(tenant, row.record.run_key);
        if (run !== undefined) out.push(run);
      }
      return out;
    },
    nextSeq() {
      seq += 1;
      return Promise.resolve(seq);
    },
    async getOutbox(tenant, runKey) {
      await syncLog(tenant);
      const st = outboxIdx.get(k(tenant, runKey));
      if (st === undefined) return undefined;
      return await withIntent(st);
    },
    async duePending(nowMs, limit) {
      for (const tenant of logs.keys()) await syncLog(tenant);
      const due = [...outboxIdx.values()]
        .filter((e) => e.state === "pending" && e.nextAttemptAtMs <= nowMs)
        .sort((a, b) => a.enqueuedAtMs - b.enqueuedAtMs)
        .slice(0, limit);
      const out: OutboxEntry[] = [];
      for (const st of due) {
        const e = await withIntent(st);
        if (e !== undefined) out.push(e);
      }
      return out;
    },
    async updateOutbox(entry) {
      const key = k(entry.tenant, entry.runKey);
      assert(outboxIdx.has(key), "updateOutbox needs an existing entry");
      const { intent: _intent, ...state } = entry;
      await writeJson(names.outbox(entry.tenant, entry.runKey), state);
      outboxIdx.set(key, state);
      if (state.state !== "pending") dropIntent(key); // delivered: not read for delivery again
    },
    outboxStats() {
      let depth = 0;
      let oldest: number | undefined;
      for (const e of outboxIdx.values()) {
        if (e.state !== "pending") continue;
        depth += 1;
        if (oldest === undefined || e.enqueuedAtMs < oldest) oldest = e.enqueuedAtMs;
      }
      return Promise.resolve({ depth, oldestEnqueuedAtMs: oldest });
    },
    async pendingPublications(limit) {
      await syncAllLogs();
      const page = [...publicationIdx.values()].sort(comparePublications).slice(0, limit);
      return page.map((e) => ({ ...e }));
    },
    async removePublication(tenant, runKey) {
      const key = k(tenant, runKey);
      if (!publicationIdx.has(key)) return;
      await writeJson(names.published(tenant, runKey), { published: true });
      publicationIdx.delete(key);
    },
    publicationStats() {
      let oldest: number | undefined;
      for (const e of publicationIdx.values()) {
        if (oldest === undefined || e.enqueuedAtMs < oldest) oldest = e.enqueuedAtMs;
      }
      return Promise.resolve({ depth: publicationIdx.size, oldestEnqueuedAtMs: oldest });
    },
    async listCommitments(after, limit) {
      await syncAllLogs();
      const all = [];
      for (const [tenant, log] of logs) {
        for (const [epochId, runKey] of log.epochs) {
          const c = { tenant, epochId, runKey };
          if (commitmentAfter(c, after)) all.push(c);
        }
      }
      return all.sort(compareCommitments).slice(0, limit);
    },
    async getQuarantineOnly() {
      return (await readJson<{ on: boolean }>(names.flag))?.on === true;
    },
    async setQuarantineOnly(on) {
      await writeJson(names.flag, { on });
    },
    async count(key) {
      return (await readJson<{ n: number }>(names.counter(key)))?.n ?? 0;
    },
    increment(key) {
      return counterLock.run(key, async () => {
        const n = (await store.count(key)) + 1;
        await writeJson(names.counter(key), { n });
        return n;
      });
    },
    tryIncrement(key, max) {
      return counterLock.run(key, async () => {
        const n = await store.count(key);
        if (n >= max) return false;
        await writeJson(names.counter(key), { n: n + 1 });
        return true;
      });
    },
    async purgeOlderThan(cutoffMs, { batchMax }) {
      let purgedRuns = 0;
      for (const [key, run] of runsIdx) {
        if (run.meta.createdAtMs >= cutoffMs) continue;
        if ((await syncLog(run.tenant)).committed.has(run.record.run_key)) continue;
        if (purgedRuns >= batchMax) return { purgedRuns, more: true };
        await unlink(join(root, names.run(run.tenant, run.record.run_key))).catch((err) => {
          if ((err as { code?: string }).code !== "ENOENT") throw err;
        });
        runsIdx.delete(key);
        purgedRuns += 1;
      }
      return { purgedRuns, more: false };
    },
    async health(): Promise<StoreHealth> {
      try {
        const canary = await readJson<{ canary: true }>(names.canary);
        if (canary?.canary !== true) return "unreadable";
      } catch (err) {
        return isStoreUndecryptable(err) ? "undecryptable" : "unreadable";
      }
      return badFiles.size > 0 ? "undecryptable" : "ok";
    },
    close: () => Promise.resolve(),
  };

  async function withIntent(st: OutboxState): Promise<OutboxEntry | undefined> {
    const name = logOf(st.tenant).committed.get(st.runKey);
    if (name === undefined) return undefined;
    const kept = intents.get(k(st.tenant, st.runKey));
    if (kept !== undefined) return { ...st, intent: { ...kept } };
    const file = await readCommit(name);
    if (file?.intent == null || file.run.record.run_key !== st.runKey) return undefined;
    return { ...st, intent: file.intent };
  }

  await load();
  return store;

  async function load(): Promise<void> {
    if ((await readJson<{ canary: true }>(names.canary).catch(() => "bad")) === undefined) {
      await writeJson(names.canary, { canary: true });
    }
    await cleanTemps(root);
    const format = await readJson<{ format: number }>(names.format).catch(skipBad);
    const v1Commits: CommitFile[] = [];
    const tenants = await readdir(join(root, "tenants")).catch(() => [] as string[]);
    for (const tenant of tenants) {
      if (!TENANT_PATTERN.test(tenant)) continue;
      for (const f of await listBins(`tenants/${tenant}/runs`)) {
        const run = await readJson<StoredRun>(f).catch(skipBad);
        if (run !== undefined) indexRun(upgradeRun(run));
      }
      const log = logOf(tenant);
      for (const f of await listBins(`tenants/${tenant}/commits`)) {
        const body = await readCommit(f).catch((err) => {
          if (isStoreUndecryptable(err)) log.blocked = true;
          return skipBad(err);
        });
        if (body === undefined) continue;
        assert(
          names.v1Commit(tenant, body.run.record.epoch_id) === f,
          "a v1 commit names its epoch",
        );
        await applyCommit(log, f, body);
        v1Commits.push(body);
      }
      await syncLog(tenant);
    }
    if (format === undefined) {
      if (v1Commits.length > 0 || runsIdx.size > 0) reportUpgrade(v1Commits);
      await writeJson(names.format, { format: FILE_STORE_FORMAT });
    } else {
      assert(format.format === FILE_STORE_FORMAT, "the store was written by a newer format");
    }
  }

  function reportUpgrade(v1Commits: readonly CommitFile[]): void {
    let pendingV1Intents = 0;
    for (const c of v1Commits) {
      const st = outboxIdx.get(k(c.run.tenant, c.run.record.run_key));
      if (c.intent !== null && st?.state === "pending") pendingV1Intents += 1;
    }
    (options.onUpgrade ?? logUpgradeReport)({
      store: "file",
      commitments: v1Commits.length,
      ...countInputsCommitments(v1Commits.map((c) => ({
        tenant: c.run.tenant,
        inputsCid: c.run.meta.inputsCid,
        epochId: c.run.record.epoch_id,
      }))),
      pendingV1Intents,
    });
  }

  async function listBins(dir: string): Promise<string[]> {
    const entries = await readdir(join(root, dir)).catch(() => [] as string[]);
    return entries.filter((e) => e.endsWith(".bin")).sort().map((e) => `${dir}/${e}`);
  }

  async function cleanTemps(dir: string, depth = 0): Promise<void> {
    if (depth > 4) return; // the layout is 4 levels deep at most
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await cleanTemps(p, depth + 1);
      else if (e.name.endsWith(TEMP_SUFFIX)) {
        const info = await stat(p).catch(() => undefined);
        if (info !== undefined && options.nowMs() - info.mtimeMs > STALE_TEMP_AGE_MS) {
          await unlink(p).catch(() => undefined);
        }
      }
    }
  }
}

/** UTF-8 of the pieces, one by one (a text piece never ends inside a surrogate pair). */
function* utf8Of(
  head: readonly (string | Uint8Array)[],
  rest: Iterable<string | Uint8Array>,
): Generator<Uint8Array> {
  const encoder = new TextEncoder();
  for (const piece of head) yield typeof piece === "string" ? encoder.encode(piece) : piece;
  for (const piece of rest) yield typeof piece === "string" ? encoder.encode(piece) : piece;
}

function skipBad(err: unknown): undefined {
  if (isStoreUndecryptable(err)) return undefined; // remembered in badFiles by readJson
  throw err;
}

function tenantDir(tenant: string): string {
  assert(TENANT_PATTERN.test(tenant), "tenant must match [a-z0-9_-]{1,64} (contract §1)");
  return tenant;
}
