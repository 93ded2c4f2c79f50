/**
 * Issue 4 "Done when", over the REAL server process on TCP: every token row of contract §9
 * answers its status and code (401 UNAUTHENTICATED for anything not authentic, 403
 * UNAUTHORIZED for an unmet caveat), rejected computes leave nothing behind, tenants are
 * isolated (404), max_runs survives attenuation, a revoked key epoch stops working after the
 * key file reloads (CAPS_RELOAD_MS=300), a loose key file stops the start, and the logs hold
 * none of the tokens or keys used.
 */
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fromBase64Url, toBase64Url } from "../src/core/base64url.ts";
import { deriveRootKey, formatIdentifier } from "../src/shell/caps/identifier.ts";
import {
  decodeMacaroonV2,
  encodeMacaroonV2,
  type Macaroon,
  newMacaroonV2,
  withFirstPartyCaveat,
} from "../src/shell/caps/macaroon_v2.ts";
import { attenuateToken } from "../src/shell/caps/mint.ts";
import { writeSecretFile } from "../src/shell/key_files.ts";
import { leakedSecrets } from "../src/shell/log.ts";
import { assertError } from "./support/bad_inputs.ts";
import { prepareFixtures } from "./support/fixtures.ts";
import {
  ALL_SCOPES,
  type Answer,
  caller,
  freshDataDir,
  instant,
  keyMaterial,
  runKeys,
  startService,
  tokenMinter,
  waitFor,
} from "./support/service.ts";

/** Caps key file reload period given to the server under test (ms). */
const CAPS_RELOAD_MS = 300;
const enc = new TextEncoder();

function randomSecret(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

async function writeCaps(
  dataDir: string,
  doc: { current_epoch: number; epochs: Record<string, string>; revoked: number[] },
  mode = 0o600,
): Promise<void> {
  await mkdir(join(dataDir, "keys"), { recursive: true, mode: 0o700 });
  const path = join(dataDir, "keys", "caps.json");
  await writeSecretFile(path, enc.encode(JSON.stringify(doc) + "\n")); // atomic rename
  if (mode !== 0o600) await Deno.chmod(path, mode);
}

function decode(token: string): Macaroon {
  return decodeMacaroonV2(fromBase64Url(token), 64);
}

function encode(m: Macaroon): string {
  return toBase64Url(encodeMacaroonV2(m));
}

function metricValue(text: string, sample: string): number {
  const line = text.split("\n").find((l) => l.startsWith(sample + " "));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

Deno.test({
  name: "capabilities over the real server: every token row of contract §9",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const epochs = { "1": randomSecret(), "2": randomSecret() };
    const dataDir = await freshDataDir(
      "auth",
      (d) => writeCaps(d, { current_epoch: 1, epochs, revoked: [] }),
    );
    const fx = await prepareFixtures(dataDir);
    const svc = await startService({
      dataDir,
      transport: "tcp",
      env: { CAPS_RELOAD_MS: String(CAPS_RELOAD_MS) },
    });
    const call = caller(svc);
    const minter = tokenMinter(dataDir);
    const good = await minter.mint();
    const body = {
      inputs_cid: fx.interop.inputs_cid,
      policy_id: fx.interop.policy_id,
      policy_hash: fx.interop.policy_hash,
    };
    const compute = (epoch: string, token: string | undefined) =>
      call("POST", `/rewarder/epochs/${epoch}/compute`, { token, json: body });
    const withCaveats = (caveats: string[], tenant = "dev") =>
      minter.mint({ tenant, caveats: [`scope = ${ALL_SCOPES}`, `tenant = ${tenant}`, ...caveats] });
    /** A rejected compute: its answer, and nothing recorded or committed. */
    const rejectedCompute = async (
      token: string | undefined,
      status: number,
      code: string,
      reason: string,
      raw?: string,
    ) => {
      const before = await runKeys(call, good);
      const a = raw === undefined
        ? await compute("auth-never", token)
        : await call("POST", "/rewarder/epochs/auth-never/compute", {
          headers: { authorization: raw, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      assertError(a, status, code, reason);
      assert.deepEqual(await runKeys(call, good), before, "no run recorded");
      assertError(
        await call("GET", "/rewarder/epochs/auth-never", { token: good }),
        404,
        "NOT_FOUND",
        "unknown_epoch",
      );
    };

    let baseRunKey = "";
    try {
      await t.step("a valid token works (Macaroon and Bearer schemes)", async () => {
        const a = await compute("auth-base", good);
        assert.equal(a.status, 200, a.text);
        baseRunKey = a.body.run_key;
        const bearer = await call("GET", "/rewarder/epochs/auth-base", {
          headers: { authorization: `Bearer ${good}` },
        });
        assert.equal(bearer.status, 200);
      });

      await t.step("401: missing, garbage, wrong scheme, truncated, oversized", async () => {
        await rejectedCompute(undefined, 401, "UNAUTHENTICATED", "token_missing");
        await rejectedCompute(undefined, 401, "UNAUTHENTICATED", "token_malformed", "Macaroon !!!");
        await rejectedCompute(
          undefined,
          401,
          "UNAUTHENTICATED",
          "token_malformed",
          `Basic ${good}`,
        );
        await rejectedCompute(
          minter.remember(good.slice(0, -7)),
          401,
          "UNAUTHENTICATED",
          "token_malformed",
        );
        await rejectedCompute("A".repeat(4097), 401, "UNAUTHENTICATED", "token_oversize");
        await rejectedCompute("A".repeat(6000), 401, "UNAUTHENTICATED", "token_oversize");
      });

      await t.step("401: flipped signature byte, caveat removed, caveats reordered", async () => {
        const flipped = decode(good);
        flipped.signature = flipped.signature.slice();
        flipped.signature[5]! ^= 0x01;
        await rejectedCompute(
          minter.remember(encode(flipped)),
          401,
          "UNAUTHENTICATED",
          "signature",
        );
        const removed = decode(good);
        removed.caveats = removed.caveats.filter((_, i) => i !== 2); // drop `time <`
        await rejectedCompute(
          minter.remember(encode(removed)),
          401,
          "UNAUTHENTICATED",
          "signature",
        );
        const reordered = decode(good);
        reordered.caveats = [reordered.caveats[1]!, reordered.caveats[0]!, reordered.caveats[2]!];
        await rejectedCompute(
          minter.remember(encode(reordered)),
          401,
          "UNAUTHENTICATED",
          "signature",
        );
        const flippedId = decode(good);
        flippedId.identifier = enc.encode(
          new TextDecoder().decode(flippedId.identifier).replace(":dev:", ":ops:"),
        );
        await rejectedCompute(
          minter.remember(encode(flippedId)),
          401,
          "UNAUTHENTICATED",
          "signature",
        );
      });

      await t.step("401: unknown key epoch, wrong epoch's secret", async () => {
        const unknown = await minter.mint({ keyEpoch: 9, secret: fromBase64Url(epochs["1"]) });
        await rejectedCompute(unknown, 401, "UNAUTHENTICATED", "key_epoch");
        const mixed = await minter.mint({ keyEpoch: 2, secret: fromBase64Url(epochs["1"]) });
        await rejectedCompute(mixed, 401, "UNAUTHENTICATED", "signature");
      });

      await t.step("403: unknown and malformed caveats appended by the holder", async () => {
        const unknown = decode(good);
        await rejectedCompute(
          minter.remember(encode(withFirstPartyCaveat(unknown, enc.encode("color = red")))),
          403,
          "UNAUTHORIZED",
          "caveat_unknown",
        );
        await rejectedCompute(
          minter.remember(encode(withFirstPartyCaveat(decode(good), enc.encode("scope=x")))),
          403,
          "UNAUTHORIZED",
          "caveat_malformed",
        );
        // Egress-only caveats mean nothing on ingress: fail closed.
        await rejectedCompute(
          minter.remember(attenuateToken(good, [`run_key = ${baseRunKey}`])),
          403,
          "UNAUTHORIZED",
          "caveat_unknown",
        );
      });

      await t.step("403: no scope caveat grants nothing", async () => {
        const secret = fromBase64Url(epochs["1"]);
        const id = formatIdentifier({ tenant: "dev", keyEpoch: 1, nonceHex: "ab".repeat(16) });
        const root = deriveRootKey(secret, "dev", 1);
        const m = withFirstPartyCaveat(
          newMacaroonV2(root, enc.encode(id)),
          enc.encode("tenant = dev"),
        );
        await rejectedCompute(minter.remember(encode(m)), 403, "UNAUTHORIZED", "scope_missing");
      });

      await t.step("403: expired and not-yet-valid tokens", async () => {
        await rejectedCompute(
          await withCaveats([`time < ${instant(-60)}`]),
          403,
          "UNAUTHORIZED",
          "caveat_time",
        );
        await rejectedCompute(
          await withCaveats([`time > ${instant(3600)}`]),
          403,
          "UNAUTHORIZED",
          "caveat_time",
        );
        const live = await withCaveats([`time > ${instant(-60)}`, `time < ${instant(60)}`]);
        assert.equal(
          (await call("GET", "/rewarder/epochs/auth-base", { token: live })).status,
          200,
        );
      });

      await t.step("403: wrong scope for each route; the right scope alone passes", async () => {
        const routes: [string, string, string, unknown?][] = [
          ["POST", "/rewarder/epochs/auth-base/compute", "rewarder.run", body],
          ["GET", "/rewarder/epochs/auth-base", "rewarder.inspect"],
          ["GET", "/rewarder/epochs/auth-base/proofs/acct_a", "rewarder.inspect"],
          ["GET", `/rewarder/runs/${baseRunKey}`, "rewarder.inspect"],
          ["GET", "/rewarder/runs?epoch_id=auth-base", "rewarder.inspect"],
          ["GET", `/rewarder/policy/${fx.interop.policy_id}`, "rewarder.inspect"],
          ["GET", "/rewarder/quarantine", "rewarder.quarantine"],
          ["PUT", "/rewarder/quarantine", "rewarder.quarantine", { quarantine_only: false }],
        ];
        const all = ALL_SCOPES.split(",");
        for (const [method, path, scope, json] of routes) {
          const others = all.filter((s) => s !== scope).join(",");
          const wrong = await minter.mint({ caveats: [`scope = ${others}`, "tenant = dev"] });
          const a = await call(method, path, { token: wrong, ...(json ? { json } : {}) });
          assertError(a, 403, "UNAUTHORIZED", "scope");
          // Attenuating cannot widen: a second scope list intersects with the first.
          const narrowed = minter.remember(attenuateToken(wrong, [`scope = ${scope}`]));
          assertError(
            await call(method, path, { token: narrowed, ...(json ? { json } : {}) }),
            403,
            "UNAUTHORIZED",
            "scope",
          );
          const right = await minter.mint({ caveats: [`scope = ${scope}`, "tenant = dev"] });
          const ok = await call(method, path, { token: right, ...(json ? { json } : {}) });
          assert.equal(ok.status, 200, `${method} ${path}: ${ok.text}`);
        }
      });

      await t.step("403: wrong tenant, method, path, epoch and account caveats", async () => {
        await rejectedCompute(
          await minter.mint({ caveats: [`scope = ${ALL_SCOPES}`, "tenant = other"] }),
          403,
          "UNAUTHORIZED",
          "caveat_tenant",
        );
        await rejectedCompute(
          await withCaveats(["method = GET"]),
          403,
          "UNAUTHORIZED",
          "caveat_method",
        );
        await rejectedCompute(
          await withCaveats(["path ^= /rewarder/runs"]),
          403,
          "UNAUTHORIZED",
          "caveat_path",
        );
        await rejectedCompute(
          await withCaveats(["epoch_id = auth-base"]),
          403,
          "UNAUTHORIZED",
          "caveat_epoch_id",
        );
        const pathOk = await withCaveats(["path ^= /rewarder/epochs/auth-base", "method = GET"]);
        assert.equal(
          (await call("GET", "/rewarder/epochs/auth-base", { token: pathOk })).status,
          200,
        );
        const epochOnly = await withCaveats(["epoch_id = auth-base"]);
        assert.equal(
          (await call("GET", "/rewarder/epochs/auth-base", { token: epochOnly })).status,
          200,
        );
        const account = await withCaveats(["account = acct_a"]);
        assert.equal(
          (await call("GET", "/rewarder/epochs/auth-base/proofs/acct_a", { token: account }))
            .status,
          200,
        );
        assertError(
          await call("GET", "/rewarder/epochs/auth-base/proofs/acct_b", { token: account }),
          403,
          "UNAUTHORIZED",
          "caveat_account",
        );
      });

      await t.step("ip caveat over TCP: 127.0.0.1/32 holds, 10.0.0.0/8 does not", async () => {
        const loopback = await withCaveats(["ip = 127.0.0.1/32,::1/128"]);
        assert.equal(
          (await call("GET", "/rewarder/epochs/auth-base", { token: loopback })).status,
          200,
        );
        await rejectedCompute(
          await withCaveats(["ip = 10.0.0.0/8"]),
          403,
          "UNAUTHORIZED",
          "caveat_ip",
        );
      });

      await t.step(
        "max_runs: exhausted, not reset by attenuation, replays not counted",
        async () => {
          const once = await withCaveats(["max_runs = 1"]);
          const first = await compute("auth-mr-1", once);
          assert.equal(first.status, 200, first.text);
          await rejectedCompute(once, 403, "UNAUTHORIZED", "caveat_max_runs");
          const attenuated = minter.remember(
            attenuateToken(once, [`time < ${instant(600)}`, "max_runs = 5"]),
          );
          await rejectedCompute(attenuated, 403, "UNAUTHORIZED", "caveat_max_runs");
          const replay = await compute("auth-mr-1", once);
          assert.deepEqual([replay.status, replay.body.replayed], [200, true]);
          // Another token (another identifier) has its own count; a request refused before
          // any compute (unknown policy) does not spend it.
          const fresh = await withCaveats(["max_runs = 1"]);
          assertError(
            await call("POST", "/rewarder/epochs/auth-mr-2/compute", {
              token: fresh,
              json: { ...body, policy_id: "no-such-policy" },
            }),
            404,
            "NOT_FOUND",
            "unknown_policy",
          );
          assert.equal((await compute("auth-mr-2", fresh)).status, 200);
        },
      );

      await t.step("cross-tenant reads are 404: epochs, runs, proofs, listings", async () => {
        const other = await minter.mint({ tenant: "other" });
        assertError(
          await call("GET", "/rewarder/epochs/auth-base", { token: other }),
          404,
          "NOT_FOUND",
          "unknown_epoch",
        );
        assertError(
          await call("GET", `/rewarder/runs/${baseRunKey}`, { token: other }),
          404,
          "NOT_FOUND",
          "unknown_run",
        );
        assertError(
          await call("GET", "/rewarder/epochs/auth-base/proofs/acct_a", { token: other }),
          404,
          "NOT_FOUND",
          "unknown_epoch",
        );
        const listed = await call("GET", "/rewarder/runs", { token: other });
        assert.deepEqual(listed.body, { runs: [], next_cursor: null });
        // The other tenant's own run of the same epoch is its own; dev's stays untouched.
        const own = await compute("auth-base", other);
        assert.equal(own.status, 200, own.text);
        assert.equal(own.body.replayed, false);
        const mine = await call("GET", `/rewarder/runs/${baseRunKey}`, { token: good });
        assert.equal(mine.status, 200);
      });

      await t.step("revoked key epoch stops working after the key file reloads", async () => {
        const e2 = await minter.mint({ keyEpoch: 2 });
        assert.equal((await call("GET", "/rewarder/epochs/auth-base", { token: e2 })).status, 200);
        await writeCaps(dataDir, { current_epoch: 1, epochs, revoked: [2] });
        let last: Answer | undefined;
        const revoked = await waitFor(async () => {
          last = await call("GET", "/rewarder/epochs/auth-base", { token: e2 });
          return last.status === 401;
        }, CAPS_RELOAD_MS * 10);
        assert.ok(revoked, `epoch 2 still accepted: ${last?.status}`);
        assertError(last!, 401, "UNAUTHENTICATED", "key_epoch");
        assert.equal(
          (await call("GET", "/rewarder/epochs/auth-base", { token: good })).status,
          200,
        );
        assert.deepEqual((await call("GET", "/readyz")).body, { ready: true });
      });

      await t.step("auth failures are counted", async () => {
        const text = (await call("GET", "/metrics")).text;
        assert.ok(metricValue(text, 'auth_failures_total{scope="rewarder.run"}') > 0);
        assert.ok(metricValue(text, 'rejected_total{reason="unauth"}') > 0);
      });
    } finally {
      const code = await svc.stop();
      await t.step("clean exit and no token or key material in the logs", async () => {
        assert.equal(code, 0, svc.output());
        const secrets = [...minter.used(), ...(await keyMaterial(dataDir))];
        assert.deepEqual(leakedSecrets(svc.output(), secrets), []);
      });
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a caps key file looser than 0600 stops the start (exit 78, no secret printed)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const secret = randomSecret();
    const dataDir = await freshDataDir(
      "auth_loose",
      (d) => writeCaps(d, { current_epoch: 1, epochs: { "1": secret }, revoked: [] }, 0o644),
    );
    try {
      await assert.rejects(
        startService({ dataDir, transport: "tcp" }),
        (err: Error) => {
          assert.match(err.message, /exited with 78 before listening/);
          assert.match(err.message, /looser than 0600/);
          assert.ok(!err.message.includes(secret));
          return true;
        },
      );
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
