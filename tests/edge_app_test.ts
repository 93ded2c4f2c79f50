// The edge app in process (contract §9, §13): gateway JWTs verified with public keys (tenant
// must be the edge's, inspect only), one origin read per epoch under concurrency, and the
// configuration refusals of edge.ts alone (no file system, no secret).
import assert from "node:assert/strict";
import { toBase64Url } from "../src/core/base64url.ts";
import { publicKeyOf, signEd25519 } from "../src/core/ed25519.ts";
import { createEdgeApp, type EdgeOptions } from "../src/edge/edge_app.ts";
import { edgeOptionsFromEnv } from "../src/edge/edge_config.ts";
import type { OriginReader } from "../src/edge/origin.ts";
import { parseEdgeJwtConfig } from "../src/core/gateway_jwt.ts";
import { publicationFilesOf } from "../src/core/publication.ts";
import { ConfigError } from "../src/shell/config/config_parse.ts";
import {
  v2Envelope,
  vectorKeys,
  vectorKeysBytes,
  vectorSigningKey,
} from "./support/publication_fixture.ts";

const NOW_MS = Date.UTC(2026, 11, 1, 12);
const GATEWAY_SEED = new Uint8Array(32).fill(7);

function jwtKeyFile(): string {
  return JSON.stringify({
    issuer: "https://gw.example",
    audience: "svc-rewarder",
    keys: [{
      kid: "gw-1",
      alg: "EdDSA",
      jwk: { kty: "OKP", crv: "Ed25519", x: toBase64Url(publicKeyOf(GATEWAY_SEED)) },
    }],
    scopes_max: ["rewarder.inspect"],
  });
}

async function jwt(claims: Record<string, unknown>): Promise<string> {
  const enc = (v: unknown) => toBase64Url(new TextEncoder().encode(JSON.stringify(v)));
  const input = `${enc({ alg: "EdDSA", kid: "gw-1", typ: "JWT" })}.${
    enc({
      iss: "https://gw.example",
      aud: "svc-rewarder",
      exp: NOW_MS / 1000 + 60,
      tenant: "acme",
      scope: "rewarder.inspect",
      ...claims,
    })
  }`;
  const sig = await signEd25519(GATEWAY_SEED, new TextEncoder().encode(input));
  return `${input}.${toBase64Url(sig)}`;
}

async function memoryOrigin(): Promise<{ origin: OriginReader; reads: string[] }> {
  const files = new Map<string, Uint8Array>();
  for (
    const f of await publicationFilesOf("acme", await v2Envelope(), [await vectorSigningKey()])
  ) {
    files.set(f.path, f.bytes);
  }
  const reads: string[] = [];
  const origin: OriginReader = async (path) => {
    reads.push(path);
    await Promise.resolve(); // let concurrent requests overlap
    const bytes = files.get(path);
    return bytes === undefined ? { found: false } : { found: true, bytes };
  };
  return { origin, reads };
}

async function reasonOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { reason: string } }).error.reason;
}

Deno.test("edge with gateway JWTs: public keys only, tenant is the edge's, inspect only", async () => {
  const { origin } = await memoryOrigin();
  const options: EdgeOptions = {
    tenant: "acme",
    origin,
    keys: await vectorKeys(),
    public: false,
    jwt: await parseEdgeJwtConfig(jwtKeyFile()),
    nowMs: () => NOW_MS,
  };
  const edge = createEdgeApp(options);
  const get = (path: string, token?: string) =>
    edge.fetch(
      new Request(`http://edge${path}`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      }),
    );
  const missing = await get("/rewarder/epochs/alabama");
  assert.equal(missing.status, 401);
  assert.equal(await reasonOf(missing), "token_missing");
  const macaroon = await get("/rewarder/epochs/alabama", "AgEEdGVzdA");
  assert.equal(macaroon.status, 401, "an edge holds no macaroon key");
  const ok = await get("/rewarder/epochs/alabama", await jwt({}));
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("cache-control"), "private, max-age=31536000, immutable");
  const other = await get("/rewarder/epochs/alabama", await jwt({ tenant: "globex" }));
  assert.equal(other.status, 404, "another tenant's token sees nothing (contract §9)");
  const scope = await get("/rewarder/epochs/alabama", await jwt({ scope: "rewarder.run" }));
  assert.equal(scope.status, 403);
  assert.equal(await reasonOf(scope), "scope");
  const expired = await get("/rewarder/epochs/alabama", await jwt({ exp: NOW_MS / 1000 - 1 }));
  assert.equal(await reasonOf(expired), "jwt_expired");
  assert.equal((await get("/rewarder/keys")).status, 200, "the keys need no token");
  assert.equal((await get("/rewarder/epochs/alabama?x=1", await jwt({}))).status, 400);
});

Deno.test("edge: concurrent requests for one epoch share one origin read and check", async () => {
  const { origin, reads } = await memoryOrigin();
  const edge = createEdgeApp({ tenant: "acme", origin, keys: await vectorKeys(), public: true });
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => edge.fetch(new Request("http://edge/rewarder/epochs/alabama"))),
  );
  assert.deepEqual(answers.map((r) => r.status), Array(8).fill(200));
  assert.equal(reads.length, 2, `pointer and object once: ${reads.join(", ")}`);
  await edge.fetch(new Request("http://edge/rewarder/epochs/alabama/proofs/big-1"));
  assert.equal(reads.length, 2, "then served from the verified cache");
  assert.match(edge.metrics.render(), /^edge_cache_hits_total\{cache="envelopes"\} 1$/m);
});

Deno.test("edge.ts configuration: no file system, no secret, one way to each setting", async () => {
  const keys = new TextDecoder().decode(await vectorKeysBytes());
  const base = { EDGE_TENANT: "acme", ORIGIN_URL: "http://origin.test", EDGE_KEYS_JSON: keys };
  const refused = async (env: Record<string, string>, variable: string, message: RegExp) => {
    await assert.rejects(edgeOptionsFromEnv(env), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.variable, variable);
      assert.match(err.message, message);
      return true;
    });
  };
  assert.equal((await edgeOptionsFromEnv({ ...base, EDGE_PUBLIC: "on" })).public, true);
  await refused(base, "EDGE_PUBLIC", /holds no secret/);
  await refused(
    { ...base, EDGE_PUBLIC: "on", EDGE_JWT_KEYS_JSON: jwtKeyFile() },
    "EDGE_PUBLIC",
    /both set/,
  );
  const { ORIGIN_URL: _, ...noUrl } = base;
  await refused({ ...noUrl, ORIGIN_DIR: "/srv/pub", EDGE_PUBLIC: "on" }, "ORIGIN_DIR", /launcher/);
  const { EDGE_KEYS_JSON: __, ...noKeys } = base;
  await refused(
    { ...noKeys, EDGE_KEYS_PATH: "/k.json", EDGE_PUBLIC: "on" },
    "EDGE_KEYS_PATH",
    /launcher/,
  );
  const leaked = JSON.parse(keys);
  leaked.keys[0].private_key = "x";
  await refused(
    { ...base, EDGE_KEYS_JSON: JSON.stringify(leaked), EDGE_PUBLIC: "on" },
    "EDGE_KEYS_JSON",
    /private key/,
  );
  const jwk = JSON.parse(jwtKeyFile());
  jwk.keys[0].jwk.d = "x";
  await refused(
    { ...base, EDGE_JWT_KEYS_JSON: JSON.stringify(jwk) },
    "EDGE_JWT_KEYS_JSON",
    /private key/,
  );
});
