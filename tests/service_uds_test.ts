/**
 * Issues 3 and 4 over a Unix socket against the REAL server process: socket hygiene (dir
 * 0700, socket 0600, removed on SIGTERM), the success paths, the `ip` caveat never holding
 * over a socket, the cost cap forcing a dry run (COST_CAP_ACTION=dry_run) that the same
 * request cannot promote, the same bad-input table as over TCP, and no secrets in the logs.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { rootFromProof } from "../src/core/merkle.ts";
import { leakedSecrets } from "../src/shell/observe/log.ts";
import { proofV2Schema, runRecordSchema } from "../src/api/schemas.ts";
import { assertError, computeRejectionRows, runRejectionRows } from "./support/bad_inputs.ts";
import { type ComputeRef, prepareFixtures, putSnapshot } from "./support/fixtures.ts";
import {
  caller,
  freshDataDir,
  keyMaterial,
  runKeys,
  startService,
  tokenMinter,
} from "./support/service.ts";

function modeOf(path: string): number {
  return (Deno.lstatSync(path).mode ?? 0) & 0o777;
}

Deno.test({
  name: "service over a Unix socket: success paths, ip caveat, forced dry run, bad inputs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dataDir = await freshDataDir("uds");
    const fx = await prepareFixtures(dataDir);
    const svc = await startService({
      dataDir,
      transport: "unix",
      env: { MAX_EPOCH_COST_MS: "1", COST_CAP_ACTION: "dry_run" },
    });
    const socket = svc.socketPath!;
    const call = caller(svc);
    const minter = tokenMinter(dataDir);
    const token = await minter.mint();
    const compute = (epoch: string, ref: ComputeRef, extra: Record<string, unknown> = {}) =>
      call("POST", `/rewarder/epochs/${epoch}/compute`, {
        token,
        json: {
          inputs_cid: ref.inputs_cid,
          policy_id: ref.policy_id,
          policy_hash: ref.policy_hash,
          ...extra,
        },
      });
    try {
      await t.step("socket dir 0700, socket 0600; probes answer", async () => {
        assert.equal(modeOf(dirname(socket)), 0o700);
        assert.equal(modeOf(socket), 0o600);
        assert.ok(Deno.lstatSync(socket).isSocket);
        assert.match(svc.output(), new RegExp(`listening unix ${socket}\\n`));
        assert.deepEqual((await call("GET", "/healthz")).body, { ok: true });
        assert.deepEqual((await call("GET", "/readyz")).body, { ready: true });
        assert.match((await call("GET", "/metrics")).text, /reward_runs_total/);
        assert.equal((await call("GET", "/version")).body.service, "svc-rewarder");
        assert.match((await call("GET", "/openapi.json")).body.openapi, /^3\.1\./);
        assert.equal((await call("GET", "/schema/compute.json")).body.additionalProperties, false);
        assert.ok((await call("GET", "/rewarder/keys")).body.keys.length >= 1);
      });

      await t.step("compute, replay, epoch, run, runs, proof, policy, quarantine", async () => {
        const a = await compute("uds-ok-1", fx.interop);
        assert.equal(a.status, 200, a.text);
        const record = runRecordSchema.parse(a.body);
        assert.equal(record.status, "sealed");
        const replay = await compute("uds-ok-1", fx.interop);
        assert.deepEqual({ ...replay.body, emission: "*" }, {
          ...record,
          replayed: true,
          emission: "*",
        });
        const epoch = await call("GET", "/rewarder/epochs/uds-ok-1", { token });
        assert.equal(epoch.body.manifest_hash, record.manifest_hash);
        const run = await call("GET", `/rewarder/runs/${record.run_key}`, { token });
        assert.equal(run.body.envelope.manifest_hash, record.manifest_hash);
        const runs = await call("GET", "/rewarder/runs?epoch_id=uds-ok-1", { token });
        assert.deepEqual(runs.body.runs.map((r: { run_key: string }) => r.run_key), [
          record.run_key,
        ]);
        const proof = proofV2Schema.parse(
          (await call("GET", "/rewarder/epochs/uds-ok-1/proofs/acct_b", { token })).body,
        );
        assert.equal(`b3:${rootFromProof(proof.leaf, proof.proof)}`, proof.header.payouts_root);
        const policy = await call("GET", `/rewarder/policy/${fx.interop.policy_id}`, { token });
        assert.equal(policy.body.policy_hash, fx.policyV2Hash);
        const q = await call("GET", "/rewarder/quarantine", { token });
        assert.deepEqual(q.body, { quarantine_only: false });
      });

      await t.step(
        "max_runs: a promotion counts as a compute, a replay never does (§5, §9)",
        async () => {
          const limited = await minter.mint({
            caveats: [`scope = rewarder.run,rewarder.inspect`, "tenant = dev", "max_runs = 2"],
          });
          const send = (epoch: string, ref: ComputeRef, extra: Record<string, unknown> = {}) =>
            call("POST", `/rewarder/epochs/${epoch}/compute`, {
              token: limited,
              json: { ...ref, ...extra },
            });
          const a = { ...fx.interop, inputs_cid: await putSnapshot(dataDir, 201) };
          const b = { ...fx.interop, inputs_cid: await putSnapshot(dataDir, 202) };
          assert.equal((await send("uds-mr-1", a, { dry_run: true })).status, 200); // 1
          assert.equal((await send("uds-mr-1", a, { dry_run: true })).body.replayed, true);
          // Two identical promotions at once spend the caveat once.
          const promoted = await Promise.all([send("uds-mr-1", a), send("uds-mr-1", a)]); // 2
          assert.deepEqual(promoted.map((p) => p.status), [200, 200]);
          assert.equal(promoted.filter((p) => p.body.replayed === false).length, 1);
          assert.equal((await send("uds-mr-1", a)).body.replayed, true);
          assertError(await send("uds-mr-2", b), 403, "UNAUTHORIZED", "caveat_max_runs");
          assertError(
            await send("uds-mr-2", b, { dry_run: true }),
            403,
            "UNAUTHORIZED",
            "caveat_max_runs",
          );
        },
      );

      await t.step("ip caveat never holds over a Unix socket", async () => {
        for (const ranges of ["127.0.0.1/32", "0.0.0.0/0,::/0"]) {
          const scoped = await minter.mint({
            caveats: ["scope = rewarder.inspect", "tenant = dev", `ip = ${ranges}`],
          });
          assertError(
            await call("GET", "/rewarder/epochs/uds-ok-1", { token: scoped }),
            403,
            "UNAUTHORIZED",
            "caveat_ip",
          );
        }
        assertError(await call("GET", "/rewarder/runs"), 401, "UNAUTHENTICATED", "token_missing");
      });

      await t.step(
        "cost cap with COST_CAP_ACTION=dry_run: forced dry run, never promoted",
        async () => {
          const a = await compute(fx.generated.epochId, fx.generated);
          assert.equal(a.status, 200, a.text);
          assert.equal(a.body.dry_run, true);
          assert.equal(a.body.emission, "dry_run");
          assert.equal(a.body.status, "sealed");
          const again = await compute(fx.generated.epochId, fx.generated);
          assert.equal(again.status, 200, again.text);
          assert.equal(again.body.emission, "dry_run", "the same request must not promote it");
          assertError(
            await call("GET", `/rewarder/epochs/${fx.generated.epochId}`, { token }),
            404,
            "NOT_FOUND",
            "unknown_epoch",
          );
        },
      );

      await t.step("overflow vector → 409 QUARANTINED over the socket", async () => {
        const before = await runKeys(call, token);
        const a = await compute(fx.overflow.epochId, fx.overflow);
        assertError(a, 409, "QUARANTINED", "overflow");
        assert.equal(a.body.error.run.status, "quarantined");
        assert.equal((await runKeys(call, token)).length, before.length + 1);
      });

      await t.step("bad input rows (same table as TCP)", async (t2) => {
        await runRejectionRows(t2, call, token, computeRejectionRows(fx, "uds"));
      });
    } finally {
      const code = await svc.stop();
      await t.step("clean exit, socket removed, no token or key material in logs", async () => {
        assert.equal(code, 0, svc.output());
        assert.throws(() => Deno.lstatSync(socket), Deno.errors.NotFound);
        const secrets = [...minter.used(), ...(await keyMaterial(dataDir))];
        assert.deepEqual(leakedSecrets(svc.output(), secrets), []);
      });
      await Deno.remove(dataDir, { recursive: true });
      await Deno.remove(dirname(socket), { recursive: true });
    }
  },
});
