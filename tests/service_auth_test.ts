/**
 * Capabilities (contract §9) over the REAL server process on TCP: every token row of contract §9
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
import { deriveRootKey } from "../src/shell/caps/identifier.ts";
import {
  decodeMacaroonV2,
  encodeMacaroonV2,
  type Macaroon,
  newMacaroonV2,
  withFirstPartyCaveat,
} from "../src/shell/caps/macaroon_v2.ts";
import { attenuateToken } from "../src/shell/caps/mint.ts";
import { writeSecretFile } from "../src/shell/keys/key_files.ts";
import { casPut } from "../src/shell/sources/cas.ts";
import { leakedSecrets } from "../src/shell/observe/log.ts";
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

/** A GET with the request-target sent byte for byte (fetch would resolve dot segments). */
async function rawGet(
  port: number,
  target: string,
  token?: string,
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const auth = token === undefined ? "" : `Authorization: Macaroon ${token}\r\n`;
    await conn.write(
      enc.encode(`GET ${target} HTTP/1.1\r\nHost: t\r\n${auth}Connection: close\r\n\r\n`),
    );
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16 * 1024);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      chunks.push(buf.slice(0, n));
    }
    const text = new TextDecoder().decode(Uint8Array.from(chunks.flatMap((c) => [...c])));
    const [head = "", ...rest] = text.split("\r\n\r\n");
    const body = rest.join("\r\n\r\n");
    const chunked = /transfer-encoding: chunked/i.test(head);
    return {
      status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
      body: chunked ? dechunk(body) : body,
    };
  } finally {
    conn.close();
  }
}

function dechunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const eol = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, eol), 16);
    if (!(size > 0)) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
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
    // A snapshot no compute ever settles: rejected computes send it, so a refusal that comes
    // after validation (max_runs) is not masked by `inputs_settled` (§5).
    const spareInputsCid = await casPut(
      dataDir,
      enc.encode(JSON.stringify({
        produced_at_millis: 3,
        pool_minor_units: "1000",
        contributions: [{ account: "acct_z", bytes_stored: 1, bytes_served: 1, uptime_seconds: 1 }],
      })),
    );
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
    const compute = (epoch: string, token: string | undefined, json: unknown = body) =>
      call("POST", `/rewarder/epochs/${epoch}/compute`, { token, json });
    // One snapshot settles one epoch per tenant (§5): other epochs get other inputs.
    const altBody = { ...body, inputs_cid: fx.altInputsCid };
    const spareBody = { ...body, inputs_cid: spareInputsCid };
    const hamiltonBody = {
      inputs_cid: fx.hamilton.inputs_cid,
      policy_id: fx.hamilton.policy_id,
      policy_hash: fx.hamilton.policy_hash,
    };
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
        ? await compute("auth-never", token, spareBody)
        : await call("POST", "/rewarder/epochs/auth-never/compute", {
          headers: { authorization: raw, "content-type": "application/json" },
          body: JSON.stringify(spareBody),
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
        const flippedId = decode(
          await minter.mint({ scopes: ["rewarder.run", "rewarder.inspect"] }),
        );
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

      await t.step("401: v1 identifiers, and quarantine for a non-operator tenant", async () => {
        const secret = fromBase64Url(epochs["1"]);
        const signed = (id: string, tenant: string, caveats: string[]) => {
          let m = newMacaroonV2(deriveRootKey(secret, tenant, 1), enc.encode(id));
          for (const c of caveats) m = withFirstPartyCaveat(m, enc.encode(c));
          return minter.remember(encode(m));
        };
        const v1 = `v1:dev:1:${"ab".repeat(16)}`;
        await rejectedCompute(
          signed(v1, "dev", ["tenant = dev", `scope = ${ALL_SCOPES}`]),
          401,
          "UNAUTHENTICATED",
          "identifier",
        );
        // The finding: v1 let a holder widen a tenant-only token by appending a scope.
        assertError(
          await call("GET", "/rewarder/epochs/auth-base", {
            token: signed(v1, "dev", ["tenant = dev", "scope = rewarder.inspect"]),
          }),
          401,
          "UNAUTHENTICATED",
          "identifier",
        );
        const q = `v2:other:1:rewarder.quarantine:${"ab".repeat(16)}`;
        assertError(
          await call("GET", "/rewarder/quarantine", { token: signed(q, "other", []) }),
          401,
          "UNAUTHENTICATED",
          "identifier",
        );
      });

      await t.step("403: an appended scope caveat narrows, never widens", async () => {
        const runOnly = await minter.mint({ scopes: ["rewarder.run"], caveats: ["tenant = dev"] });
        assertError(
          await call("GET", "/rewarder/epochs/auth-base", {
            token: minter.remember(attenuateToken(runOnly, ["scope = rewarder.inspect"])),
          }),
          403,
          "UNAUTHORIZED",
          "scope",
        );
        await rejectedCompute(
          minter.remember(attenuateToken(good, ["scope = rewarder.inspect"])),
          403,
          "UNAUTHORIZED",
          "caveat_scope",
        );
      });

      await t.step("403: a third-party caveat or a discharge (authentic token)", async () => {
        const m = decode(good);
        const third = { identifier: enc.encode("is-member"), vid: new Uint8Array(56) };
        // A correct chain needs the libmacaroons third-party step; a wrong one is 401.
        assertError(
          await call("GET", "/rewarder/epochs/auth-base", {
            token: minter.remember(encode({ ...m, caveats: [...m.caveats, third] })),
          }),
          401,
          "UNAUTHENTICATED",
          "signature",
        );
        const discharge = newMacaroonV2(new Uint8Array(32), enc.encode("is-member"));
        const bundle = toBase64Url(
          Uint8Array.of(...fromBase64Url(good), ...encodeMacaroonV2(discharge)),
        );
        assertError(
          await call("GET", "/rewarder/epochs/auth-base", { token: minter.remember(bundle) }),
          403,
          "UNAUTHORIZED",
          "third_party_caveat",
        );
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
          const wrong = await minter.mint({ scopes: others.split(","), caveats: ["tenant = dev"] });
          const a = await call(method, path, { token: wrong, ...(json ? { json } : {}) });
          assertError(a, 403, "UNAUTHORIZED", "scope");
          // Attenuating cannot widen: the grant is the identifier's.
          const narrowed = minter.remember(attenuateToken(wrong, [`scope = ${scope}`]));
          assertError(
            await call(method, path, { token: narrowed, ...(json ? { json } : {}) }),
            403,
            "UNAUTHORIZED",
            "scope",
          );
          const right = await minter.mint({ scopes: [scope], caveats: ["tenant = dev"] });
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
        // `account =` and `epoch_id =` fail on routes that do not name that value.
        for (const path of ["/rewarder/epochs/auth-base", `/rewarder/runs/${baseRunKey}`]) {
          assertError(
            await call("GET", path, { token: account }),
            403,
            "UNAUTHORIZED",
            "caveat_account",
          );
        }
        const policyPath = `/rewarder/policy/${fx.interop.policy_id}`;
        assertError(
          await call("GET", policyPath, { token: epochOnly }),
          403,
          "UNAUTHORIZED",
          "caveat_epoch_id",
        );
        assertError(
          await call("GET", "/rewarder/runs", { token: epochOnly }),
          403,
          "UNAUTHORIZED",
          "caveat_epoch_id",
        );
        assert.equal(
          (await call("GET", "/rewarder/runs?epoch_id=auth-base", { token: epochOnly })).status,
          200,
        );
        // /runs/{run_key}: the run's epoch, checked after the run is loaded.
        const run = `/rewarder/runs/${baseRunKey}`;
        assert.equal((await call("GET", run, { token: epochOnly })).status, 200);
        const otherEpoch = await withCaveats(["epoch_id = auth-other"]);
        assertError(
          await call("GET", run, { token: otherEpoch }),
          403,
          "UNAUTHORIZED",
          "caveat_epoch_id",
        );
        // The finding: `path ^= …/e1` granted `…/e10`; whole segments now.
        assertError(
          await call("GET", "/rewarder/epochs/auth-base10", { token: pathOk }),
          403,
          "UNAUTHORIZED",
          "caveat_path",
        );
      });

      await t.step("the request path: one normalised path, 400 `path` before auth", async () => {
        const port = Number(new URL(svc.origin).port);
        for (
          const target of [
            "/rewarder/epochs/auth-base/proofs/%25",
            "/rewarder/epochs/auth-base/../auth-base",
            "/rewarder/epochs/auth-base/%2e%2E/auth-base",
            "/rewarder/epochs/./auth-base",
            "/rewarder/epochs/auth-base/",
            "/rewarder//epochs/auth-base",
            "/healthz/",
            "/rewarder/epochs/auth%20base",
          ]
        ) {
          for (const auth of [undefined, good]) {
            const r = await rawGet(port, target, auth);
            assert.equal(r.status, 400, `${target}: ${r.body}`);
            assert.equal(JSON.parse(r.body).error.reason, "path", target);
          }
        }
        // Escaped unreserved characters are the same path, for routing and for caveats.
        const pathOk = await withCaveats(["path ^= /rewarder/epochs/auth-base"]);
        const same = await rawGet(port, "/rewarder/epochs/%61uth-base", pathOk);
        assert.equal(same.status, 200, same.body);
        // `%2F` stays inside its segment: an epoch id cannot hold `/`, so 400, never a route.
        const slash = await rawGet(port, "/rewarder/epochs/auth%2Fbase", good);
        assert.equal(slash.status, 400, slash.body);
        assert.notEqual(JSON.parse(slash.body).error.reason, "path");
        assert.equal((await rawGet(port, "/healthz")).status, 200);
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
          const first = await compute("auth-mr-1", once, altBody);
          assert.equal(first.status, 200, first.text);
          await rejectedCompute(once, 403, "UNAUTHORIZED", "caveat_max_runs");
          const attenuated = minter.remember(
            attenuateToken(once, [`time < ${instant(600)}`, "max_runs = 5"]),
          );
          await rejectedCompute(attenuated, 403, "UNAUTHORIZED", "caveat_max_runs");
          const replay = await compute("auth-mr-1", once, altBody);
          assert.deepEqual([replay.status, replay.body.replayed], [200, true]);
          // Another token (another identifier) has its own count; a request refused before
          // any compute (unknown policy) does not spend it.
          const fresh = await withCaveats(["max_runs = 1"]);
          assertError(
            await call("POST", `/rewarder/epochs/${fx.hamilton.epochId}/compute`, {
              token: fresh,
              json: {
                ...hamiltonBody,
                policy_id: "no-such-policy",
                policy_hash: "b3:" + "0".repeat(64),
              },
            }),
            404,
            "NOT_FOUND",
            "unknown_policy",
          );
          const second = await compute(fx.hamilton.epochId, fresh, hamiltonBody);
          assert.equal(second.status, 200, second.text);
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
