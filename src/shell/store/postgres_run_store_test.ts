/**
 * The postgres RunStore: the shared conformance suite, then what only a shared database has —
 * several store instances (as several service processes would open) on one schema: exclusive
 * commits, exclusive claims with leases that expire, fenced updates, shared counters,
 * concurrent migrations, and manifests sealed at rest.
 *
 * Needs PostgreSQL (TEST_DATABASE_URL or .ci/state/database_url): skips visibly outside CI,
 * fails in CI (see tests/support/postgres_test_db.ts).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { fakeRun, storedRunOf } from "../../../tests/support/ledger_fixtures.ts";
import type { LedgerTarget } from "../ledger/ledger_target.ts";
import { createOutboxDispatcher } from "../outbox/dispatcher.ts";
import { cidOf } from "../../core/cid.ts";
import { createAtRestCipher } from "./at_rest_cipher.ts";
import { isStoreUndecryptable, type RunStore } from "./run_store.ts";
import { runStoreConformance } from "../../../tests/support/run_store_conformance.ts";
import { openPostgresRunStore, outboxLeaseMsFor } from "./postgres_run_store.ts";
import {
  dropSchemas,
  freshSchema,
  withTestDatabase,
} from "../../../tests/support/postgres_test_db.ts";

const KEY = new Uint8Array(32).fill(3);
const cipher = createAtRestCipher(KEY);
/** Lease used by these tests, ms: short so expiry is observable quickly. */
const TEST_LEASE_MS = 400;

await withTestDatabase("postgres store", (url) => {
  const schemas = new Set<string>();
  const openIn = (
    schema: string,
    o: { leaseMs?: number; ownerId?: string; key?: Uint8Array } = {},
  ) => {
    schemas.add(schema);
    return openPostgresRunStore({
      databaseUrl: url,
      cipher: o.key === undefined ? cipher : createAtRestCipher(o.key),
      leaseMs: o.leaseMs ?? TEST_LEASE_MS,
      schema,
      poolMax: 4,
      ...(o.ownerId === undefined ? {} : { ownerId: o.ownerId }),
    });
  };
  const schemaOf = new WeakMap<RunStore, string>();

  runStoreConformance("postgres", {
    async open() {
      const schema = freshSchema("conf");
      const s = await openIn(schema);
      schemaOf.set(s, schema);
      return s;
    },
    async reopen(prev) {
      const schema = schemaOf.get(prev);
      assert.ok(schema !== undefined);
      await prev.close();
      const s = await openIn(schema);
      schemaOf.set(s, schema);
      return s;
    },
  });

  /** Opens `n` stores on one fresh schema (n instances of the service). */
  async function instances(n: number, o: { leaseMs?: number } = {}): Promise<RunStore[]> {
    const schema = freshSchema("multi");
    const out: RunStore[] = [];
    for (let i = 0; i < n; i++) out.push(await openIn(schema, { ...o, ownerId: `inst-${i}` }));
    return out;
  }
  const closeAll = (stores: RunStore[]) => Promise.all(stores.map((s) => s.close()));

  Deno.test("postgres: concurrent commits from 3 instances, one winner per epoch", async () => {
    const stores = await instances(3);
    try {
      const epochs = ["e1", "e2", "e3", "e4"];
      const attempts = epochs.flatMap((epochId) =>
        ["a", "b", "c", "a", "b", "c"].map((variant, i) => ({
          store: stores[i % 3]!,
          // Inputs of their own per epoch: this test is about the epoch rule.
          f: fakeRun({ epochId, variant, inputsCid: cidOf(`inputs|${epochId}|${variant}`) }),
        }))
      );
      const results = await Promise.all(attempts.map(async ({ store, f }) => ({
        f,
        r: await store.commitRun(
          storedRunOf(f, { dryRun: false, seq: await store.nextSeq(), atMs: 1 }),
          f.queued,
          1,
        ),
      })));
      for (const epochId of epochs) {
        const holder = await stores[0]!.getCommitment("acme", epochId);
        assert.ok(holder !== undefined);
        const mine = results.filter((x) => x.f.epochId === epochId);
        const winners = mine.filter((x) => x.r.committed);
        assert.equal(winners.length, 1, `exactly one commit for ${epochId}`);
        assert.equal(winners[0]!.f.runKey, holder);
        for (const x of mine) {
          if (!x.r.committed) {
            assert.deepEqual(x.r, { committed: false, conflict: "epoch", holder });
          }
        }
      }
      assert.equal((await stores[1]!.outboxStats()).depth, epochs.length, "one intent per run");
    } finally {
      await closeAll(stores);
    }
  });

  Deno.test("postgres: claims are exclusive, leases expire, updates are fenced", async () => {
    const [a, b] = await instances(2);
    assert.ok(a && b);
    try {
      const f = fakeRun();
      await a.commitRun(storedRunOf(f, { dryRun: false, seq: 1, atMs: 1 }), f.queued, 1);
      const [claimed] = await a.duePending(1, 10);
      assert.ok(claimed, "a claims the due entry");
      assert.deepEqual(await b.duePending(1, 10), [], "b cannot claim a leased entry");
      assert.deepEqual(await a.duePending(1, 10), [], "nor can a claim it twice");
      await new Promise((r) => setTimeout(r, TEST_LEASE_MS + 150));
      const [taken] = await b.duePending(1, 10);
      assert.equal(taken?.runKey, f.runKey, "b takes over after the lease expired");
      // a wakes up late: its retry_later update is fenced off (b holds a live lease) …
      await a.updateOutbox({ ...claimed, attempts: 1, nextAttemptAtMs: 999 });
      assert.equal((await b.getOutbox("acme", f.runKey))?.nextAttemptAtMs, 1);
      // … b's final answer lands, and a's later final answer does not overwrite it.
      await b.updateOutbox({ ...taken, state: "duplicate", attempts: 1 });
      await a.updateOutbox({ ...claimed, state: "accepted", attempts: 1 });
      assert.equal((await a.getOutbox("acme", f.runKey))?.state, "duplicate");
      assert.deepEqual(await a.outboxStats(), { depth: 0, oldestEnqueuedAtMs: undefined });
    } finally {
      await closeAll([a, b]);
    }
  });

  Deno.test("postgres: 4 instances claiming 60 entries concurrently get disjoint sets", async () => {
    const stores = await instances(4, { leaseMs: 60_000 });
    try {
      const runs = Array.from(
        { length: 60 },
        (_, i) => fakeRun({ epochId: `c${i}`, variant: `${i}` }),
      );
      for (const f of runs) {
        await stores[0]!.commitRun(storedRunOf(f, { dryRun: false, seq: 1, atMs: 1 }), f.queued, 1);
      }
      const rounds = await Promise.all(
        Array.from({ length: 12 }, (_, i) => stores[i % 4]!.duePending(5, 7)),
      );
      const keys = rounds.flat().map((e) => e.runKey);
      assert.equal(new Set(keys).size, keys.length, "no entry claimed twice");
      assert.equal(keys.length, 60, "12 × 7 claims ≥ 60: every entry claimed once");
    } finally {
      await closeAll(stores);
    }
  });

  Deno.test("postgres: max_runs counters are shared and exact across instances", async () => {
    const stores = await instances(3);
    try {
      const tries = await Promise.all(
        Array.from({ length: 30 }, (_, i) => stores[i % 3]!.tryIncrement("tok#2", 7)),
      );
      assert.equal(tries.filter(Boolean).length, 7);
      assert.equal(await stores[2]!.count("tok#2"), 7);
      assert.equal(await stores[1]!.tryIncrement("zero", 0), false);
      assert.equal(await stores[0]!.count("zero"), 0);
      const incs = await Promise.all(
        Array.from({ length: 9 }, (_, i) => stores[i % 3]!.increment("k")),
      );
      assert.deepEqual(incs.sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await closeAll(stores);
    }
  });

  Deno.test("postgres: quarantine-only flag and sequence are shared", async () => {
    const [a, b] = await instances(2);
    assert.ok(a && b);
    try {
      await a.setQuarantineOnly(true);
      assert.equal(await b.getQuarantineOnly(), true);
      const s1 = await a.nextSeq();
      const s2 = await b.nextSeq();
      assert.ok(s2 > s1, "one sequence for every instance");
    } finally {
      await closeAll([a, b]);
    }
  });

  Deno.test("postgres: migrations run once under concurrent starts; edits and newer versions refuse", async () => {
    const schema = freshSchema("mig");
    const stores = await Promise.all(Array.from({ length: 5 }, () => openIn(schema)));
    await closeAll(stores);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const rows = await sql`SELECT version FROM ${sql(schema)}.schema_migrations`;
      assert.deepEqual(rows.map((r) => r.version).sort(), [1, 2, 3]);
      await sql`UPDATE ${sql(schema)}.schema_migrations SET checksum = 'x' WHERE version = 1`;
      await assert.rejects(openIn(schema), /changed after it was applied/);
      await sql`DELETE FROM ${sql(schema)}.schema_migrations WHERE version = 1`;
      await sql`INSERT INTO ${sql(schema)}.schema_migrations (version, name, checksum)
                VALUES (999, '999_future.sql', 'x')`;
      await assert.rejects(openIn(schema), /newer than this build/);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  Deno.test("postgres: runs and intents are sealed at rest; tamper and wrong key are detected", async () => {
    const schema = freshSchema("rest");
    const s = await openIn(schema);
    const f = fakeRun();
    const g = fakeRun({ variant: "g", epochId: "e-g" });
    await s.commitRun(storedRunOf(f, { dryRun: false, seq: 1, atMs: 1 }), f.queued, 1);
    await s.putRun(storedRunOf(g, { dryRun: true, seq: 2, atMs: 1 }));
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const raw = await sql`
        SELECT r.sealed, o.intent FROM ${sql(schema)}.runs r
        JOIN ${sql(schema)}.outbox o USING (tenant, run_key)`;
      const text = new TextDecoder("latin1").decode(
        new Uint8Array([...raw[0]!.sealed, ...raw[0]!.intent]),
      );
      assert.ok(!text.includes("acct_a") && !text.includes("356"), "no plaintext payouts");
      assert.equal(await s.health(), "ok");

      // A wrong at-rest key: the canary says so and reads throw the typed error.
      const wrong = await openIn(schema, { key: new Uint8Array(32).fill(9) });
      assert.equal(await wrong.health(), "undecryptable");
      await assert.rejects(wrong.getRun("acme", f.runKey), isStoreUndecryptable);
      await wrong.close();

      // A blob moved to another row fails like a flipped byte (AAD = the row's name).
      await sql`
        UPDATE ${sql(schema)}.runs SET sealed = (SELECT sealed FROM ${sql(schema)}.runs
                                                 WHERE run_key = ${f.runKey})
        WHERE run_key = ${g.runKey}`;
      await assert.rejects(s.getRun("acme", g.runKey), isStoreUndecryptable);
      assert.equal(await s.health(), "undecryptable");
    } finally {
      await sql.end({ timeout: 1 });
      await s.close();
    }
  });

  Deno.test("postgres: two dispatchers on one outbox never send one intent concurrently", async () => {
    const leaseMs = outboxLeaseMsFor({ retriesMax: 0, attemptTimeoutMs: 300, backoffCapMs: 0 });
    const stores = await instances(2, { leaseMs });
    const inflight = new Set<string>();
    const sends = new Map<string, number>();
    let overlaps = 0;
    const target: LedgerTarget = {
      async send(intent) {
        if (inflight.has(intent.runKey)) overlaps += 1;
        inflight.add(intent.runKey);
        sends.set(intent.runKey, (sends.get(intent.runKey) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
        inflight.delete(intent.runKey);
        return "accepted";
      },
    };
    try {
      const runs = Array.from(
        { length: 40 },
        (_, i) => fakeRun({ epochId: `d${i}`, variant: `${i}` }),
      );
      for (const [i, f] of runs.entries()) {
        const run = storedRunOf(f, { dryRun: false, seq: i + 1, atMs: 1 });
        assert.deepEqual(await stores[0]!.commitRun(run, f.queued, 1), { committed: true });
      }
      const dispatchers = stores.map((store) =>
        createOutboxDispatcher({ store, target, nowMs: Date.now, retriesMax: 0, batchMax: 8 })
      );
      let delivered = 0;
      for (let round = 0; round < 20 && delivered < runs.length; round++) {
        const counts = await Promise.all(dispatchers.map((d) => d.tick()));
        delivered += counts.reduce((x, y) => x + y, 0);
      }
      assert.equal(delivered, runs.length);
      assert.equal(overlaps, 0);
      assert.deepEqual([...sends.values()].filter((n) => n !== 1), [], "each intent sent once");
      assert.equal(sends.size, runs.length);
    } finally {
      await closeAll(stores);
    }
  });

  Deno.test("postgres: drop the test schemas", async () => {
    await dropSchemas(url, schemas);
  });
});
