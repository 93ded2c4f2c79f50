/**
 * Two tenants settling the same epoch, policy and inputs (contract §5, §7), against the REAL
 * service and the REAL dev ledger process: both computes answer 200 with their own intent key
 * and both intents are applied at the ledger, each under its key; either tenant replaying
 * adds no effect. In v1 both shared the run key as Idempotency-Key and the second conflicted.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { intentKeyOf } from "../src/core/run_key.ts";
import { startDevLedger, TEST_LEDGER_TOKEN } from "./support/dev_ledger_process.ts";
import { writeSecretFile } from "../src/shell/keys/key_files.ts";
import { loadSigner } from "../src/shell/keys/signer.ts";
import { prepareFixtures } from "./support/fixtures.ts";
import { caller, freshDataDir, startService, tokenMinter, waitFor } from "./support/service.ts";

Deno.test({
  name: "two tenants, one run key: both applied at the ledger under their own intent keys",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await freshDataDir("tenants");
    const fx = await prepareFixtures(dataDir);
    const signer = await loadSigner(join(dataDir, "keys", "signing"), { requirePq: false });
    const published = signer.published().filter((k) => k.alg === "ed25519");
    const ledger = await startDevLedger({
      keysDocument: {
        keys: published.map((k) => ({ kid: k.kid, alg: "ed25519", public_key: k.public_key })),
      },
    });
    const tokenPath = join(dataDir, "ledger.token");
    await writeSecretFile(tokenPath, new TextEncoder().encode(TEST_LEDGER_TOKEN));
    const svc = await startService({
      dataDir,
      transport: "tcp",
      env: { LEDGER_URL: ledger.url, LEDGER_TOKEN_PATH: tokenPath },
    });
    const call = caller(svc);
    const minter = tokenMinter(dataDir);
    try {
      const tokens = {
        acme: await minter.mint({ tenant: "acme" }),
        beta: await minter.mint({ tenant: "beta" }),
      };
      const compute = (tenant: "acme" | "beta") =>
        call("POST", "/rewarder/epochs/shared-1/compute", {
          token: tokens[tenant],
          json: { ...fx.interop },
        });
      const a = await compute("acme");
      const b = await compute("beta");
      assert.deepEqual([a.status, b.status], [200, 200], a.text + b.text);
      assert.equal(a.body.run_key, b.body.run_key, "one economic result, one run key");
      assert.equal(a.body.intent_key, intentKeyOf({ tenant: "acme", runKey: a.body.run_key }));
      assert.equal(b.body.intent_key, intentKeyOf({ tenant: "beta", runKey: b.body.run_key }));
      assert.notEqual(a.body.intent_key, b.body.intent_key);

      const emission = async (tenant: "acme" | "beta") =>
        (await call("GET", `/rewarder/runs/${a.body.run_key}`, { token: tokens[tenant] })).body
          .run.emission;
      assert.ok(
        await waitFor(async () =>
          (await emission("acme")) === "accepted" && (await emission("beta")) === "accepted"
        ),
        "both intents acknowledged",
      );
      const applied = await ledger.stats();
      assert.deepEqual(
        Object.keys(applied.applied).sort(),
        [a.body.intent_key, b.body.intent_key].sort(),
        "applied under each tenant's intent key",
      );

      // Replays have no new effect: same records, no new delivery, nothing more applied.
      const deliveries = applied.deliveries;
      const [ra, rb] = [await compute("acme"), await compute("beta")];
      assert.deepEqual([ra.body.replayed, rb.body.replayed], [true, true]);
      assert.deepEqual([ra.body.intent_key, rb.body.intent_key], [
        a.body.intent_key,
        b.body.intent_key,
      ]);
      const after = await ledger.stats();
      assert.equal(after.deliveries, deliveries, "a replay sends nothing");
      assert.deepEqual(after.applied, applied.applied);
    } finally {
      assert.equal(await svc.stop(), 0, svc.output());
      await ledger.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
