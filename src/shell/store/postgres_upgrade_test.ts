/**
 * Upgrade of a database written by the v1 store (schema version 1, contract §5): the v1 schema
 * is created from migration 001 alone and filled with rows exactly as the v1 store wrote them
 * (sealed v1 runs without `intent_key`, sealed v1 intent objects in the outbox); then the
 * current store opens it and applies migration 002.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";
import { canonicalJson } from "../../core/canonical_json.ts";
import { cidOf } from "../../core/cid.ts";
import { fakeRun, storedRunOf } from "../../../tests/support/ledger_fixtures.ts";
import { createAtRestCipher } from "./at_rest_cipher.ts";
import { migrate, openPostgresRunStore } from "./postgres_run_store.ts";
import type { StoredRun, UpgradeReport } from "./run_store.ts";
import {
  dropSchemas,
  freshSchema,
  withTestDatabase,
} from "../../../tests/support/postgres_test_db.ts";

const cipher = createAtRestCipher(new Uint8Array(32).fill(4));
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const MIGRATIONS = new URL("./migrations/", import.meta.url);

/** The v1 cases (tenant acme), as the v1 registry would have stored them. */
function v1Cases() {
  const twinInputs = cidOf("compat snapshot without an epoch id");
  return {
    delivered: fakeRun({ v1: true, variant: "del", epochId: "v1-delivered" }),
    pending: fakeRun({ v1: true, variant: "pen", epochId: "v1-pending" }),
    twinA: fakeRun({ v1: true, variant: "ta", epochId: "v1-twin-a", inputsCid: twinInputs }),
    twinB: fakeRun({ v1: true, variant: "tb", epochId: "v1-twin-b", inputsCid: twinInputs }),
    dry: fakeRun({ v1: true, variant: "dry", epochId: "v1-dry" }),
    quarantined: fakeRun({ v1: true, variant: "q", epochId: "overflow", quarantined: true }),
  };
}

/** A v1 stored run: the v1 record had no `intent_key` member. */
function v1Run(f: ReturnType<typeof fakeRun>, dryRun: boolean, seq: number): StoredRun {
  const run = storedRunOf(f, { dryRun, seq, atMs: 10 + seq });
  const { intent_key: _none, ...record } = run.record;
  return { ...run, record: record as StoredRun["record"] };
}

await withTestDatabase("postgres upgrade", (url) => {
  const schemas = new Set<string>();

  /** Creates schema version 1 and fills it as the v1 store did. */
  async function writeV1Database(schema: string): Promise<ReturnType<typeof v1Cases>> {
    schemas.add(schema);
    const only001 = await mkdtemp(join(tmpdir(), "rw-pg-v1-"));
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await copyFile(new URL("001_init.sql", MIGRATIONS), join(only001, "001_init.sql"));
      assert.deepEqual(await migrate(sql, schema, pathToFileURL(`${only001}/`)), [1]);
      const c = v1Cases();
      const rows: [ReturnType<typeof fakeRun>, boolean, "pending" | "accepted" | null][] = [
        [c.delivered, false, "accepted"],
        [c.twinA, false, "accepted"],
        [c.twinB, false, "accepted"],
        [c.pending, false, "pending"],
        [c.dry, true, null],
        [c.quarantined, false, null],
      ];
      await sql.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL search_path = "${schema}"`);
        for (const [i, [f, dry, state]] of rows.entries()) {
          const run = v1Run(f, dry, i + 1);
          const r = run.record;
          await tx`
            INSERT INTO runs (tenant, run_key, epoch_id, status, dry_run, policy_hash, inputs_cid,
                              created_seq, created_at_ms, sealed)
            VALUES (${f.tenant}, ${r.run_key}, ${r.epoch_id}, ${r.status}, ${r.dry_run},
                    ${f.policyHash}, ${f.inputsCid}, ${i + 1}, ${10 + i + 1},
                    ${cipher.seal(`pg/run/${f.tenant}/${r.run_key}`, enc(run))})`;
          if (state === null) continue;
          await tx`
            INSERT INTO commitments (tenant, epoch_id, run_key, committed_at_ms)
            VALUES (${f.tenant}, ${r.epoch_id}, ${r.run_key}, ${100 + i})`;
          await tx`
            INSERT INTO outbox (tenant, run_key, intent, state, attempts, next_attempt_at_ms,
                                enqueued_at_ms, conflict)
            VALUES (${f.tenant}, ${r.run_key},
                    ${cipher.seal(`pg/intent/${f.tenant}/${r.run_key}`, enc(f.intent))},
                    ${state}, 1, ${100 + i}, ${100 + i}, false)`;
        }
      });
      return c;
    } finally {
      await sql.end({ timeout: 1 });
      await rm(only001, { recursive: true, force: true });
    }
  }

  const openIn = (schema: string, reports: UpgradeReport[]) =>
    openPostgresRunStore({
      databaseUrl: url,
      cipher,
      leaseMs: 1_000,
      schema,
      poolMax: 2,
      onUpgrade: (r) => reports.push(r),
    });

  Deno.test("postgres upgrade: a v1 database opens without loss and is reported once", async () => {
    const schema = freshSchema("v1up");
    const c = await writeV1Database(schema);
    const reports: UpgradeReport[] = [];
    const s = await openIn(schema, reports);
    try {
      assert.deepEqual(reports, [{
        store: "postgres",
        commitments: 4,
        inputsCommitments: 3,
        inputsUnderSeveralEpochs: 1,
        extraEpochCommitments: 1,
        pendingV1Intents: 1,
      }]);
      for (const f of [c.delivered, c.twinA, c.twinB, c.pending]) {
        assert.equal(await s.getCommitment("acme", f.epochId), f.runKey);
        const run = await s.getRun("acme", f.runKey);
        assert.equal(run?.record.intent_key, null, "v1 runs read with intent_key null");
        assert.equal(run?.envelope.manifest.schema, "svc-rewarder.manifest.v1");
        assert.equal(run?.envelope.manifest_hash, f.envelope.manifest_hash);
      }
      assert.equal(await s.getInputsCommitment("acme", c.pending.inputsCid), "v1-pending");
      assert.equal(await s.getInputsCommitment("acme", c.twinA.inputsCid), "v1-twin-a");
      assert.equal(await s.getCommitment("acme", "v1-twin-b"), c.twinB.runKey, "both kept");
      // Migration 003 queues every committed run for publication (contract §13).
      assert.deepEqual(
        (await s.pendingPublications(10)).map((e) => [e.epochId, e.enqueuedAtMs]),
        [["v1-delivered", 100], ["v1-twin-a", 101], ["v1-twin-b", 102], ["v1-pending", 103]],
      );
      assert.equal(await s.getInputsCommitment("acme", c.dry.inputsCid), undefined);
      assert.equal((await s.getRun("acme", c.dry.runKey))?.record.dry_run, true);
      // The pending v1 intent: its run key and the JCS of the v1 object, as v1 sent it.
      const [due] = await s.duePending(1_000, 10);
      assert.deepEqual(due?.intent, {
        idempotencyKey: c.pending.runKey,
        body: canonicalJson(c.pending.intent),
        runKey: c.pending.runKey,
        intentKey: null,
        manifestHash: c.pending.envelope.manifest_hash,
      });
      assert.equal((await s.getOutbox("acme", c.twinA.runKey))?.state, "accepted");
      // New commits follow v2: the twin inputs under a third epoch are refused.
      const third = fakeRun({
        variant: "third",
        epochId: "v2-third",
        inputsCid: c.twinA.inputsCid,
      });
      const r3 = storedRunOf(third, { dryRun: false, seq: 9, atMs: 9 });
      assert.deepEqual(await s.commitRun(r3, third.queued, 9), {
        committed: false,
        conflict: "inputs",
        inputsEpoch: "v1-twin-a",
      });
      assert.equal(await s.getCommitment("acme", "v2-third"), undefined, "rolled back whole");
      // The v1 dry run, recomputed as v2, commits under its run key.
      const v2 = fakeRun({ variant: "dry", epochId: "v1-dry" });
      assert.equal(v2.runKey, c.dry.runKey);
      const promoted = storedRunOf(v2, { dryRun: false, seq: 5, atMs: 15 });
      assert.deepEqual(await s.commitRun(promoted, v2.queued, 20), { committed: true });
      assert.deepEqual(await s.getRun("acme", c.dry.runKey), promoted);
    } finally {
      await s.close();
    }
    const again = await openIn(schema, reports);
    await again.close();
    assert.equal(reports.length, 1, "reported by the open that migrated, never again");
    const fresh = freshSchema("v2new");
    schemas.add(fresh);
    const freshReports: UpgradeReport[] = [];
    await (await openIn(fresh, freshReports)).close();
    assert.deepEqual(freshReports, [], "a new database has nothing to upgrade");
  });

  Deno.test("postgres upgrade: drop the test schemas", async () => {
    await dropSchemas(url, schemas);
  });
});
