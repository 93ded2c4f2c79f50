import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { RewarderError } from "../../core/errors.ts";
import { type FakeRun, fakeRun } from "../../../tests/support/ledger_fixtures.ts";
import { createMemoryRunStore } from "../store/memory_run_store.ts";
import { openFileRunStore } from "../store/file_run_store.ts";
import { createAtRestCipher } from "../store/at_rest_cipher.ts";
import type { RunStore } from "../store/run_store.ts";
import { createRunRegistry, type SubmitRequest } from "./run_registry.ts";

const KEY = new Uint8Array(32).fill(3);
const openFile = (dataDir: string) =>
  openFileRunStore({ dataDir, cipher: createAtRestCipher(KEY), nowMs: () => 0 });

function req(f: FakeRun, dryRun = false): SubmitRequest {
  return {
    tenant: f.tenant,
    runKey: f.runKey,
    epochId: f.epochId,
    dryRun,
    envelope: f.envelope,
    policyHash: f.policyHash,
    inputsCid: f.inputsCid,
  };
}
const isCode = (code: string, reason?: string) => (e: unknown) =>
  e instanceof RewarderError && e.code === code && (reason === undefined || e.reason === reason);

const backends: [string, () => Promise<{ store: RunStore; dir?: string }>][] = [
  ["memory", () => Promise.resolve({ store: createMemoryRunStore() })],
  ["file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "rw-reg-"));
    return { store: await openFile(dir), dir };
  }],
];

for (const [name, open] of backends) {
  const t = (title: string, fn: (s: RunStore, dir?: string) => Promise<void>) =>
    Deno.test(`registry (${name}): ${title}`, async () => {
      const { store, dir } = await open();
      try {
        await fn(store, dir);
      } finally {
        if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      }
    });

  t("commit, replay, conflict", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    const a = fakeRun({ variant: "a" });
    const first = await reg.submit(req(a));
    assert.deepEqual(
      { ...first, totals: undefined },
      {
        run_key: a.runKey,
        intent_key: a.intentKey,
        epoch_id: a.epochId,
        manifest_hash: a.envelope.manifest_hash,
        status: "sealed",
        dry_run: false,
        replayed: false,
        emission: "pending",
        totals: undefined,
      },
    );
    const again = await reg.submit(req(a));
    assert.deepEqual(again, { ...first, replayed: true });
    await assert.rejects(
      reg.submit(req(fakeRun({ variant: "b" }))),
      isCode("CONFLICT", "epoch_committed"),
    );
    // A dry run of another key on a committed epoch is still fine (no commit).
    assert.equal((await reg.submit(req(fakeRun({ variant: "c" }), true))).emission, "dry_run");
    assert.deepEqual(await reg.committedEnvelope("acme", a.epochId), a.envelope);
    assert.equal(await reg.committedEnvelope("other", a.epochId), undefined);
    assert.equal((await store.outboxStats()).depth, 1);
  });

  t("dry run, then promotion emits exactly once", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    const a = fakeRun();
    const dry = await reg.submit(req(a, true));
    assert.deepEqual([dry.emission, dry.intent_key], ["dry_run", null]);
    assert.equal((await reg.submit(req(a, true))).replayed, true);
    assert.equal(await store.getCommitment("acme", a.epochId), undefined);
    const promoted = await reg.submit(req(a));
    assert.deepEqual([promoted.dry_run, promoted.replayed, promoted.emission], [
      false,
      false,
      "pending",
    ]);
    assert.equal(promoted.intent_key, a.intentKey);
    const later = await reg.submit(req(a));
    assert.deepEqual([later.replayed, later.emission], [true, "pending"]);
    assert.equal((await reg.submit(req(a, true))).dry_run, false, "a dry replay sees the real run");
    assert.equal((await store.outboxStats()).depth, 1);
  });

  t("quarantined runs are stored, answer QUARANTINED, never enqueue", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    const q = fakeRun({ quarantined: true });
    const err = await reg.submit(req(q)).catch((e: unknown) => e);
    assert.ok(isCode("QUARANTINED", "overflow")(err));
    const run = (err as RewarderError).extra?.["run"] as { replayed: boolean; status: string };
    assert.deepEqual([run.status, run.replayed], ["quarantined", false]);
    const again = await reg.submit(req(q)).catch((e: unknown) => e) as RewarderError;
    assert.equal((again.extra?.["run"] as { replayed: boolean }).replayed, true);
    assert.equal((await store.outboxStats()).depth, 0);
    assert.equal(await store.getCommitment("acme", q.epochId), undefined);
    assert.equal((await reg.get("acme", q.runKey))?.run.status, "quarantined");
  });

  t("quarantine-only suppresses emission until lifted", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    await reg.setQuarantineOnly(true);
    const a = fakeRun();
    assert.equal((await reg.submit(req(a))).emission, "suppressed");
    assert.equal((await store.outboxStats()).depth, 1, "intent kept");
    await reg.setQuarantineOnly(false);
    assert.equal((await reg.get("acme", a.runKey))?.run.emission, "pending");
  });

  t("50 concurrent identical submits: one commit, one intent", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    const a = fakeRun();
    const all = await Promise.all(Array.from({ length: 50 }, () => reg.submit(req(a))));
    assert.equal(all.filter((r) => !r.replayed).length, 1);
    assert.equal((await store.outboxStats()).depth, 1);
  });

  t("50 concurrent different run keys on one epoch: exactly one commits", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    const runs = Array.from({ length: 50 }, (_, i) => fakeRun({ variant: `v${i}` }));
    const out = await Promise.allSettled(runs.map((f) => reg.submit(req(f))));
    assert.equal(out.filter((o) => o.status === "fulfilled").length, 1);
    for (const o of out) {
      if (o.status === "rejected") assert.ok(isCode("CONFLICT")(o.reason));
    }
    assert.equal((await store.outboxStats()).depth, 1);
  });

  t("list pages with an opaque cursor and filters", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    for (let i = 0; i < 7; i++) {
      await reg.submit(req(fakeRun({ variant: `v${i}`, epochId: `e${i % 2}` }), true));
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await reg.list("acme", { limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...r.runs.map((x) => x.run_key));
      if (r.nextCursor === null) break;
      cursor = r.nextCursor;
    }
    assert.equal(new Set(seen).size, 7);
    assert.equal((await reg.list("acme", { limit: 50, epochId: "e0" })).runs.length, 4);
    assert.equal((await reg.list("beta", { limit: 50 })).runs.length, 0);
    await assert.rejects(
      reg.list("acme", { limit: 3, cursor: "!!" }),
      isCode("BAD_REQUEST", "cursor"),
    );
  });

  t("intents are keyed per tenant, bytes fixed at commit (§5, §7)", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    const a = fakeRun({ tenant: "acme" });
    const b = fakeRun({ tenant: "beta" });
    assert.equal(a.runKey, b.runKey, "same epoch, policy and inputs: one run key");
    const [ra, rb] = [await reg.submit(req(a)), await reg.submit(req(b))];
    assert.deepEqual([ra.intent_key, rb.intent_key], [a.intentKey, b.intentKey]);
    assert.notEqual(ra.intent_key, rb.intent_key);
    const [oa, ob] = [
      await store.getOutbox("acme", a.runKey),
      await store.getOutbox("beta", b.runKey),
    ];
    assert.equal(oa?.intent.idempotencyKey, a.intentKey);
    assert.equal(ob?.intent.idempotencyKey, b.intentKey);
    assert.equal(oa?.intent.body, a.queued.body, "the intent v2 body the core builds");
    assert.equal((await reg.submit(req(a))).replayed, true);
    assert.equal((await store.outboxStats()).depth, 2);
  });

  t("one snapshot settles one epoch per tenant; dry runs and other tenants pass", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    const inputsCid = fakeRun().inputsCid;
    await reg.submit(req(fakeRun({ epochId: "e1", inputsCid })));
    const again = fakeRun({ epochId: "e2", inputsCid });
    const err = await reg.submit(req(again)).catch((e: unknown) => e);
    assert.ok(isCode("CONFLICT", "inputs_settled")(err));
    assert.equal((err as RewarderError).path, "inputs_cid");
    assert.equal((await reg.submit(req(again, true))).emission, "dry_run");
    assert.equal(
      (await reg.submit(req(fakeRun({ tenant: "beta", epochId: "e2", inputsCid })))).emission,
      "pending",
    );
    assert.equal(await store.getCommitment("acme", "e2"), undefined);
  });

  t("spend: once per new or promoted run, never on replay, once under a race", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    let spent = 0;
    const spend = () => {
      spent += 1;
      return Promise.resolve();
    };
    const a = fakeRun();
    await Promise.all(Array.from({ length: 5 }, () => reg.submit({ ...req(a, true), spend })));
    assert.equal(spent, 1, "the dry run computed once");
    await Promise.all(Array.from({ length: 5 }, () => reg.submit({ ...req(a), spend })));
    assert.equal(spent, 2, "the promotion counts once");
    await reg.submit({ ...req(a), spend });
    assert.equal(spent, 2, "a replay never counts");
    const refused = fakeRun({ variant: "r", epochId: "e-r" });
    const deny = () => Promise.reject(new RewarderError("UNAUTHORIZED", "caveat_max_runs"));
    await assert.rejects(reg.submit({ ...req(refused), spend: deny }), isCode("UNAUTHORIZED"));
    assert.equal(await reg.get("acme", refused.runKey), undefined, "nothing stored");
  });

  t("a stored v1 dry run promoted after the upgrade is replaced by its v2 run", async (store) => {
    const reg = await createRunRegistry({ store, nowMs: () => 1 });
    const v1 = fakeRun({ v1: true });
    await store.putRun({
      tenant: "acme",
      record: {
        run_key: v1.runKey,
        intent_key: null,
        epoch_id: v1.epochId,
        manifest_hash: v1.envelope.manifest_hash,
        status: "sealed",
        dry_run: true,
        totals: v1.envelope.manifest.totals,
      },
      envelope: v1.envelope,
      meta: { policyHash: v1.policyHash, inputsCid: v1.inputsCid, createdSeq: 0, createdAtMs: 0 },
    });
    const v2 = fakeRun();
    assert.equal(v2.runKey, v1.runKey);
    const dryAgain = await reg.submit(req(v2, true));
    assert.deepEqual([dryAgain.replayed, dryAgain.manifest_hash], [
      true,
      v1.envelope.manifest_hash,
    ]);
    const promoted = await reg.submit(req(v2));
    assert.deepEqual(
      [promoted.replayed, promoted.manifest_hash, promoted.intent_key],
      [false, v2.envelope.manifest_hash, v2.intentKey],
    );
    assert.deepEqual(await reg.committedEnvelope("acme", v2.epochId), v2.envelope);
    assert.equal((await store.getOutbox("acme", v2.runKey))?.intent.idempotencyKey, v2.intentKey);
  });
}

Deno.test("registry (file): replays are byte-identical across a restart", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rw-reg-"));
  try {
    const a = fakeRun();
    const d = fakeRun({ variant: "d", epochId: "e-dry" });
    let reg = await createRunRegistry({ store: await openFile(dir), nowMs: () => 1 });
    await reg.submit(req(a));
    await reg.submit(req(d, true));
    const before = JSON.stringify([
      await reg.submit(req(a)),
      await reg.get("acme", a.runKey),
      await reg.submit(req(d, true)),
    ]);
    reg = await createRunRegistry({ store: await openFile(dir), nowMs: () => 2 });
    const after = JSON.stringify([
      await reg.submit(req(a)),
      await reg.get("acme", a.runKey),
      await reg.submit(req(d, true)),
    ]);
    assert.equal(after, before);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

Deno.test("registry (file): two processes' stores racing on one epoch commit exactly one", async () => {
  const dir = await mkdtemp(join(tmpdir(), "rw-reg-"));
  try {
    const regs = await Promise.all(
      [0, 1, 2].map(async () =>
        await createRunRegistry({ store: await openFile(dir), nowMs: () => 1 })
      ),
    );
    const runs = Array.from({ length: 12 }, (_, i) => fakeRun({ variant: `x${i}` }));
    const out = await Promise.allSettled(runs.map((f, i) => regs[i % 3]!.submit(req(f))));
    assert.equal(out.filter((o) => o.status === "fulfilled").length, 1);
    // The same run key from every "process": one commit, the others replay.
    const b = fakeRun({ variant: "same", epochId: "e-same" });
    const same = await Promise.all(regs.flatMap((r) => [r.submit(req(b)), r.submit(req(b))]));
    assert.equal(same.filter((r) => !r.replayed).length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
});
