/**
 * The HTTP surface (contract §10) over TCP against the REAL server process (`main.ts`, embedded
 * default): every route's success path, conflicts, dry runs, quarantine, the cost cap, and
 * every bad-input row (tests/support/bad_inputs.ts) with the contract's status, code and
 * reason and nothing left behind; finally the captured logs hold none of the tokens or keys.
 *
 * One server for the whole file (MAX_EPOCH_COST_MS=1: the ≤ 1 kB sample epochs estimate at
 * 1 ms and pass, the generated 1k-recipient epoch does not).
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { headerHashOf } from "../src/core/manifest.ts";
import { rootFromProof } from "../src/core/merkle.ts";
import { intentKeyOf } from "../src/core/run_key.ts";
import type { ManifestHeader } from "../src/core/types.ts";
import { leakedSecrets } from "../src/shell/observe/log.ts";
import {
  computeBodySchema,
  envelopeSchema,
  keysSchema,
  proofV2Schema,
  quarantineSchema,
  runAnswerSchema,
  runRecordSchema,
  runsAnswerSchema,
} from "../src/api/schemas.ts";
import { assertError, computeRejectionRows, runRejectionRows } from "./support/bad_inputs.ts";
import { type ComputeRef, prepareFixtures, putSnapshot } from "./support/fixtures.ts";
import {
  allRuns,
  caller,
  freshDataDir,
  keyMaterial,
  runKeys,
  startService,
  tokenMinter,
  waitFor,
} from "./support/service.ts";

/** The value of one sample of a Prometheus text exposition, 0 when absent. */
function metricValue(text: string, sample: string): number {
  const line = text.split("\n").find((l) => l.startsWith(sample + " "));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

/** Runs a record's text through a normaliser: live emission state and the replay flag. */
function normalised(text: string): string {
  return text.replace(/"emission":"[a-z_]+"/, '"emission":"*"').replace(
    /"replayed":(true|false)/,
    '"replayed":*',
  );
}

Deno.test({
  name: "service over TCP: routes, conflicts, quarantine, cost cap, bad inputs, no leaks",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dataDir = await freshDataDir("http");
    const fx = await prepareFixtures(dataDir);
    const svc = await startService({
      dataDir,
      transport: "tcp",
      env: { MAX_EPOCH_COST_MS: "1" },
    });
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
    const emissionOf = async (runKey: string) =>
      (await call("GET", `/rewarder/runs/${runKey}`, { token })).body.run.emission as string;
    try {
      await t.step("public probes: healthz, readyz, metrics, version, keys", async () => {
        assert.deepEqual((await call("GET", "/healthz")).body, { ok: true });
        const ready = await call("GET", "/readyz");
        assert.deepEqual([ready.status, ready.body], [200, { ready: true }]);
        const metrics = await call("GET", "/metrics");
        assert.equal(metrics.status, 200);
        assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/);
        assert.match(metrics.text, /# (HELP|TYPE) reward_runs_total /);
        const version = await call("GET", "/version");
        assert.equal(version.status, 200);
        assert.equal(version.body.contract, "v2");
        assert.equal(version.body.service, "svc-rewarder");
        assert.equal(typeof version.body.version, "string");
        const keys = keysSchema.parse((await call("GET", "/rewarder/keys")).body);
        assert.ok(keys.keys.some((k) => k.alg === "ed25519" && k.status === "active"));
      });

      await t.step("openapi.json and schema/compute.json: every example validates", async () => {
        const doc = (await call("GET", "/openapi.json")).body;
        assert.match(doc.openapi, /^3\.1\./);
        const byRoute: Record<string, { body?: z.ZodType; answer?: z.ZodType }> = {
          "post /rewarder/epochs/{epoch_id}/compute": {
            body: computeBodySchema,
            answer: runRecordSchema,
          },
          "put /rewarder/quarantine": { body: quarantineSchema, answer: quarantineSchema },
          "get /rewarder/quarantine": { answer: quarantineSchema },
        };
        let checked = 0;
        const walk = (schema: unknown, zodSchema: z.ZodType | undefined, where: string) => {
          const s = schema as { examples?: unknown[] };
          if (Array.isArray(s.examples)) {
            assert.ok(zodSchema, `an example at ${where} with no zod schema to check it`);
            const published = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
            for (const example of s.examples) {
              assert.ok(zodSchema.safeParse(example).success, `${where}: zod rejects its example`);
              assert.ok(published.safeParse(example).success, `${where}: published schema rejects`);
              checked += 1;
            }
          }
          const nested = JSON.stringify({ ...s, examples: undefined });
          assert.ok(!nested.includes('"examples"'), `${where}: nested examples are unchecked`);
        };
        type Content = { content?: Record<string, { schema?: unknown }> };
        type Operation = { requestBody?: Content; responses?: Record<string, Content> };
        for (const [path, ops] of Object.entries(doc.paths as Record<string, unknown>)) {
          for (const [method, op] of Object.entries(ops as Record<string, Operation>)) {
            const route = byRoute[`${method} ${path}`] ?? {};
            const body = op.requestBody?.content?.["application/json"]?.schema;
            if (body) walk(body, route.body, `${method} ${path} body`);
            for (const [status, r] of Object.entries(op.responses ?? {})) {
              const sc = r.content?.["application/json"]?.schema;
              if (sc) walk(sc, status === "200" ? route.answer : undefined, `${path} ${status}`);
            }
          }
        }
        assert.ok(checked >= 2, `examples checked: ${checked}`);
        for (
          const p of [
            "/rewarder/epochs/{epoch_id}/compute",
            "/rewarder/epochs/{epoch_id}",
            "/rewarder/epochs/{epoch_id}/proofs/{account}",
            "/rewarder/runs/{run_key}",
            "/rewarder/runs",
            "/rewarder/policy/{policy_id}",
            "/rewarder/keys",
            "/rewarder/quarantine",
            "/healthz",
            "/readyz",
            "/metrics",
            "/version",
            "/schema/compute.json",
          ]
        ) assert.ok(doc.paths[p], `openapi documents ${p}`);

        const schema = (await call("GET", "/schema/compute.json")).body;
        assert.equal(schema.additionalProperties, false);
        assert.ok(Array.isArray(schema.examples) && schema.examples.length > 0);
        const published = z.fromJSONSchema(schema);
        for (const example of schema.examples) {
          assert.ok(computeBodySchema.safeParse(example).success);
          assert.ok(published.safeParse(example).success);
        }
        assert.ok(!published.safeParse({ ...schema.examples[0], extra: 1 }).success);
      });

      let first: z.infer<typeof runRecordSchema>;
      let firstText = "";
      await t.step("compute → 200 run record; replay → same record, replayed:true", async () => {
        const a = await compute("tcp-ok-1", fx.interop);
        assert.equal(a.status, 200, a.text);
        first = runRecordSchema.parse(a.body);
        firstText = a.text;
        assert.equal(first.intent_key, intentKeyOf({ tenant: "dev", runKey: first.run_key }));
        assert.equal(first.status, "sealed");
        assert.equal(first.dry_run, false);
        assert.equal(first.replayed, false);
        assert.ok(["pending", "accepted"].includes(first.emission));
        assert.deepEqual(first.totals, {
          pool_minor: "1000",
          fee_minor: "0",
          payout_minor: "999",
          residual_minor: "1",
          recipients: 2,
        });
        assert.equal(a.headers.get("cache-control"), "no-store");
        const replay = await compute("tcp-ok-1", fx.interop);
        assert.equal(replay.status, 200);
        assert.equal(replay.body.replayed, true);
        assert.equal(normalised(replay.text), normalised(firstText));
        const again = await compute("tcp-ok-1", fx.interop);
        assert.equal(
          again.text,
          replay.text.replace(
            /"emission":"[a-z_]+"/,
            `"emission":"${again.body.emission}"`,
          ),
        );
      });

      await t.step("GET epoch envelope, GET run, proofs fold to payouts_root", async () => {
        const epoch = await call("GET", "/rewarder/epochs/tcp-ok-1", { token });
        assert.equal(epoch.status, 200);
        const envelope = envelopeSchema.parse(epoch.body);
        assert.equal(envelope.manifest_hash, first.manifest_hash);
        assert.equal(envelope.manifest.status, "sealed");
        assert.equal(envelope.manifest.run_key, first.run_key);

        const run = await call("GET", `/rewarder/runs/${first.run_key}`, { token });
        assert.equal(run.status, 200);
        const parsed = runAnswerSchema.parse(run.body);
        assert.deepEqual(
          { ...parsed.run, emission: "*" },
          { ...first, emission: "*" },
        );
        assert.deepEqual(parsed.envelope, envelope);

        for (const [account, amount] of [["acct_a", "356"], ["acct_b", "643"]] as const) {
          const p = await call("GET", `/rewarder/epochs/tcp-ok-1/proofs/${account}`, { token });
          assert.equal(p.status, 200, p.text);
          const proof = proofV2Schema.parse(p.body);
          assert.equal(proof.amount_minor, amount);
          assert.equal(proof.index, account === "acct_a" ? 0 : 1);
          assert.equal(proof.manifest_hash, first.manifest_hash);
          // It verifies alone: the header hashes to manifest_hash and the path to its root.
          const header = proof.header as unknown as ManifestHeader;
          assert.equal(headerHashOf(header), first.manifest_hash);
          assert.equal(`b3:${rootFromProof(proof.leaf, proof.proof)}`, header.payouts_root);
          assert.equal(header.payouts_root, envelope.manifest.payouts_root);
          assert.ok(!("payouts" in header));
        }
        assertError(
          await call("GET", "/rewarder/epochs/tcp-ok-1/proofs/acct_zz", { token }),
          404,
          "NOT_FOUND",
          "no_payout",
        );
        assertError(
          await call("GET", `/rewarder/runs/b3:${"a".repeat(64)}`, { token }),
          404,
          "NOT_FOUND",
          "unknown_run",
        );
        assertError(
          await call("GET", "/rewarder/runs/B3:NOPE", { token }),
          400,
          "BAD_REQUEST",
          "schema",
        );
      });

      await t.step(
        "a known run key gets the same validation: wrong policy_id → 400 policy_mismatch",
        async () => {
          // v1 answered this body with the stored run (200, replayed); §5 step 2 comes first.
          const known = await compute("tcp-ok-1", { ...fx.interop, policy_id: "node-rewards" });
          assertError(known, 400, "BAD_REQUEST", "policy_mismatch", "policy_id");
          const fresh = await compute("tcp-pm-1", { ...fx.interop, policy_id: "node-rewards" });
          assertError(fresh, 400, "BAD_REQUEST", "policy_mismatch", "policy_id");
          const dry = await compute("tcp-ok-1", { ...fx.interop, policy_id: "node-rewards" }, {
            dry_run: true,
          });
          assertError(dry, 400, "BAD_REQUEST", "policy_mismatch", "policy_id");
        },
      );

      await t.step(
        "one snapshot settles one epoch: inputs_settled under another epoch; dry runs pass",
        async () => {
          const before = await runKeys(call, token);
          const again = await compute("tcp-typo-2", fx.interop);
          assertError(again, 409, "CONFLICT", "inputs_settled", "inputs_cid");
          assert.deepEqual(await runKeys(call, token), before, "nothing kept");
          assertError(
            await call("GET", "/rewarder/epochs/tcp-typo-2", { token }),
            404,
            "NOT_FOUND",
            "unknown_epoch",
          );
          const dry = await compute("tcp-typo-2", fx.interop, { dry_run: true });
          assert.deepEqual([dry.status, dry.body.emission, dry.body.intent_key], [
            200,
            "dry_run",
            null,
          ]);
          // Promoting that dry run is the same commit: refused the same way.
          assertError(await compute("tcp-typo-2", fx.interop), 409, "CONFLICT", "inputs_settled");
          const otherTenant = await minter.mint({ tenant: "beta" });
          const beta = await call("POST", "/rewarder/epochs/tcp-typo-2/compute", {
            token: otherTenant,
            json: { ...fx.interop },
          });
          assert.equal(beta.status, 200, beta.text);
          assert.equal(
            beta.body.intent_key,
            intentKeyOf({ tenant: "beta", runKey: beta.body.run_key }),
          );
        },
      );

      await t.step("immutable answers: ETag, Cache-Control, If-None-Match → 304", async () => {
        const etag = `"${first.manifest_hash}"`;
        const cacheControl = "private, max-age=31536000, immutable";
        for (
          const path of ["/rewarder/epochs/tcp-ok-1", "/rewarder/epochs/tcp-ok-1/proofs/acct_a"]
        ) {
          const full = await call("GET", path, {
            token,
            headers: { "accept-encoding": "gzip, deflate" },
          });
          assert.equal(full.status, 200, full.text);
          assert.equal(full.headers.get("etag"), etag);
          assert.equal(full.headers.get("cache-control"), cacheControl);
          assert.equal(full.headers.get("content-encoding"), null, "never content-coded");
          for (
            const inm of [etag, `W/${etag}`, `"x", ${etag}`, "*", `"a,b" , W/${etag}`]
          ) {
            const hit = await call("GET", path, { token, headers: { "if-none-match": inm } });
            assert.equal(hit.status, 304, `${path} ${inm}`);
            assert.equal(hit.text, "");
            assert.equal(hit.headers.get("etag"), etag);
            assert.equal(hit.headers.get("cache-control"), cacheControl);
          }
          for (
            const inm of [`"b3:${"0".repeat(64)}"`, first.manifest_hash, `"${first.manifest_hash}`]
          ) {
            const miss = await call("GET", path, { token, headers: { "if-none-match": inm } });
            assert.equal(miss.status, 200, `${path} ${inm}`);
          }
        }
        // After authorisation and the 404 checks: no 304 without a token or for a missing epoch.
        const anon = await call("GET", "/rewarder/epochs/tcp-ok-1", {
          headers: { "if-none-match": "*" },
        });
        assert.equal(anon.status, 401);
        assertError(
          await call("GET", "/rewarder/epochs/tcp-none", {
            token,
            headers: { "if-none-match": "*" },
          }),
          404,
          "NOT_FOUND",
          "unknown_epoch",
        );
        assertError(
          await call("GET", "/rewarder/epochs/tcp-ok-1/proofs/acct_zz", {
            token,
            headers: { "if-none-match": "*" },
          }),
          404,
          "NOT_FOUND",
          "no_payout",
        );
        const run = await call("GET", `/rewarder/runs/${first.run_key}`, {
          token,
          headers: { "if-none-match": "*" },
        });
        assert.deepEqual([run.status, run.headers.get("etag")], [200, null], "a run has no ETag");
      });

      await t.step("GET runs: filters and pagination", async () => {
        // Same snapshot, another epoch: a dry run (committing it would be inputs_settled, §5).
        const second = await compute("tcp-ok-2", fx.interop, { dry_run: true });
        assert.equal(second.status, 200, second.text);
        const third = await compute("tcp-ok-3", { ...fx.interop, inputs_cid: fx.altInputsCid });
        assert.equal(third.status, 200, third.text);
        const one = runsAnswerSchema.parse(
          (await call("GET", "/rewarder/runs?epoch_id=tcp-ok-1", { token })).body,
        );
        assert.deepEqual(one.runs.map((r) => r.run_key), [first.run_key]);
        assert.equal(one.next_cursor, null);
        const byInputs = runsAnswerSchema.parse(
          (await call("GET", `/rewarder/runs?inputs_cid=${fx.altInputsCid}`, { token })).body,
        );
        assert.deepEqual(byInputs.runs.map((r) => r.epoch_id), ["tcp-ok-3"]);
        const byPolicy = runsAnswerSchema.parse(
          (await call("GET", `/rewarder/runs?policy_hash=${fx.interop.policy_hash}`, { token }))
            .body,
        );
        assert.equal(byPolicy.runs.length, 4, "tcp-ok-1, the dry tcp-typo-2, tcp-ok-2, tcp-ok-3");
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 10; page++) {
          const q: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
          const a = await call("GET", `/rewarder/runs?status=sealed&limit=1${q}`, { token });
          const body = runsAnswerSchema.parse(a.body);
          assert.ok(body.runs.length <= 1);
          seen.push(...body.runs.map((r) => r.run_key));
          cursor = body.next_cursor;
          if (cursor === null) break;
        }
        assert.equal(new Set(seen).size, seen.length, "pages do not repeat");
        assert.deepEqual(new Set(seen), new Set((await allRuns(call, token)).keys()));
        assertError(
          await call("GET", "/rewarder/runs?cursor=%21%21", { token }),
          400,
          "BAD_REQUEST",
          "cursor",
        );
        assertError(
          await call("GET", "/rewarder/runs?status=maybe", { token }),
          400,
          "BAD_REQUEST",
          "schema",
        );
        assertError(
          await call("GET", "/rewarder/runs?unknown=1", { token }),
          400,
          "BAD_REQUEST",
          "schema",
        );
      });

      await t.step("GET policy: newest version, ?hash= picks one, unknown → 404", async () => {
        const newest = await call("GET", `/rewarder/policy/${fx.interop.policy_id}`, { token });
        assert.equal(newest.status, 200);
        assert.equal(newest.body.policy.version, 2);
        assert.equal(newest.body.policy_hash, fx.policyV2Hash);
        const v1 = await call(
          "GET",
          `/rewarder/policy/${fx.interop.policy_id}?hash=${fx.interop.policy_hash}`,
          { token },
        );
        assert.equal(v1.status, 200);
        assert.equal(v1.body.policy.version, 1);
        assert.equal(v1.body.policy_hash, fx.interop.policy_hash);
        assert.ok(Array.isArray(v1.body.signatures) && v1.body.signatures.length >= 1);
        assertError(
          await call("GET", "/rewarder/policy/no-such-policy", { token }),
          404,
          "NOT_FOUND",
          "unknown_policy",
        );
        assertError(
          await call("GET", `/rewarder/policy/${fx.badSig.policy_id}`, { token }),
          404,
          "NOT_FOUND",
          "unknown_policy",
        );
        assertError(
          await call("GET", `/rewarder/policy/${fx.interop.policy_id}?hash=B3:X`, { token }),
          400,
          "BAD_REQUEST",
          "schema",
        );
      });

      await t.step(
        "conflict: another policy version or other inputs → 409, nothing kept",
        async () => {
          const own = { ...fx.interop, inputs_cid: await putSnapshot(dataDir, 101) };
          assert.equal((await compute("tcp-c-1", own)).status, 200);
          const before = await runKeys(call, token);
          assertError(
            await compute("tcp-c-1", { ...own, policy_hash: fx.policyV2Hash }),
            409,
            "CONFLICT",
            "epoch_committed",
          );
          assertError(
            await compute("tcp-c-1", { ...own, inputs_cid: fx.altInputsCid }),
            409,
            "CONFLICT",
            "epoch_committed",
          );
          assert.deepEqual(await runKeys(call, token), before);
          const epoch = await call("GET", "/rewarder/epochs/tcp-c-1", { token });
          assert.equal(epoch.body.manifest.policy_hash, fx.interop.policy_hash);
        },
      );

      await t.step(
        "dry run → dry_run, commits nothing; same request non-dry emits once",
        async () => {
          // Let earlier intents settle so the accepted counter moves only for this run.
          assert.ok(
            await waitFor(async () =>
              [...(await allRuns(call, token)).values()].every((e) => e !== "pending")
            ),
          );
          const accepted = async () =>
            metricValue(
              (await call("GET", "/metrics")).text,
              'ledger_intents_total{result="accepted"}',
            );
          const base = await accepted();
          const own = { ...fx.interop, inputs_cid: await putSnapshot(dataDir, 102) };
          const dry = await compute("tcp-d-1", own, { dry_run: true });
          assert.equal(dry.status, 200, dry.text);
          assert.equal(dry.body.emission, "dry_run");
          assert.equal(dry.body.dry_run, true);
          assertError(
            await call("GET", "/rewarder/epochs/tcp-d-1", { token }),
            404,
            "NOT_FOUND",
            "unknown_epoch",
          );
          const wet = await compute("tcp-d-1", own);
          assert.equal(wet.status, 200, wet.text);
          assert.equal(wet.body.run_key, dry.body.run_key);
          assert.equal(wet.body.dry_run, false);
          assert.ok(["pending", "accepted"].includes(wet.body.emission));
          assert.ok(await waitFor(async () => (await emissionOf(wet.body.run_key)) === "accepted"));
          const replay = await compute("tcp-d-1", own);
          assert.equal(replay.body.replayed, true);
          await new Promise((r) => setTimeout(r, 1_200)); // > 2 dispatcher intervals
          assert.equal(await emissionOf(wet.body.run_key), "accepted");
          assert.equal(await accepted(), base + 1, "exactly one intent delivered");
          assert.equal((await call("GET", "/rewarder/epochs/tcp-d-1", { token })).status, 200);
        },
      );

      await t.step(
        "quarantine-only: emission suppressed while on, delivered after off",
        async () => {
          assert.deepEqual(
            (await call("GET", "/rewarder/quarantine", { token })).body,
            { quarantine_only: false },
          );
          const on = await call("PUT", "/rewarder/quarantine", {
            token,
            json: { quarantine_only: true },
          });
          assert.deepEqual([on.status, on.body], [200, { quarantine_only: true }]);
          assertError(
            await call("PUT", "/rewarder/quarantine", { token, json: { quarantine_only: "yes" } }),
            400,
            "BAD_REQUEST",
            "schema",
          );
          const run = await compute("tcp-q-1", {
            ...fx.interop,
            inputs_cid: await putSnapshot(dataDir, 103),
          });
          assert.equal(run.status, 200, run.text);
          assert.equal(run.body.emission, "suppressed");
          await new Promise((r) => setTimeout(r, 1_200)); // > 2 dispatcher intervals
          assert.equal(await emissionOf(run.body.run_key), "suppressed");
          const off = await call("PUT", "/rewarder/quarantine", {
            token,
            json: { quarantine_only: false },
          });
          assert.deepEqual(off.body, { quarantine_only: false });
          assert.ok(await waitFor(async () => (await emissionOf(run.body.run_key)) === "accepted"));
        },
      );

      await t.step(
        "overflow vector → 409 QUARANTINED with error.run; never committed",
        async () => {
          const before = await runKeys(call, token);
          const a = await compute(fx.overflow.epochId, fx.overflow);
          assertError(a, 409, "QUARANTINED", "overflow");
          const run = runRecordSchema.parse(a.body.error.run);
          assert.equal(run.status, "quarantined");
          assert.equal(run.emission, "suppressed");
          assert.equal(run.totals.payout_minor, "0");
          assertError(
            await call("GET", `/rewarder/epochs/${fx.overflow.epochId}`, { token }),
            404,
            "NOT_FOUND",
            "unknown_epoch",
          );
          // Kept for forensics (listed as quarantined), never emitted, replay answers the same.
          const listed = runsAnswerSchema.parse(
            (await call("GET", "/rewarder/runs?status=quarantined", { token })).body,
          );
          assert.deepEqual(listed.runs.map((r) => r.run_key), [run.run_key]);
          const after = await runKeys(call, token);
          assert.deepEqual(after.filter((k) => !before.includes(k)), [run.run_key]);
          assertError(
            await compute(fx.overflow.epochId, fx.overflow),
            409,
            "QUARANTINED",
            "overflow",
          );
          const metrics = (await call("GET", "/metrics")).text;
          assert.ok(metricValue(metrics, 'reward_runs_total{status="quarantined"}') >= 1);
        },
      );

      await t.step("cost cap: over MAX_EPOCH_COST_MS → 400 cost_cap, nothing kept", async () => {
        const before = await runKeys(call, token);
        assertError(
          await compute(fx.generated.epochId, fx.generated),
          400,
          "BAD_REQUEST",
          "cost_cap",
        );
        assert.deepEqual(await runKeys(call, token), before);
        assertError(
          await call("GET", `/rewarder/epochs/${fx.generated.epochId}`, { token }),
          404,
          "NOT_FOUND",
          "unknown_epoch",
        );
      });

      await t.step("bad input rows", async (t2) => {
        await runRejectionRows(t2, call, token, computeRejectionRows(fx, "tcp"));
      });

      await t.step("each rejection is counted once in rejected_total{reason}", async () => {
        const count = async (reason: string) =>
          metricValue((await call("GET", "/metrics")).text, `rejected_total{reason="${reason}"}`);
        const rows: [string, () => Promise<unknown>][] = [
          ["oversize", () =>
            call("POST", "/rewarder/epochs/tcp-m-1/compute", {
              token,
              headers: { "content-type": "application/json" },
              body: new Uint8Array(1_048_577),
            })],
          ["media_type", () =>
            call("POST", "/rewarder/epochs/tcp-m-1/compute", {
              token,
              headers: { "content-type": "text/plain" },
              body: "{}",
            })],
          ["schema", () => compute("tcp-m-1", { ...fx.interop, policy_id: "!" })],
          ["unauth", () => call("GET", "/rewarder/runs")],
          [
            "epoch_committed",
            () => compute("tcp-c-1", { ...fx.interop, inputs_cid: fx.altInputsCid }),
          ],
          ["inputs_settled", () => compute("tcp-m-2", fx.interop)],
          ["policy_mismatch", () => compute("tcp-ok-1", { ...fx.interop, policy_id: "other" })],
          ["json", () =>
            call("POST", "/rewarder/epochs/tcp-m-1/compute", {
              token,
              headers: { "content-type": "application/json" },
              body: '{"a":1,"a":2}',
            })],
        ];
        for (const [reason, send] of rows) {
          const before = await count(reason);
          await send();
          assert.equal(await count(reason), before + 1, reason);
        }
      });

      await t.step("unknown route → 404 no_route; healthz still fine", async () => {
        assertError(await call("GET", "/rewarder/nope", { token }), 404, "NOT_FOUND", "no_route");
        assert.equal((await call("GET", "/healthz")).status, 200);
      });
    } finally {
      const code = await svc.stop();
      await t.step("clean exit and no token or key material in the logs", async () => {
        assert.equal(code, 0, svc.output());
        const secrets = [...minter.used(), ...(await keyMaterial(dataDir))];
        assert.deepEqual(leakedSecrets(svc.output(), secrets), []);
        assert.match(svc.output(), /listening tcp 127\.0\.0\.1:\d+/);
      });
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
