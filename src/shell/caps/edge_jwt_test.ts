/**
 * Edge JWT conversion: every rejection with its reason, the happy path for EdDSA and ES256
 * (keys generated with WebCrypto here), the key file's strict validation, the conversion's
 * bounded expiry, and the property that a converted context never holds a scope outside
 * scopes_max.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { toBase64Url } from "../../core/base64url.ts";
import { RewarderError, statusOf } from "../../core/errors.ts";
import type { RequestDescription } from "./authorize.ts";
import {
  conversionCaveats,
  EDGE_JWT_CHARS_MAX,
  EDGE_JWT_SCOPES,
  EDGE_JWT_SKEW_MS_MAX,
  type EdgeJwtConfig,
  edgeJwtVerifier,
  loadEdgeJwtConfig,
  parseEdgeJwtConfig,
  verifyEdgeJwt,
} from "./edge_jwt.ts";
import { mintToken } from "./mint.ts";

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const T0_S = T0 / 1000;
const SECRET = new Uint8Array(32).fill(5);
const NONCE = "00112233445566778899aabbccddeeff";
const ISSUER = "https://gw.example";
const enc = new TextEncoder();

const keyRing = {
  masterSecretFor: (epoch: number) => Promise.resolve(epoch === 1 ? SECRET : undefined),
  currentEpoch: () => 1,
};

interface Signer {
  kid: string;
  alg: "EdDSA" | "ES256";
  sign(input: Uint8Array): Promise<Uint8Array>;
  publicJwk: Record<string, unknown>;
}

async function ed25519Signer(kid: string): Promise<Signer> {
  const pair = await crypto.subtle.generateKey("Ed25519", true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return {
    kid,
    alg: "EdDSA",
    sign: async (input) =>
      new Uint8Array(await crypto.subtle.sign("Ed25519", pair.privateKey, new Uint8Array(input))),
    publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x },
  };
}

async function es256Signer(kid: string): Promise<Signer> {
  const pair = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return {
    kid,
    alg: "ES256",
    sign: async (input) =>
      new Uint8Array( // WebCrypto ECDSA signatures are raw r||s, as JWS wants
        await crypto.subtle.sign(
          { name: "ECDSA", hash: "SHA-256" },
          pair.privateKey,
          new Uint8Array(input),
        ),
      ),
    publicJwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
  };
}

function b64json(v: unknown): string {
  return toBase64Url(enc.encode(JSON.stringify(v)));
}

async function jwt(
  signer: Signer,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const h = b64json({ alg: signer.alg, kid: signer.kid, typ: "JWT", ...header });
  const p = b64json(claims);
  return `${h}.${p}.${toBase64Url(await signer.sign(enc.encode(`${h}.${p}`)))}`;
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: "svc-rewarder",
    sub: "user-1",
    tenant: "acme",
    scope: "rewarder.inspect rewarder.run",
    iat: T0_S - 10,
    exp: T0_S + 3600,
    ...extra,
  };
}

function keyFileDoc(signers: Signer[], extra: Record<string, unknown> = {}) {
  return {
    issuer: ISSUER,
    audience: "svc-rewarder",
    keys: signers.map((s) => ({ kid: s.kid, alg: s.alg, jwk: s.publicJwk })),
    scopes_max: ["rewarder.inspect"],
    tenant_claim: "tenant",
    ttl_s_max: 300,
    ...extra,
  };
}

const ed = await ed25519Signer("gw-ed");
const es = await es256Signer("gw-es");
const other = await ed25519Signer("gw-ed"); // same kid, another key: a forger
const CONFIG = await parseEdgeJwtConfig(JSON.stringify(keyFileDoc([ed, es])));

function req(scope: string, nowMs = T0): RequestDescription {
  return {
    method: "GET",
    path: "/rewarder/epochs/e1",
    scope,
    epochId: "e1",
    peer: { transport: "tcp", address: "127.0.0.1" },
    nowMs,
  };
}

async function rejects(
  p: Promise<unknown>,
  code: "UNAUTHENTICATED" | "UNAUTHORIZED",
  reason: string,
) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RewarderError, String(err));
    assert.equal(err.code, code);
    assert.equal(err.reason, reason);
    assert.equal(statusOf(err), code === "UNAUTHENTICATED" ? 401 : 403);
    if (reason.startsWith("jwt_")) {
      assert.equal(err.cause, undefined, "no cause that could carry the token");
    }
    return true;
  });
}

const verifier = edgeJwtVerifier({ config: CONFIG, keyRing, nonceHex: () => NONCE });
const bearer = (t: string) => `Bearer ${t}`;

Deno.test("happy path: EdDSA and ES256 JWTs convert into a tenant-bound inspect context", async () => {
  for (const signer of [ed, es]) {
    const ctx = await verifier(bearer(await jwt(signer, claims())), req("rewarder.inspect"));
    assert.equal(ctx.tenant, "acme");
    assert.deepEqual(ctx.scopes, ["rewarder.inspect"], "run was cut by scopes_max");
    assert.equal(ctx.keyEpoch, 1);
    assert.equal(ctx.identifier, `v2:acme:1:rewarder.inspect:${NONCE}`, "inspect only (§9)");
    assert.deepEqual(ctx.maxRuns, []);
    assert.ok(!JSON.stringify(ctx).includes("eyJ"), "the context holds nothing of the JWT");
  }
});

Deno.test("scheme is case-insensitive and aud may be an array", async () => {
  const t = await jwt(ed, claims({ aud: ["other", "svc-rewarder"] }));
  const ctx = await verifier(`bEaReR ${t}`, req("rewarder.inspect"));
  assert.equal(ctx.tenant, "acme");
});

Deno.test("a JWT never gets a scope outside scopes_max: compute is 403 scope", async () => {
  await rejects(
    verifier(bearer(await jwt(ed, claims())), req("rewarder.run")),
    "UNAUTHORIZED",
    "scope",
  );
  await rejects(
    verifier(
      bearer(await jwt(ed, claims({ scope: "rewarder.run rewarder.quarantine" }))),
      req("rewarder.inspect"),
    ),
    "UNAUTHORIZED",
    "scope",
  );
});

Deno.test("the converted token expires at min(exp, now + ttl_s_max), second-granular", async () => {
  const c = await verifyEdgeJwt(await jwt(ed, claims()), CONFIG, T0);
  assert.deepEqual(conversionCaveats(c, CONFIG, T0), [
    "scope = rewarder.inspect",
    "tenant = acme",
    "time < 2026-11-27T12:05:00Z", // ttl_s_max 300 < exp (1 h)
    "aud = svc-rewarder",
  ]);
  const soon = await verifyEdgeJwt(await jwt(ed, claims({ exp: T0_S + 42.9 })), CONFIG, T0);
  assert.equal(conversionCaveats(soon, CONFIG, T0)[2], "time < 2026-11-27T12:00:42Z");
  // Each request converts afresh: accepted up to the JWT's exp, refused from it on.
  const t = await jwt(ed, claims({ exp: T0_S + 42 }));
  await verifier(bearer(t), req("rewarder.inspect", T0 + 41_000));
  await rejects(
    verifier(bearer(t), req("rewarder.inspect", T0 + 42_000)),
    "UNAUTHENTICATED",
    "jwt_expired",
  );
  // exp within the current second: nothing whole is left → expired, never a 0-s token.
  await rejects(
    verifier(bearer(await jwt(ed, claims({ exp: T0_S + 0.5 }))), req("rewarder.inspect")),
    "UNAUTHENTICATED",
    "jwt_expired",
  );
});

Deno.test("every rejection has its own reason", async () => {
  const good = await jwt(ed, claims());
  const [h, p, s] = good.split(".") as [string, string, string];
  const unsignedHeader = (hdr: Record<string, unknown>) => `${b64json(hdr)}.${p}.${s}`;
  const hs256 = async () => {
    // HS256 keyed with the Ed25519 public key bytes: the classic algorithm-confusion forgery.
    const hdr = b64json({ alg: "HS256", kid: "gw-ed", typ: "JWT" });
    const key = await crypto.subtle.importKey(
      "raw",
      enc.encode(String(ed.publicJwk.x)),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = await crypto.subtle.sign("HMAC", key, enc.encode(`${hdr}.${p}`));
    return `${hdr}.${p}.${toBase64Url(new Uint8Array(mac))}`;
  };
  const flipped = s.slice(0, 10) + (s[10] === "A" ? "B" : "A") + s.slice(11);
  const rows: [string, string | Promise<string>, string][] = [
    [
      "oversize",
      `${h}.${p}.${"A".repeat(EDGE_JWT_CHARS_MAX - h.length - p.length - 1)}`,
      "jwt_oversize",
    ],
    ["header oversize", `${h}.${p}.${"A".repeat(EDGE_JWT_CHARS_MAX + 64)}`, "token_oversize"],
    ["two segments", `${h}.${p}`, "jwt_malformed"],
    ["four segments", `${good}.x`, "jwt_malformed"],
    ["padded base64", `${h}.${p}.${s}=`, "jwt_malformed"],
    ["header not JSON", `${toBase64Url(enc.encode("nope"))}.${p}.${s}`, "jwt_malformed"],
    ["header an array", `${b64json(["EdDSA"])}.${p}.${s}`, "jwt_malformed"],
    [
      "duplicate header key",
      `${toBase64Url(enc.encode('{"alg":"none","alg":"EdDSA","kid":"gw-ed"}'))}.${p}.${s}`,
      "jwt_malformed",
    ],
    ["alg none", unsignedHeader({ alg: "none", kid: "gw-ed" }), "jwt_alg"],
    ["alg none, empty signature", `${b64json({ alg: "none" })}.${p}.`, "jwt_malformed"],
    ["alg HS256", hs256(), "jwt_alg"],
    ["alg RS256", unsignedHeader({ alg: "RS256", kid: "gw-ed" }), "jwt_alg"],
    ["alg of another key", unsignedHeader({ alg: "ES256", kid: "gw-ed" }), "jwt_alg"],
    ["crit header", unsignedHeader({ alg: "EdDSA", kid: "gw-ed", crit: ["b64"] }), "jwt_header"],
    ["odd typ", unsignedHeader({ alg: "EdDSA", kid: "gw-ed", typ: "macaroon" }), "jwt_header"],
    ["no kid", unsignedHeader({ alg: "EdDSA" }), "jwt_kid"],
    ["unknown kid", unsignedHeader({ alg: "EdDSA", kid: "gw-x" }), "jwt_kid"],
    ["flipped signature", `${h}.${p}.${flipped}`, "jwt_signature"],
    ["foreign key, same kid", jwt(other, claims()), "jwt_signature"],
    ["claims swapped", `${h}.${b64json(claims({ tenant: "evil" }))}.${s}`, "jwt_signature"],
    [
      "ES256 signature of 63 bytes",
      jwt(es, claims()).then((t) =>
        `${t.split(".").slice(0, 2).join(".")}.${toBase64Url(new Uint8Array(63))}`
      ),
      "jwt_signature",
    ],
    ["no exp", jwt(ed, claims({ exp: undefined })), "jwt_claims"],
    ["exp a string", jwt(ed, claims({ exp: String(T0_S + 60) })), "jwt_claims"],
    ["nbf garbage", jwt(ed, claims({ nbf: "soon" })), "jwt_claims"],
    ["wrong iss", jwt(ed, claims({ iss: "https://evil.example" })), "jwt_issuer"],
    ["no iss", jwt(ed, claims({ iss: undefined })), "jwt_issuer"],
    ["wrong aud", jwt(ed, claims({ aud: "ron-ledger" })), "jwt_audience"],
    ["aud array without us", jwt(ed, claims({ aud: ["a", "b"] })), "jwt_audience"],
    ["no aud", jwt(ed, claims({ aud: undefined })), "jwt_audience"],
    ["expired", jwt(ed, claims({ exp: T0_S - 1 })), "jwt_expired"],
    ["expires now", jwt(ed, claims({ exp: T0_S })), "jwt_expired"],
    [
      "nbf beyond the skew",
      jwt(ed, claims({ nbf: (T0 + EDGE_JWT_SKEW_MS_MAX) / 1000 + 1 })),
      "jwt_not_yet_valid",
    ],
    [
      "iat beyond the skew",
      jwt(ed, claims({ iat: (T0 + EDGE_JWT_SKEW_MS_MAX) / 1000 + 1 })),
      "jwt_not_yet_valid",
    ],
    ["no tenant", jwt(ed, claims({ tenant: undefined })), "jwt_tenant_missing"],
    ["tenant uppercase", jwt(ed, claims({ tenant: "ACME" })), "jwt_tenant_malformed"],
    ["tenant with colon", jwt(ed, claims({ tenant: "a:b" })), "jwt_tenant_malformed"],
    ["tenant a number", jwt(ed, claims({ tenant: 7 })), "jwt_tenant_malformed"],
    ["no scope", jwt(ed, claims({ scope: undefined })), "jwt_scope"],
    ["scope an array", jwt(ed, claims({ scope: ["rewarder.inspect"] })), "jwt_scope"],
    ["scope double space", jwt(ed, claims({ scope: "rewarder.inspect  x" })), "jwt_scope"],
  ];
  for (const [name, token, reason] of rows) {
    const t = await token;
    await rejects(verifier(bearer(t), req("rewarder.inspect")), "UNAUTHENTICATED", reason)
      .catch((err) => {
        throw new Error(`row "${name}": ${err.message}`);
      });
  }
});

Deno.test("nbf and iat inside the skew are accepted", async () => {
  const nearFuture = (T0 + EDGE_JWT_SKEW_MS_MAX) / 1000;
  const ctx = await verifier(
    bearer(await jwt(ed, claims({ nbf: nearFuture, iat: nearFuture }))),
    req("rewarder.inspect"),
  );
  assert.equal(ctx.tenant, "acme");
});

Deno.test("macaroons still verify through the edge verifier (Bearer and Macaroon schemes)", async () => {
  const mac = mintToken({
    masterSecret: SECRET,
    tenant: "acme",
    keyEpoch: 1,
    nonceHex: NONCE,
    caveats: ["scope = rewarder.run", "tenant = acme"],
  });
  for (const scheme of ["Bearer", "Macaroon"]) {
    const ctx = await verifier(`${scheme} ${mac}`, req("rewarder.run"));
    assert.deepEqual(ctx.scopes, ["rewarder.run"]);
  }
  await rejects(verifier(undefined, req("rewarder.inspect")), "UNAUTHENTICATED", "token_missing");
  // A JWT under the Macaroon scheme is not a JWT to us: the macaroon decoder refuses it.
  const t = await jwt(ed, claims());
  await rejects(
    verifier(`Macaroon ${t}`, req("rewarder.inspect")),
    "UNAUTHENTICATED",
    "token_malformed",
  );
});

Deno.test("a revoked current epoch stops conversions (401 key_epoch)", async () => {
  const revoked = edgeJwtVerifier({
    config: CONFIG,
    keyRing: { masterSecretFor: () => Promise.resolve(undefined), currentEpoch: () => 1 },
  });
  await rejects(
    revoked(bearer(await jwt(ed, claims())), req("rewarder.inspect")),
    "UNAUTHENTICATED",
    "key_epoch",
  );
});

Deno.test("property: a converted context never holds a scope outside scopes_max", async () => {
  const routeScopes = ["rewarder.inspect", "rewarder.run", "rewarder.quarantine"];
  const scopeWord = fc.constantFrom(...routeScopes, "ledger.intent.write", "admin", "x.y");
  await fc.assert(
    fc.asyncProperty(
      fc.subarray([...EDGE_JWT_SCOPES] as string[], { minLength: 1 }),
      fc.uniqueArray(scopeWord, { minLength: 1, maxLength: 6 }),
      fc.constantFrom(...routeScopes),
      async (scopesMax, claimed, routeScope) => {
        const config: EdgeJwtConfig = { ...CONFIG, scopesMax };
        const v = edgeJwtVerifier({ config, keyRing });
        const t = await jwt(ed, claims({ scope: claimed.join(" ") }));
        try {
          const ctx = await v(bearer(t), req(routeScope));
          assert.ok(ctx.scopes.every((s) => scopesMax.includes(s) && claimed.includes(s)));
          assert.ok(ctx.scopes.includes(routeScope));
          assert.equal(routeScope, "rewarder.inspect", "a JWT only ever reads (§9 identifier)");
        } catch (err) {
          assert.ok(err instanceof RewarderError && err.code === "UNAUTHORIZED", String(err));
          assert.ok(!(scopesMax.includes(routeScope) && claimed.includes(routeScope)));
        }
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("key file: strict validation with named rules", async () => {
  const good = keyFileDoc([ed, es]);
  const bad: [string, unknown, RegExp][] = [
    ["not JSON", "{", /not strict JSON|not JSON/],
    ["duplicate key", '{"issuer":"a","issuer":"b"}', /strict JSON/],
    ["extra key", { ...good, jku: "https://x" }, /its keys/],
    ["no keys", { ...good, keys: [] }, /keys is not an array/],
    ["private key", {
      ...good,
      keys: [{ kid: "k", alg: "EdDSA", jwk: { ...ed.publicJwk, d: "AAAA" } }],
    }, /private key/],
    ["HS256 key", {
      ...good,
      keys: [{ kid: "k", alg: "HS256", jwk: { kty: "oct", k: "AAAA" } }],
    }, /alg is not EdDSA or ES256/],
    ["EdDSA with EC jwk", {
      ...good,
      keys: [{ kid: "k", alg: "EdDSA", jwk: es.publicJwk }],
    }, /keys other than|not an OKP/],
    ["short x", {
      ...good,
      keys: [{ kid: "k", alg: "EdDSA", jwk: { ...ed.publicJwk, x: "AAAA" } }],
    }, /not 32 bytes/],
    ["off-curve P-256", {
      ...good,
      keys: [{
        kid: "k",
        alg: "ES256",
        jwk: { ...es.publicJwk, y: toBase64Url(new Uint8Array(32).fill(1)) },
      }],
    }, /not a valid P-256/],
    ["duplicate kid", { ...good, keys: [good.keys[0], good.keys[0]] }, /twice/],
    ["scope outside", { ...good, scopes_max: ["ledger.intent.write"] }, /scopes_max has an entry/],
    ["run for a JWT", { ...good, scopes_max: ["rewarder.inspect", "rewarder.run"] }, /an entry/],
    ["empty scopes", { ...good, scopes_max: [] }, /non-empty/],
    ["ttl too long", { ...good, ttl_s_max: 3600 }, /ttl_s_max/],
    ["ttl fractional", { ...good, ttl_s_max: 1.5 }, /ttl_s_max/],
    ["tenant claim reserved", { ...good, tenant_claim: "sub" }, /tenant_claim/],
    ["issuer empty", { ...good, issuer: "" }, /issuer/],
    ["too large", { ...good, issuer: "x".repeat(70_000) }, /64 KiB/],
  ];
  for (const [name, doc, message] of bad) {
    const text = typeof doc === "string" ? doc : JSON.stringify(doc);
    await assert.rejects(parseEdgeJwtConfig(text), message, name);
  }
  const minimal = {
    issuer: ISSUER,
    audience: "svc-rewarder",
    keys: good.keys,
    scopes_max: ["rewarder.inspect"],
  };
  const c = await parseEdgeJwtConfig(JSON.stringify(minimal));
  assert.equal(c.tenantClaim, "tenant");
  assert.equal(c.ttlSMax, 300);
});

Deno.test("key file on disk: group/world-writable refused, 0644 accepted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edge_jwt_" });
  try {
    const path = `${dir}/edge.json`;
    await Deno.writeTextFile(path, JSON.stringify(keyFileDoc([ed])));
    await Deno.chmod(path, 0o644);
    assert.equal((await loadEdgeJwtConfig(path)).keys.size, 1);
    await Deno.chmod(path, 0o664);
    await assert.rejects(loadEdgeJwtConfig(path), /writable/);
    await assert.rejects(loadEdgeJwtConfig(`${dir}/missing.json`), /does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a tenant claim other than `tenant` is honoured", async () => {
  const config = await parseEdgeJwtConfig(
    JSON.stringify(keyFileDoc([ed], { tenant_claim: "org" })),
  );
  const v = edgeJwtVerifier({ config, keyRing });
  const ctx = await v(
    bearer(await jwt(ed, claims({ tenant: undefined, org: "beta" }))),
    req("rewarder.inspect"),
  );
  assert.equal(ctx.tenant, "beta");
  await rejects(
    v(bearer(await jwt(ed, claims())), req("rewarder.inspect")),
    "UNAUTHENTICATED",
    "jwt_tenant_missing",
  );
});
