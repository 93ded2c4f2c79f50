/**
 * The `file` backend (embedded default, under DATA_DIR): every artifact is one file, sealed
 * with XChaCha20-Poly1305 (see at_rest_cipher.ts; AAD = the file's logical name), written
 * atomically (temp + fsync + rename + fsync dir).
 *
 * Layout under `<dataDir>/store/`:
 *   tenants/<tenant>/commits/<b64url epoch_id>.bin  {run, intent, enqueuedAtMs}  ← commit point
 *   tenants/<tenant>/runs/<run key hex>.bin         the run (dry, quarantined, or committed copy)
 *   tenants/<tenant>/outbox/<run key hex>.bin       delivery state only (absent = pending)
 *   counters/<b64url key>.bin, flags/quarantine_only.bin, canary.bin
 *
 * ATOMICITY OF "commit + run + intent". The commitment file itself carries the committed run
 * AND its intent, and it is published by one exclusive `link()` of a fully written, fsynced
 * temp file (atomic_file.ts). So the commit point is a single atomic, exclusive name creation:
 * before it nothing of the commit exists (a stray temp file is garbage, cleaned on open); after
 * it the commitment, the committed run and the intent exist together. A crash can therefore
 * never leave a commitment without its intent, nor an intent without its commitment. What
 * follows the commit point is derived and idempotent: the `runs/` copy is rewritten from the
 * commitment (on the spot, and again by the loader if a crash came first), and an absent outbox
 * state file means "pending, 0 attempts", so delivery resumes after any crash. Two processes
 * racing for one epoch meet at `link()`: exactly one gets the name, the other gets EEXIST and
 * reads the holder.
 *
 * Reads of a file that fails authentication throw the typed `store_undecryptable` error; the
 * loader skips such files from its index but remembers them, and `health()` reports
 * `undecryptable` until they are dealt with.
 *
 * @module
 */
import { mkdir, readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Cid, LedgerIntent } from "../../core/types.ts";
import { toBase64Url } from "../../core/base64url.ts";
import { assert } from "../../core/assert.ts";
import { type AtRestCipher } from "./at_rest_cipher.ts";
import { createFileExclusive, TEMP_SUFFIX, writeFileAtomic } from "./atomic_file.ts";
import { createKeyedMutex } from "./keyed_mutex.ts";
import { newEntry } from "./memory_run_store.ts";
import {
  compareRuns,
  isStoreUndecryptable,
  type ListQuery,
  matchesQuery,
  type OutboxEntry,
  type RunStore,
  type StoredRun,
  type StoreHealth,
} from "./run_store.ts";

/** Temp files younger than this may belong to another live process: left alone on open. */
export const STALE_TEMP_AGE_MS = 60_000;

interface CommitFile {
  run: StoredRun;
  intent: LedgerIntent | null;
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
}

const enc = (s: string) => new TextEncoder().encode(s);
const hexOf = (runKey: Cid) => runKey.slice(3);
const b64 = (s: string) => toBase64Url(enc(s));
const TENANT_RE = /^[a-z0-9_-]{1,64}$/;

/** Opens (creating if needed) the file store and loads its index. */
export async function openFileRunStore(options: FileRunStoreOptions): Promise<RunStore> {
  const root = join(options.dataDir, "store");
  const { cipher } = options;
  await mkdir(root, { recursive: true, mode: 0o700 });
  const badFiles = new Set<string>();
  const runsIdx = new Map<string, StoredRun>(); // tenant\0runKey → light copy (no payouts)
  const commitIdx = new Map<string, Cid>();
  const outboxIdx = new Map<string, OutboxState>();
  const counterLock = createKeyedMutex();
  let seq = 0;
  const k = (a: string, b: string) => `${a}\u0000${b}`;

  const names = {
    run: (t: string, rk: Cid) => `tenants/${tenantDir(t)}/runs/${hexOf(rk)}.bin`,
    commit: (t: string, epoch: string) => `tenants/${tenantDir(t)}/commits/${b64(epoch)}.bin`,
    outbox: (t: string, rk: Cid) => `tenants/${tenantDir(t)}/outbox/${hexOf(rk)}.bin`,
    counter: (key: string) => `counters/${b64(key)}.bin`,
    flag: "flags/quarantine_only.bin",
    canary: "canary.bin",
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
  const sealJson = (name: string, value: unknown) => cipher.seal(name, enc(JSON.stringify(value)));
  const writeJson = (name: string, value: unknown) =>
    writeFileAtomic(join(root, name), sealJson(name, value));

  function indexRun(run: StoredRun): void {
    // The index keeps a light copy (no payouts) for filtering and ordering.
    const light: StoredRun = {
      ...run,
      envelope: { ...run.envelope, manifest: { ...run.envelope.manifest, payouts: [] } },
    };
    runsIdx.set(k(run.tenant, run.record.run_key), light);
    if (run.meta.createdSeq > seq) seq = run.meta.createdSeq;
  }

  const store: RunStore = {
    kind: "file",
    async getRun(tenant, runKey) {
      const run = await readJson<StoredRun>(names.run(tenant, runKey));
      if (run === undefined || !run.record.dry_run) return run;
      // A dry copy may be stale if another process promoted it and crashed before rewriting.
      const holder = await store.getCommitment(tenant, run.record.epoch_id);
      if (holder !== runKey) return run;
      return (await readJson<CommitFile>(names.commit(tenant, run.record.epoch_id)))?.run;
    },
    async putRun(run) {
      const holder = await store.getCommitment(run.tenant, run.record.epoch_id);
      assert(holder !== run.record.run_key, "putRun must not overwrite a committed run");
      await writeJson(names.run(run.tenant, run.record.run_key), run);
      indexRun(run);
    },
    async commitRun(run, intent, nowMs) {
      const name = names.commit(run.tenant, run.record.epoch_id);
      const body: CommitFile = { run, intent, enqueuedAtMs: nowMs };
      if (intent !== null) newEntry(run, intent, nowMs); // asserts intent ↔ run agreement
      const created = await createFileExclusive(join(root, name), sealJson(name, body));
      if (!created) {
        const existing = await readJson<CommitFile>(name);
        assert(existing !== undefined, "an existing commitment file must be readable");
        const holder = existing.run.record.run_key;
        commitIdx.set(k(run.tenant, run.record.epoch_id), holder);
        // Same run key committed by another process that may not have written its runs/ copy
        // yet: materialize it here too (idempotent, identical bytes) so getRun finds it.
        if (holder === run.record.run_key) await afterCommit(existing);
        return { committed: false, holder };
      }
      await afterCommit(body);
      return { committed: true };
    },
    async getCommitment(tenant, epochId) {
      const cached = commitIdx.get(k(tenant, epochId));
      if (cached !== undefined) return cached; // commitments are never undone
      const file = await readJson<CommitFile>(names.commit(tenant, epochId));
      if (file === undefined) return undefined;
      commitIdx.set(k(tenant, epochId), file.run.record.run_key);
      return file.run.record.run_key;
    },
    async listRuns(tenant, query: ListQuery) {
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
      const st = outboxIdx.get(k(tenant, runKey));
      if (st === undefined) return undefined;
      return await withIntent(st);
    },
    async duePending(nowMs, limit) {
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
        if (commitIdx.get(k(run.tenant, run.record.epoch_id)) === run.record.run_key) continue;
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
    const run = runsIdx.get(k(st.tenant, st.runKey));
    const epochId = run?.record.epoch_id;
    if (epochId === undefined) return undefined;
    const file = await readJson<CommitFile>(names.commit(st.tenant, epochId));
    if (file?.intent == null || file.run.record.run_key !== st.runKey) return undefined;
    return { ...st, intent: file.intent };
  }

  /** Derived, idempotent steps after the commit point (also run by the loader). */
  async function afterCommit(body: CommitFile): Promise<void> {
    const { run, intent } = body;
    const rk = run.record.run_key;
    commitIdx.set(k(run.tenant, run.record.epoch_id), rk);
    await writeJson(names.run(run.tenant, rk), run);
    indexRun(run);
    if (intent !== null && !outboxIdx.has(k(run.tenant, rk))) {
      const saved = await readJson<OutboxState>(names.outbox(run.tenant, rk)).catch(() =>
        undefined
      );
      const { intent: _i, ...fresh } = newEntry(run, intent, body.enqueuedAtMs);
      outboxIdx.set(k(run.tenant, rk), saved ?? fresh);
    }
  }

  await load();
  return store;

  async function load(): Promise<void> {
    if ((await readJson<{ canary: true }>(names.canary).catch(() => "bad")) === undefined) {
      await writeJson(names.canary, { canary: true });
    }
    await cleanTemps(root);
    const tenants = await readdir(join(root, "tenants")).catch(() => [] as string[]);
    for (const tenant of tenants) {
      if (!TENANT_RE.test(tenant)) continue;
      for (const f of await listBins(`tenants/${tenant}/runs`)) {
        const run = await readJson<StoredRun>(f).catch(skipBad);
        if (run !== undefined) indexRun(run);
      }
      for (const f of await listBins(`tenants/${tenant}/commits`)) {
        const body = await readJson<CommitFile>(f).catch(skipBad);
        if (body !== undefined) await afterCommitOnLoad(body);
      }
    }
  }

  async function afterCommitOnLoad(body: CommitFile): Promise<void> {
    const existing = runsIdx.get(k(body.run.tenant, body.run.record.run_key));
    if (existing !== undefined && !existing.record.dry_run) {
      commitIdx.set(k(body.run.tenant, body.run.record.epoch_id), body.run.record.run_key);
      const rk = body.run.record.run_key;
      if (body.intent !== null) {
        const saved = await readJson<OutboxState>(names.outbox(body.run.tenant, rk)).catch(skipBad);
        const { intent: _i, ...fresh } = newEntry(body.run, body.intent, body.enqueuedAtMs);
        outboxIdx.set(k(body.run.tenant, rk), saved ?? fresh);
      }
      return;
    }
    await afterCommit(body); // crash between the commit point and the runs/ copy: redo it
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

function skipBad(err: unknown): undefined {
  if (isStoreUndecryptable(err)) return undefined; // remembered in badFiles by readJson
  throw err;
}

function tenantDir(tenant: string): string {
  assert(TENANT_RE.test(tenant), "tenant must match [a-z0-9_-]{1,64} (contract §1)");
  return tenant;
}
