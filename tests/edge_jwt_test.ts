/**
 * Edge JWT conversion (docs/EDGE-JWT.md) over the REAL server process:
 * - an edge instance (EDGE_JWT_KEYS, scopes_max = inspect) lets a gateway JWT read an
 *   epoch's sealed envelope but not compute (403 scope), keeps tenants apart (404), refuses
 *   forged, expired and wrongly addressed JWTs (401 with their reason), and still takes
 *   macaroons;
 * - a key file whose scopes_max goes beyond rewarder.inspect refuses the start: a converted
 *   token's v2 identifier grants inspect only (contract §9), so a JWT never computes;
 * - an instance without EDGE_JWT_KEYS answers a JWT 401 token_malformed;
 * - no JWT (nor its signature) ever appears in any server's output.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { toBase64Url } from "../src/core/base64url.ts";
import { assertError } from "./support/bad_inputs.ts";
import { prepareFixtures } from "./support/fixtures.ts";
import {
  answerOf,
  caller,
  freshDataDir,
  type Service,
  startService,
  tokenMinter,
} from "./support/service.ts";

const enc = new TextEncoder();
const ISSUER = "https://gateway.test";
const pair = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
const publicJwk = await crypto.subtle.exportKey("jwk", pair.publicKey);

const issued: string[] = [];

function b64json(v: unknown): string {
  return toBase64Url(enc.encode(JSON.stringify(v)));
}

/** Signs a gateway JWT (kid gw-1, EdDSA) and remembers it for the leak check. */
async function jwt(extra: Record<string, unknown> = {}): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000);
  const claims = {
    iss: ISSUER,
    aud: "svc-rewarder",
    sub: "user-7",
    tenant: "dev",
    scope: "rewarder.inspect rewarder.run",
    iat: nowS,
    exp: nowS + 600,
    ...extra,
  };
  const h = b64json({ alg: "EdDSA", kid: "gw-1", typ: "JWT" });
  const p = b64json(claims);
  const sig = await crypto.subtle.sign("Ed25519", pair.privateKey, enc.encode(`${h}.${p}`));
  const token = `${h}.${p}.${toBase64Url(new Uint8Array(sig))}`;
  issued.push(token);
  return token;
}

async function writeEdgeKeys(dataDir: string, scopesMax: string[]): Promise<string> {
  const path = join(dataDir, "edge-jwt.json");
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      issuer: ISSUER,
      audience: "svc-rewarder",
      keys: [{ kid: "gw-1", alg: "EdDSA", jwk: { kty: "OKP", crv: "Ed25519", x: publicJwk.x } }],
      scopes_max: scopesMax,
      tenant_claim: "tenant",
      ttl_s_max: 120,
    }),
  );
  await Deno.chmod(path, 0o644); // public keys: readable is fine, writable by others is not
  return path;
}

function bearer(svc: Service) {
  return async (method: string, path: string, token: string, json?: unknown) =>
    await answerOf(
      await svc.fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(json === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      }),
    );
}

function assertNoJwtIn(text: string, where: string): void {
  for (const t of issued) {
    assert.ok(!text.includes(t), `a JWT appears in ${where}`);
    const sig = t.split(".")[2]!;
    assert.ok(!text.includes(sig), `a JWT signature appears in ${where}`);
  }
}

Deno.test({
  name: "edge JWT over the real server: convert, reduce scope, never forward",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const [dirA, dirC] = await Promise.all([freshDataDir("edge_a"), freshDataDir("edge_c")]);
    const fxA = await prepareFixtures(dirA);
    const services: Service[] = [];
    try {
      const [a, c] = await Promise.all([
        startService({
          dataDir: dirA,
          transport: "tcp",
          env: { EDGE_JWT_KEYS: await writeEdgeKeys(dirA, ["rewarder.inspect"]) },
        }),
        startService({ dataDir: dirC, transport: "tcp" }),
      ]);
      services.push(a, c);
      const body = (fx: typeof fxA) => ({
        inputs_cid: fx.interop.inputs_cid,
        policy_id: fx.interop.policy_id,
        policy_hash: fx.interop.policy_hash,
      });

      await t.step("edge (inspect only): a JWT reads the envelope, cannot compute", async () => {
        const macaroon = await tokenMinter(dirA).mint();
        const made = await caller(a)("POST", "/rewarder/epochs/edge-1/compute", {
          token: macaroon,
          json: body(fxA),
        });
        assert.equal(made.status, 200, made.text);
        const call = bearer(a);
        const token = await jwt();
        const read = await call("GET", "/rewarder/epochs/edge-1", token);
        assert.equal(read.status, 200, read.text);
        const viaMacaroon = await caller(a)("GET", "/rewarder/epochs/edge-1", { token: macaroon });
        assert.deepEqual(read.body, viaMacaroon.body, "same envelope either way");
        assertError(
          await call("POST", "/rewarder/epochs/edge-2/compute", token, body(fxA)),
          403,
          "UNAUTHORIZED",
          "scope",
        );
        assertError(
          await call("GET", "/rewarder/epochs/edge-2", token),
          404,
          "NOT_FOUND",
          "unknown_epoch",
        ); // the refused compute left nothing behind
        assertError(
          await call("GET", "/rewarder/quarantine", token),
          403,
          "UNAUTHORIZED",
          "scope",
        );
        // Tenant isolation holds through the conversion.
        const other = await call("GET", "/rewarder/epochs/edge-1", await jwt({ tenant: "other" }));
        assert.equal(other.status, 404, other.text);
      });

      await t.step("edge: forged, expired, misaddressed JWTs are 401 with a reason", async () => {
        const call = bearer(a);
        const good = await jwt();
        const [h, p, s] = good.split(".") as [string, string, string];
        const flipped = `${h}.${p}.${s.slice(0, 5)}${s[5] === "A" ? "B" : "A"}${s.slice(6)}`;
        const nowS = Math.floor(Date.now() / 1000);
        const rows: [string, string][] = [
          [flipped, "jwt_signature"],
          [`${b64json({ alg: "none", kid: "gw-1" })}.${p}.${s}`, "jwt_alg"],
          [`${b64json({ alg: "HS256", kid: "gw-1" })}.${p}.${s}`, "jwt_alg"],
          [await jwt({ exp: nowS - 5 }), "jwt_expired"],
          [await jwt({ nbf: nowS + 3600 }), "jwt_not_yet_valid"],
          [await jwt({ aud: "ron-ledger" }), "jwt_audience"],
          [await jwt({ iss: "https://evil.test" }), "jwt_issuer"],
          [await jwt({ tenant: undefined }), "jwt_tenant_missing"],
          [await jwt({ tenant: "Not A Tenant" }), "jwt_tenant_malformed"],
        ];
        issued.push(flipped);
        for (const [token, reason] of rows) {
          assertError(
            await call("GET", "/rewarder/epochs/edge-1", token),
            401,
            "UNAUTHENTICATED",
            reason,
          );
        }
        const metrics = await (await a.fetch("/metrics")).text();
        assert.match(metrics, /auth_failures_total\{scope="rewarder.inspect"\} [1-9]/);
      });

      await t.step("without EDGE_JWT_KEYS a JWT is 401 token_malformed", async () => {
        assertError(
          await bearer(c)("GET", "/rewarder/epochs/edge-1", await jwt()),
          401,
          "UNAUTHENTICATED",
          "token_malformed",
        );
      });
    } finally {
      await Promise.all(services.map((s) => s.stop()));
    }
    for (const s of services) assertNoJwtIn(s.output(), "the server output");
  },
});

Deno.test({
  name:
    "edge JWT key file: writable by others, a private key, or run in scopes_max refuses the start (78)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await freshDataDir("edge_bad");
    const withRun = join(dir, "edge-run.json");
    await Deno.rename(await writeEdgeKeys(dir, ["rewarder.inspect", "rewarder.run"]), withRun);
    const writable = await writeEdgeKeys(dir, ["rewarder.inspect"]);
    await Deno.chmod(writable, 0o666);
    const privateKey = join(dir, "edge-private.json");
    await Deno.writeTextFile(
      privateKey,
      JSON.stringify({
        issuer: ISSUER,
        audience: "svc-rewarder",
        keys: [{
          kid: "k",
          alg: "EdDSA",
          jwk: { kty: "OKP", crv: "Ed25519", x: publicJwk.x, d: "AA" },
        }],
        scopes_max: ["rewarder.inspect"],
      }),
    );
    await Deno.chmod(privateKey, 0o600);
    const rows = [[writable, /writable/], [privateKey, /private key/], [withRun, /scopes_max/]];
    for (const [path, message] of rows as [string, RegExp][]) {
      await assert.rejects(
        startService({ dataDir: dir, transport: "tcp", env: { EDGE_JWT_KEYS: path } }),
        (err: Error) => {
          assert.match(err.message, /exited with 78/);
          assert.match(err.message, message);
          return true;
        },
      );
    }
  },
});
