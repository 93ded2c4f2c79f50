// Model-based test of the registry: submit / replay / concurrent duplicate /
// conflicting epoch / dry-run promotion / restart (reopen of the file store), against a model.
import assert from "node:assert/strict";
import fc from "fast-check";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { RewarderError } from "../../core/errors.ts";
import type { RunRecord } from "../../core/types.ts";
import { type FakeRun, fakeRun } from "../../../tests/support/ledger_fixtures.ts";
import { openFileRunStore } from "../store/file_run_store.ts";
import { createMemoryRunStore } from "../store/memory_run_store.ts";
import { createAtRestCipher } from "../store/at_rest_cipher.ts";
import type { RunStore } from "../store/run_store.ts";
import { createRunRegistry, type RunRegistry, type SubmitRequest } from "./run_registry.ts";

const EPOCHS = ["e1", "e2"] as const;
const VARIANTS = ["a", "b", "c"] as const;
const cipher = createAtRestCipher(new Uint8Array(32).fill(4));

interface Model {
  runs: Map<string, "dry" | "committed">;
  commits: Map<string, string>; // epoch → run key
  inputs: Map<string, string>; // inputs CID → epoch (contract §5: one snapshot, one epoch)
}
interface Real {
  dir: string;
  store: RunStore;
  reg: RunRegistry;
}

const runOf = (epoch: string, variant: string) => fakeRun({ epochId: epoch, variant });
function req(f: FakeRun, dryRun: boolean): SubmitRequest {
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
type Outcome = { ok: RunRecord } | { err: string };
const attempt = (p: Promise<RunRecord>): Promise<Outcome> =>
  p.then((ok) => ({ ok }), (e: unknown) => {
    if (e instanceof RewarderError) return { err: e.code };
    throw e;
  });

const inputsSettledElsewhere = (m: Model, f: FakeRun) =>
  m.inputs.has(f.inputsCid) && m.inputs.get(f.inputsCid) !== f.epochId;

/** What the model says one submit does; mutates the model. */
function modelSubmit(
  m: Model,
  f: FakeRun,
  dry: boolean,
): { replayed?: boolean; dryRun?: boolean; err?: string } {
  const known = m.runs.get(f.runKey);
  const holder = m.commits.get(f.epochId);
  const wantsCommit = !dry && known !== "committed";
  if (known !== undefined && !wantsCommit) return { replayed: true, dryRun: known === "dry" };
  if (!wantsCommit) {
    m.runs.set(f.runKey, "dry");
    return { replayed: false, dryRun: true };
  }
  if (holder !== undefined) return { err: "CONFLICT" };
  if (inputsSettledElsewhere(m, f)) return { err: "CONFLICT" };
  m.runs.set(f.runKey, "committed");
  m.commits.set(f.epochId, f.runKey);
  m.inputs.set(f.inputsCid, f.epochId);
  return { replayed: false, dryRun: false };
}

async function checkInvariants(m: Model, r: Real): Promise<void> {
  assert.equal(
    (await r.store.outboxStats()).depth,
    m.commits.size,
    "one intent per committed epoch",
  );
  for (const e of EPOCHS) assert.equal(await r.store.getCommitment("acme", e), m.commits.get(e));
}

class Submit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly epoch: string, readonly variant: string, readonly dry: boolean) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const f = runOf(this.epoch, this.variant);
    const want = modelSubmit(m, f, this.dry);
    const got = await attempt(r.reg.submit(req(f, this.dry)));
    if (want.err !== undefined) assert.deepEqual(got, { err: want.err });
    else {
      assert.ok("ok" in got, JSON.stringify(got));
      assert.equal(got.ok.replayed, want.replayed);
      assert.equal(got.ok.dry_run, want.dryRun);
    }
    await checkInvariants(m, r);
  }
  toString = () => `submit(${this.epoch},${this.variant},${this.dry ? "dry" : "real"})`;
}

class ConcurrentDuplicate implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly epoch: string,
    readonly variant: string,
    readonly dry: boolean,
    readonly n: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const f = runOf(this.epoch, this.variant);
    const want = modelSubmit(m, f, this.dry);
    const got = await Promise.all(
      Array.from({ length: this.n }, () => attempt(r.reg.submit(req(f, this.dry)))),
    );
    if (want.err !== undefined) assert.ok(got.every((g) => "err" in g && g.err === want.err));
    else {
      const fresh = got.filter((g) => "ok" in g && !g.ok.replayed).length;
      assert.equal(fresh, want.replayed ? 0 : 1);
      assert.ok(got.every((g) => "ok" in g));
    }
    await checkInvariants(m, r);
  }
  toString = () => `dup×${this.n}(${this.epoch},${this.variant},${this.dry ? "dry" : "real"})`;
}

class ConflictingEpoch implements fc.AsyncCommand<Model, Real> {
  constructor(readonly epoch: string) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const fs = VARIANTS.map((v) => runOf(this.epoch, v));
    const got = await Promise.all(fs.map((f) => attempt(r.reg.submit(req(f, false)))));
    const holderBefore = m.commits.get(this.epoch);
    const winners = fs.filter((_, i) =>
      "ok" in got[i]! && !(got[i] as { ok: RunRecord }).ok.replayed
    );
    const free = fs.filter((f) => !inputsSettledElsewhere(m, f));
    if (holderBefore === undefined && free.length > 0) {
      assert.equal(winners.length, 1, "exactly one commits");
      modelSubmit(m, winners[0]!, false);
    } else assert.equal(winners.length, 0);
    for (let i = 0; i < fs.length; i++) {
      const g = got[i]!;
      if (fs[i]!.runKey === m.commits.get(this.epoch)) assert.ok("ok" in g);
      else assert.deepEqual(g, { err: "CONFLICT" });
    }
    await checkInvariants(m, r);
  }
  toString = () => `conflict(${this.epoch})`;
}

class Restart implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real) {
    const probe = [...m.runs.keys()][0];
    const before = probe === undefined ? undefined : JSON.stringify(await r.reg.get("acme", probe));
    await r.store.close();
    r.store = await openFileRunStore({ dataDir: r.dir, cipher, nowMs: () => 0 });
    r.reg = await createRunRegistry({ store: r.store, nowMs: () => 0 });
    if (probe !== undefined) assert.equal(JSON.stringify(await r.reg.get("acme", probe)), before);
    await checkInvariants(m, r);
  }
  toString = () => "restart";
}

const commands = [
  fc.tuple(fc.constantFrom(...EPOCHS), fc.constantFrom(...VARIANTS), fc.boolean())
    .map(([e, v, d]) => new Submit(e, v, d)),
  fc.tuple(
    fc.constantFrom(...EPOCHS),
    fc.constantFrom(...VARIANTS),
    fc.boolean(),
    fc.integer({ min: 2, max: 8 }),
  )
    .map(([e, v, d, n]) => new ConcurrentDuplicate(e, v, d, n)),
  fc.constantFrom(...EPOCHS).map((e) => new ConflictingEpoch(e)),
  fc.constant(new Restart()),
];

Deno.test("registry model-based: file store with restarts agrees with the model", async () => {
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 25 }), async (cmds) => {
      const dir = await mkdtemp(join(tmpdir(), "rw-model-"));
      try {
        const store = await openFileRunStore({ dataDir: dir, cipher, nowMs: () => 0 });
        const real: Real = { dir, store, reg: await createRunRegistry({ store, nowMs: () => 0 }) };
        await fc.asyncModelRun(
          () => ({ model: { runs: new Map(), commits: new Map(), inputs: new Map() }, real }),
          cmds,
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 40 },
  );
});

Deno.test("registry under fc.scheduler: any interleaving of store calls commits once per epoch", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.scheduler(),
      fc.array(fc.tuple(fc.constantFrom(...VARIANTS), fc.boolean()), {
        minLength: 2,
        maxLength: 8,
      }),
      async (s, subs) => {
        const inner = createMemoryRunStore();
        // Every store call resolves when the scheduler says so: the registry's awaits interleave.
        const store = new Proxy(inner, {
          get(target, prop, recv) {
            const v = Reflect.get(target, prop, recv);
            if (typeof v !== "function") return v;
            return (...args: unknown[]) =>
              s.schedule(Promise.resolve(), String(prop)).then(() => v.apply(target, args));
          },
        });
        const reg = await (async () => {
          const p = createRunRegistry({ store, nowMs: () => 0 });
          await s.waitAll();
          return await p;
        })();
        const outcomes = subs.map(([v, dry]) => attempt(reg.submit(req(runOf("e1", v), dry))));
        await s.waitFor(Promise.all(outcomes));
        const got = await Promise.all(outcomes);
        const committed = await inner.getCommitment("acme", "e1");
        const nonDry = subs.filter(([, dry]) => !dry);
        assert.equal(committed !== undefined, nonDry.length > 0);
        assert.equal((await inner.outboxStats()).depth, committed === undefined ? 0 : 1);
        subs.forEach(([v, dry], i) => {
          const g = got[i]!;
          if (!dry && runOf("e1", v).runKey !== committed) assert.deepEqual(g, { err: "CONFLICT" });
          else assert.ok("ok" in g);
        });
        const fresh = got.filter((g) => "ok" in g && !g.ok.replayed && !g.ok.dry_run).length;
        assert.equal(fresh, committed === undefined ? 0 : 1, "one fresh commit");
      },
    ),
    { numRuns: 100 },
  );
});
