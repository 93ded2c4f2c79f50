/**
 * Upgrade of a data directory written by the v1 service (tests/fixtures/v1-store, see its
 * README): contract §5's upgrade rules and §7's "a pending v1 intent stays intent.v1, keyed by
 * its run key", checked on the store, the outbox and the local journal.
 */
import assert from "node:assert/strict";
import { chmod, cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { cidOf } from "../src/core/cid.ts";
import { intentKeyOf } from "../src/core/run_key.ts";
import { createAtRestCipher, readAtRestKey } from "../src/shell/store/at_rest_cipher.ts";
import { openFileRunStore } from "../src/shell/store/file_run_store.ts";
import type { QueuedIntent, RunStore, UpgradeReport } from "../src/shell/store/run_store.ts";
import { openJournalLedgerTarget } from "../src/shell/ledger/journal_ledger_target.ts";
import { createOutboxDispatcher } from "../src/shell/outbox/dispatcher.ts";
import { caller, startService, tokenMinter, waitFor } from "./support/service.ts";

const FIXTURE = new URL("./fixtures/v1-store/", import.meta.url).pathname;
const expected = JSON.parse(await Deno.readTextFile(join(FIXTURE, "expected.json")));
const T: string = expected.tenant;
const E = expected.epochs;

/** A private copy of the fixture's data dir, key files at 0600 (git keeps no modes). */
async function copyFixture(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "rw-v1-upgrade-"));
  await cp(join(FIXTURE, "data"), dir, { recursive: true });
  for (const e of await readdir(join(dir, "keys"), { recursive: true, withFileTypes: true })) {
    if (e.isFile()) await chmod(join(e.parentPath, e.name), 0o600);
  }
  await chmod(join(dir, "keys"), 0o700);
  return dir;
}

async function openAt(dir: string, reports: UpgradeReport[]): Promise<RunStore> {
  const cipher = createAtRestCipher(await readAtRestKey(join(dir, "keys", "at-rest.key")));
  return await openFileRunStore({
    dataDir: dir,
    cipher,
    nowMs: () => 0,
    onUpgrade: (r) => reports.push(r),
  });
}

Deno.test("v1 store: opens without loss; runs, commitments and outbox as v1 left them", async () => {
  const dir = await copyFixture();
  try {
    const reports: UpgradeReport[] = [];
    const s = await openAt(dir, reports);
    assert.equal(await s.health(), "ok");
    // Reported once: 4 epoch commitments kept, one inputs CID under two epochs, one pending.
    assert.deepEqual(reports, [{
      store: "file",
      commitments: 4,
      inputsCommitments: 3,
      inputsUnderSeveralEpochs: 1,
      extraEpochCommitments: 1,
      pendingV1Intents: 1,
    }]);
    const committed = [E.delivered, E.twin_a, E.twin_b, E.pending];
    for (const r of committed) {
      assert.equal(await s.getCommitment(T, r.epoch_id), r.run_key, r.epoch_id);
      const run = await s.getRun(T, r.run_key);
      assert.ok(run, r.epoch_id);
      assert.equal(run.record.intent_key, null, "a v1 run has no intent key (§5)");
      assert.equal(run.record.dry_run, false);
      assert.equal(run.record.manifest_hash, r.manifest_hash);
      assert.equal(run.envelope.manifest.schema, "svc-rewarder.manifest.v1");
      assert.equal(run.envelope.manifest_hash, r.manifest_hash, "the v1 envelope, unchanged");
    }
    // Inputs commitments derived from the committed runs; the double one keeps both epochs.
    assert.equal(await s.getInputsCommitment(T, expected.inputs.delivered), E.delivered.epoch_id);
    assert.equal(await s.getInputsCommitment(T, expected.inputs.pending), E.pending.epoch_id);
    assert.ok(
      [E.twin_a.epoch_id, E.twin_b.epoch_id].includes(
        await s.getInputsCommitment(T, expected.inputs.twin),
      ),
    );
    assert.equal(await s.getInputsCommitment(T, expected.inputs.dry), undefined, "dry: nothing");
    assert.equal(await s.getInputsCommitment(T, expected.inputs.quarantined), undefined);
    // The dry run and the quarantined run are stored, uncommitted, as v1 wrote them.
    const dry = await s.getRun(T, E.dry.run_key);
    assert.equal(dry?.record.dry_run, true);
    assert.equal(dry?.record.intent_key, null);
    assert.equal(dry?.envelope.manifest.schema, "svc-rewarder.manifest.v1");
    assert.equal(await s.getCommitment(T, E.dry.epoch_id), undefined);
    const q = E.quarantined.error.run;
    assert.equal((await s.getRun(T, q.run_key))?.record.status, "quarantined");
    assert.equal(await s.getCommitment(T, q.epoch_id), undefined);
    assert.equal((await s.listRuns(T, { limit: 100 })).length, 6);
    // Outbox: delivered entries stay delivered; the pending one is queued as v1 sent it.
    for (const r of [E.delivered, E.twin_a, E.twin_b]) {
      assert.equal((await s.getOutbox(T, r.run_key))?.state, "accepted");
    }
    const pending = await s.getOutbox(T, E.pending.run_key);
    assert.equal(pending?.state, "pending");
    assert.deepEqual(
      pending?.intent,
      {
        idempotencyKey: E.pending.run_key,
        body: expected.pending_intent.body,
        runKey: E.pending.run_key,
        intentKey: null,
        manifestHash: E.pending.manifest_hash,
      } satisfies QueuedIntent,
    );
    assert.equal(cidOf(pending!.intent.body), expected.pending_intent.body_cid);
    await s.close();
    // The upgrade is reported by the open that performs it, never again.
    const again = await openAt(dir, reports);
    assert.equal(reports.length, 1);
    assert.equal(await again.getCommitment(T, E.twin_b.epoch_id), E.twin_b.run_key);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("v1 store: the pending v1 intent reaches the journal with the key and bytes it was queued under", async () => {
  const dir = await copyFixture();
  try {
    const s = await openAt(dir, []);
    const cipher = createAtRestCipher(await readAtRestKey(join(dir, "keys", "at-rest.key")));
    const journal = await openJournalLedgerTarget({
      path: join(dir, "settlement-journal.log"),
      cipher,
    });
    assert.equal((await journal.entries()).length, 3, "the v1 journal reads unchanged");
    const results: string[] = [];
    const d = createOutboxDispatcher({
      store: s,
      target: journal,
      nowMs: () => Date.now() + 86_400_000, // past any backoff the v1 process left
      onResult: (r) => results.push(`${r.runKey}:${r.result}`),
    });
    assert.equal(await d.tick(), 1, "only the pending entry is sent");
    assert.deepEqual(results, [`${E.pending.run_key}:accepted`]);
    const last = (await journal.entries()).at(-1);
    assert.deepEqual(last, {
      tenant: T,
      key: E.pending.run_key,
      body: expected.pending_intent.body,
    });
    assert.equal(JSON.parse(last!.body).schema, "svc-rewarder.intent.v1", "never rebuilt as v2");
    assert.equal((await s.getOutbox(T, E.pending.run_key))?.state, "accepted");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("v1 store: new commits follow the v2 rules; a v1 dry run can be committed as v2", async () => {
  const dir = await copyFixture();
  try {
    const s = await openAt(dir, []);
    const twin = (await s.getRun(T, E.twin_a.run_key))!;
    // The twin inputs are committed (under both epochs): a third epoch is refused.
    const third = {
      ...twin,
      record: { ...twin.record, run_key: cidOf("third"), epoch_id: "v2-third" },
    };
    assert.deepEqual(await s.commitRun(third, null, 1), {
      committed: false,
      conflict: "inputs",
      inputsEpoch: await s.getInputsCommitment(T, expected.inputs.twin),
    });
    // Promotion of the v1 dry run, recomputed as v2 by the registry: the store commits the v2
    // record under the same run key, with the v2 intent's key.
    const dry = (await s.getRun(T, E.dry.run_key))!;
    const intentKey = intentKeyOf({ tenant: T, runKey: E.dry.run_key });
    const v2Hash = cidOf("the v2 manifest header");
    const promoted = {
      ...dry,
      record: { ...dry.record, dry_run: false, intent_key: intentKey, manifest_hash: v2Hash },
      envelope: {
        ...dry.envelope,
        manifest: { ...dry.envelope.manifest, schema: "svc-rewarder.manifest.v2" as const },
        manifest_hash: v2Hash,
      },
    };
    const queued: QueuedIntent = {
      idempotencyKey: intentKey,
      body: '{"schema":"svc-rewarder.intent.v2"}',
      runKey: E.dry.run_key,
      intentKey,
      manifestHash: v2Hash,
    };
    assert.deepEqual(await s.commitRun(promoted, queued, 2), { committed: true });
    assert.deepEqual(await s.getRun(T, E.dry.run_key), promoted);
    assert.equal(await s.getInputsCommitment(T, expected.inputs.dry), E.dry.epoch_id);
    assert.deepEqual((await s.getOutbox(T, E.dry.run_key))?.intent, queued);
    await s.close();
    const reopened = await openAt(dir, []);
    assert.deepEqual(await reopened.getRun(T, E.dry.run_key), promoted);
    assert.equal(await reopened.getCommitment(T, E.dry.epoch_id), E.dry.run_key);
    await reopened.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test({
  name:
    "v1 store: the v2 service on the v1 data dir replays v1 runs, delivers the pending v1 intent as v1, promotes the v1 dry run as v2",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await copyFixture();
    const service = await startService({ dataDir: dir, transport: "tcp" });
    try {
      const call = caller(service);
      const token = await tokenMinter(dir).mint({ tenant: T });
      // The upgrade is reported once, in the log, with the counts of §5.
      assert.match(service.output(), /store upgraded to contract v2/);
      // v1 runs replay as they were: v1 manifest, intent_key null.
      const got = await call("GET", `/rewarder/runs/${E.pending.run_key}`, { token });
      assert.equal(got.status, 200, got.text);
      assert.equal(got.body.run.intent_key, null);
      assert.equal(got.body.envelope.manifest.schema, "svc-rewarder.manifest.v1");
      assert.equal(got.body.envelope.manifest_hash, E.pending.manifest_hash);
      const epoch = await call("GET", `/rewarder/epochs/${E.twin_b.epoch_id}`, { token });
      assert.equal(epoch.status, 200, "both epochs of the v1 double commitment are kept");
      // The pending v1 intent reaches the local journal under its run key, with its v1 bytes.
      assert.ok(
        await waitFor(async () => {
          const r = await call("GET", `/rewarder/runs/${E.pending.run_key}`, { token });
          return r.body.run?.emission === "accepted";
        }, 15_000),
        "the pending v1 intent is delivered",
      );
      // The twin snapshot is settled (under both v1 epochs): a third epoch is refused.
      const body = (inputs: string, dry = false) => ({
        inputs_cid: inputs,
        policy_id: expected.policy.policy_id,
        policy_hash: expected.policy.policy_hash,
        dry_run: dry,
      });
      const third = await call("POST", "/rewarder/epochs/v2-third/compute", {
        token,
        json: body(expected.inputs.twin),
      });
      assert.equal(third.status, 409, third.text);
      assert.equal(third.body.error.reason, "inputs_settled");
      // The v1 dry run, promoted now, is recomputed as v2 and emits under its intent key.
      const promoted = await call("POST", `/rewarder/epochs/${E.dry.epoch_id}/compute`, {
        token,
        json: body(expected.inputs.dry),
      });
      assert.equal(promoted.status, 200, promoted.text);
      assert.equal(promoted.body.run_key, E.dry.run_key);
      assert.equal(promoted.body.dry_run, false);
      assert.equal(promoted.body.intent_key, intentKeyOf({ tenant: T, runKey: E.dry.run_key }));
      const after = await call("GET", `/rewarder/runs/${E.dry.run_key}`, { token });
      assert.equal(after.body.envelope.manifest.schema, "svc-rewarder.manifest.v2");
      assert.ok(
        await waitFor(async () => {
          const r = await call("GET", `/rewarder/runs/${E.dry.run_key}`, { token });
          return r.body.run?.emission === "accepted";
        }, 15_000),
        "the promoted run's v2 intent is delivered",
      );
    } finally {
      await service.stop();
    }
    const cipher = createAtRestCipher(await readAtRestKey(join(dir, "keys", "at-rest.key")));
    const journal = await openJournalLedgerTarget({
      path: join(dir, "settlement-journal.log"),
      cipher,
    });
    const entries = await journal.entries();
    const v1 = entries.find((e) => e.key === E.pending.run_key);
    assert.deepEqual(v1, { tenant: T, key: E.pending.run_key, body: expected.pending_intent.body });
    const v2 = entries.find((e) => e.key === intentKeyOf({ tenant: T, runKey: E.dry.run_key }));
    assert.equal(JSON.parse(v2!.body).schema, "svc-rewarder.intent.v2");
    await rm(dir, { recursive: true, force: true });
  },
});
