/**
 * Service modes over the real process: READ_ONLY (edge) serves only the GET routes on the
 * same data; a large epoch computes off the request loop, so `/healthz` keeps answering.
 */
import assert from "node:assert/strict";
import { casPut } from "../src/shell/sources/cas.ts";
import { generateEpochInputs } from "../vectors/generate_epoch.ts";
import { prepareFixtures } from "./support/fixtures.ts";
import { caller, freshDataDir, startService, tokenMinter } from "./support/service.ts";

Deno.test("READ_ONLY serves the GET routes on the same data and has no write route", async () => {
  const dataDir = await freshDataDir("readonly");
  const fx = await prepareFixtures(dataDir);
  const minter = tokenMinter(dataDir);
  const token = await minter.mint();
  const writer = await startService({ dataDir, transport: "tcp" });
  try {
    const call = caller(writer);
    const computed = await call("POST", "/rewarder/epochs/ro-1/compute", {
      token,
      json: fx.interop,
    });
    assert.equal(computed.status, 200, computed.text);
  } finally {
    assert.equal(await writer.stop(), 0);
  }
  const edge = await startService({ dataDir, transport: "tcp", env: { READ_ONLY: "1" } });
  try {
    const call = caller(edge);
    const envelope = await call("GET", "/rewarder/epochs/ro-1", { token });
    assert.equal(envelope.status, 200);
    assert.equal(envelope.body.manifest.epoch_id, "ro-1");
    const compute = await call("POST", "/rewarder/epochs/ro-2/compute", {
      token,
      json: fx.interop,
    });
    assert.equal(compute.status, 404);
    assert.equal(compute.body.error.reason, "no_route");
    const put = await call("PUT", "/rewarder/quarantine", {
      token,
      json: { quarantine_only: true },
    });
    assert.equal(put.status, 404);
    const openapi = await call("GET", "/openapi.json");
    const paths = Object.keys(openapi.body.paths);
    assert.ok(!paths.some((p) => p.endsWith("/compute")), "no compute route documented");
    assert.ok(!("put" in openapi.body.paths["/rewarder/quarantine"]), "no PUT documented");
    assert.equal((await call("GET", "/rewarder/epochs/ro-2", { token })).status, 404);
  } finally {
    assert.equal(await edge.stop(), 0);
  }
});

Deno.test("a large epoch computes off the request loop: /healthz keeps answering", async () => {
  const dataDir = await freshDataDir("offloop");
  const fx = await prepareFixtures(dataDir);
  const epochId = "gen-100k";
  const inputsCid = await casPut(
    dataDir,
    new TextEncoder().encode(generateEpochInputs(epochId, 100_000)),
  );
  const token = await tokenMinter(dataDir).mint();
  const service = await startService({
    dataDir,
    transport: "tcp",
    env: { MAX_EPOCH_COST_MS: "60000", REQUEST_TIMEOUT_MS: "120000" },
  });
  try {
    const call = caller(service);
    let done = false;
    const started = performance.now();
    const compute = call("POST", `/rewarder/epochs/${epochId}/compute`, {
      token,
      json: {
        inputs_cid: inputsCid,
        policy_id: fx.generated.policy_id,
        policy_hash: fx.generated.policy_hash,
      },
    }).then((a) => ({ ok: true as const, a }), (e) => ({ ok: false as const, e })).finally(
      () => (done = true),
    );
    const probes: number[] = [];
    while (!done && probes.length < 10_000) {
      const t = performance.now();
      const res = await service.fetch("/healthz");
      await res.body?.cancel();
      assert.equal(res.status, 200);
      probes.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
    const outcome = await compute;
    const computeMs = performance.now() - started;
    if (!outcome.ok) throw outcome.e;
    const answer = outcome.a;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.totals.recipients > 0, true);
    // Relative, not absolute: with the engine on the request loop a probe would wait for the
    // whole compute; off the loop every probe is a small fraction of it.
    assert.ok(probes.length >= 3, `probes answered during the compute: ${probes.length}`);
    const worst = Math.max(...probes);
    assert.ok(
      worst < computeMs / 2,
      `worst /healthz ${worst.toFixed(0)} ms vs compute ${computeMs.toFixed(0)} ms`,
    );
  } finally {
    await service.stop();
  }
});
