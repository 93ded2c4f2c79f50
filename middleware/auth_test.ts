/**
 * Auth middleware over a Hono app (in-process) wired as src/app.ts wires it (normalised
 * request path, per-route auth with the route's facts): every contract §9 rule the
 * middleware decides, each with the contract's status and reason.
 */
import assert from "node:assert/strict";
import macaroonPkg from "macaroon";
import { type Context, Hono } from "hono";
import { RewarderError, statusOf } from "../src/core/errors.ts";
import { fromBase64Url, toBase64Url } from "../src/core/base64url.ts";
import type { AppEnv } from "./context.ts";
import type { PeerInfo } from "../src/shell/listen/types.ts";
import { auth, routeFacts } from "./auth.ts";
import { requestPath } from "./request_path.ts";
import { checkRunEpoch } from "../src/shell/caps/authorize.ts";
import { attenuateToken, mintToken } from "../src/shell/caps/mint.ts";
import { type KeyFileReader, openKeyRing } from "../src/shell/caps/key_file.ts";
import { checkMaxRuns, memoryMaxRunsCounter, recordRun } from "../src/shell/caps/max_runs.ts";
import {
  decodeMacaroonV2,
  encodeMacaroonV2,
  newMacaroonV2,
  withFirstPartyCaveat,
} from "../src/shell/caps/macaroon_v2.ts";
import { deriveRootKey } from "../src/shell/caps/identifier.ts";

/** Appends a caveat without the CLI's well-formedness check (to forge odd tokens). */
function addRaw(token: string, caveat: string): string {
  const m = decodeMacaroonV2(fromBase64Url(token), 1000);
  return toBase64Url(encodeMacaroonV2(withFirstPartyCaveat(m, new TextEncoder().encode(caveat))));
}

/** A token under any identifier text (v1 forms, forged grants), signed with the v2 root key. */
function rawToken(identifier: string, tenant: string, caveats: string[] = []): string {
  const root = deriveRootKey(SECRET1, tenant, 1);
  let t = toBase64Url(encodeMacaroonV2(newMacaroonV2(root, new TextEncoder().encode(identifier))));
  for (const c of caveats) t = addRaw(t, c);
  return t;
}

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const SECRET1 = new Uint8Array(32).fill(7);
const SECRET2 = new Uint8Array(32).fill(9);
const NONCE = "00112233445566778899aabbccddeeff";

function keyFile(current: number, revoked: number[]): string {
  return JSON.stringify({
    current_epoch: current,
    epochs: { "1": toBase64Url(SECRET1), "2": toBase64Url(SECRET2) },
    revoked,
  });
}

async function setup(peer: PeerInfo = { transport: "tcp", address: "10.1.2.3" }) {
  let now = T0;
  let fileText = keyFile(1, []);
  const reader: KeyFileReader = () => Promise.resolve({ mode: 0o600, text: fileText });
  const keyRing = await openKeyRing({
    path: "/k",
    reader,
    nowMs: () => now,
    reloadIntervalMs: 60_000,
  });
  const failures: string[] = [];
  const counter = memoryMaxRunsCounter(16);
  const paths = requestPath();
  const app = new Hono<AppEnv>({ getPath: paths.getPath });
  app.onError((err, c) => {
    if (err instanceof RewarderError) {
      return c.json({ error: { code: err.code, reason: err.reason } }, statusOf(err) as 401);
    }
    return c.json({ error: { code: "INTERNAL" } }, 500);
  });
  app.use(paths.middleware);
  const guard = (path: string, scope: string | null) =>
    auth({
      keyRing,
      nowMs: () => now,
      scopeFor: () => scope,
      factsFor: routeFacts(path),
      onFailure: (sc, reason) => failures.push(`${sc}:${reason}`),
    });
  const route = (
    method: string,
    path: string,
    scope: string | null,
    handler: (c: Context<AppEnv>) => Response | Promise<Response>,
  ) => app.on(method, path, guard(path, scope), handler);
  const tenantOf = (c: Context<AppEnv>) => c.json({ tenant: c.get("auth").tenant });
  route("GET", "/healthz", null, (c) => c.json({ ok: true }));
  route("POST", "/rewarder/epochs/:epoch_id/compute", "rewarder.run", async (c) => {
    const a = c.get("auth");
    await checkMaxRuns(counter, a.maxRuns);
    await recordRun(counter, a.maxRuns);
    return c.json({ tenant: a.tenant, scopes: a.scopes });
  });
  route("GET", "/rewarder/epochs/:epoch_id", "rewarder.inspect", tenantOf);
  route(
    "GET",
    "/rewarder/epochs/:epoch_id/proofs/:account",
    "rewarder.inspect",
    (c) => c.json({ account: c.req.param("account") }),
  );
  route("GET", "/rewarder/runs/:run_key", "rewarder.inspect", (c) => {
    const epoch = RUN_EPOCHS[c.req.param("run_key") ?? ""];
    checkRunEpoch(c.get("auth"), epoch);
    if (epoch === undefined) throw new RewarderError("NOT_FOUND", "unknown_run");
    return c.json({ epoch });
  });
  route("GET", "/rewarder/runs", "rewarder.inspect", tenantOf);
  route("GET", "/rewarder/policy/:policy_id", "rewarder.inspect", tenantOf);
  route("GET", "/rewarder/quarantine", "rewarder.quarantine", tenantOf);
  route("PUT", "/rewarder/quarantine", "rewarder.quarantine", tenantOf);
  const call = async (method: string, path: string, token?: string, scheme = "Macaroon") => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers["authorization"] = `${scheme} ${token}`;
    const res = await app.request(path, { method, headers }, { peer });
    const body = await res.json();
    return { status: res.status, body };
  };
  return {
    call,
    failures,
    keyRing,
    setNow: (ms: number) => (now = ms),
    setFile: (t: string) => (fileText = t),
  };
}

function mint(
  caveats: string[],
  opts: { tenant?: string; epoch?: number; secret?: Uint8Array; scopes?: string[] } = {},
) {
  return mintToken({
    masterSecret: opts.secret ?? (opts.epoch === 2 ? SECRET2 : SECRET1),
    tenant: opts.tenant ?? "acme",
    keyEpoch: opts.epoch ?? 1,
    scopes: opts.scopes ?? ["rewarder.run", "rewarder.inspect"],
    nonceHex: NONCE,
    caveats,
  });
}

const RUN = "/rewarder/epochs/e1/compute";
const BASE = ["tenant = acme"];
/** Runs the fake run route knows: run key → epoch. */
const RUN_EPOCHS: Record<string, string> = { "b3:e1run": "e1", "b3:e2run": "e2" };

function expect(
  r: { status: number; body: { error?: { code: string; reason: string } } },
  status: number,
  reason?: string,
) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  if (status === 401) assert.equal(r.body.error?.code, "UNAUTHENTICATED");
  if (status === 403) assert.equal(r.body.error?.code, "UNAUTHORIZED");
  if (reason !== undefined) assert.equal(r.body.error?.reason, reason);
}

Deno.test("valid token passes with tenant and scopes; Bearer accepted; public route needs none", async () => {
  const s = await setup();
  const r = await s.call("POST", RUN, mint(BASE));
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { tenant: "acme", scopes: ["rewarder.run", "rewarder.inspect"] });
  assert.equal((await s.call("GET", "/rewarder/epochs/e1", mint(BASE), "Bearer")).status, 200);
  assert.equal((await s.call("GET", "/healthz")).status, 200);
});

Deno.test("401: missing, garbage, wrong scheme, padded, truncated, flipped signature, oversized", async () => {
  const s = await setup();
  const good = mint(BASE);
  expect(await s.call("GET", "/rewarder/epochs/e1"), 401, "token_missing");
  expect(await s.call("GET", "/rewarder/epochs/e1", "not-a-token!"), 401, "token_malformed");
  expect(await s.call("GET", "/rewarder/epochs/e1", good, "Basic"), 401, "token_malformed");
  expect(await s.call("GET", "/rewarder/epochs/e1", good + "=="), 401, "token_malformed");
  expect(await s.call("GET", "/rewarder/epochs/e1", good.slice(0, good.length - 6)), 401);
  const bytes = fromBase64Url(good);
  bytes[bytes.length - 1]! ^= 0x01; // last byte is the signature's
  expect(await s.call("GET", "/rewarder/epochs/e1", toBase64Url(bytes)), 401, "signature");
  const huge = attenuateToken(
    mint(BASE),
    Array.from({ length: 40 }, () => "path ^= /" + "x".repeat(100)),
  );
  assert.ok(huge.length > 4096);
  expect(await s.call("GET", "/rewarder/epochs/e1", huge), 401, "token_oversize");
  assert.ok(s.failures.includes("rewarder.inspect:signature"));
});

Deno.test("401: too many caveats even when small; wrong root secret; malformed identifier", async () => {
  const s = await setup();
  const many = mint([...BASE, ...Array.from({ length: 63 }, () => "method = GET")].slice(0, 64));
  // 64 caveats is the limit and still fine size-wise; 65 is refused before any HMAC.
  assert.equal((await s.call("GET", "/rewarder/epochs/e1", many)).status, 200);
  expect(
    await s.call("GET", "/rewarder/epochs/e1", addRaw(many, "method = GET")),
    401,
    "too_many_caveats",
  );
  expect(
    await s.call("GET", "/rewarder/epochs/e1", mint(BASE, { secret: SECRET2 })),
    401,
    "signature",
  );
});

Deno.test("401: caveat removed or reordered breaks the chain", async () => {
  const s = await setup();
  const token = mint([...BASE, "epoch_id = e1", "method = POST"]);
  const m = decodeMacaroonV2(fromBase64Url(token), 64);
  const [c0, c1, c2] = m.caveats as [typeof m.caveats[0], typeof m.caveats[0], typeof m.caveats[0]];
  const removed = encodeMacaroonV2({ ...m, caveats: [c0, c1] });
  expect(await s.call("POST", RUN, toBase64Url(removed)), 401, "signature");
  const reordered = encodeMacaroonV2({ ...m, caveats: [c1, c0, c2] });
  expect(await s.call("POST", RUN, toBase64Url(reordered)), 401, "signature");
});

Deno.test("401: v1 identifiers and anything not the v2 grammar, even when correctly signed", async () => {
  const s = await setup();
  const v1 = rawToken(`v1:acme:1:${NONCE}`, "acme", ["tenant = acme", "scope = rewarder.inspect"]);
  expect(await s.call("GET", "/rewarder/epochs/e1", v1), 401, "identifier");
  for (
    const id of [
      `v2:acme:1::${NONCE}`, // no scope
      `v2:acme:1:rewarder.run,rewarder.run:${NONCE}`, // twice
      `v2:acme:1:rewarder.admin:${NONCE}`,
      `v2:acme:01:rewarder.run:${NONCE}`,
      `v2:acme:1:rewarder.run:${"00".repeat(7)}`, // nonce < 8 bytes
      `v2:acme:1:rewarder.run:${NONCE.toUpperCase()}`,
      `v2:Acme:1:rewarder.run:${NONCE}`,
    ]
  ) {
    expect(await s.call("POST", RUN, rawToken(id, "acme")), 401, "identifier");
  }
});

Deno.test("finding: an appended scope caveat never widens (v1 widened a tenant-only token)", async () => {
  const s = await setup();
  // v1: a token with only `tenant = acme` plus a holder-appended `scope = rewarder.inspect`
  // granted inspect. In v2 such a token (a v1-style identifier) is refused outright...
  const v1Style = rawToken(`v1:acme:1:${NONCE}`, "acme", ["tenant = acme"]);
  expect(
    await s.call("GET", "/rewarder/epochs/e1", addRaw(v1Style, "scope = rewarder.inspect")),
    401,
    "identifier",
  );
  // ...and a v2 identifier granting only run stays run-only whatever is appended.
  const runOnly = mint(BASE, { scopes: ["rewarder.run"] });
  for (const widen of ["scope = rewarder.inspect", "scope = rewarder.run,rewarder.inspect"]) {
    expect(await s.call("GET", "/rewarder/epochs/e1", addRaw(runOnly, widen)), 403, "scope");
  }
  assert.equal((await s.call("POST", RUN, runOnly)).status, 200);
});

Deno.test("403: the identifier's grant per route; scope caveats narrow it", async () => {
  const s = await setup();
  expect(await s.call("POST", RUN, mint([], { scopes: ["rewarder.inspect"] })), 403, "scope");
  expect(await s.call("GET", "/rewarder/quarantine", mint(BASE)), 403, "scope");
  const narrowed = attenuateToken(mint(BASE), ["scope = rewarder.inspect,rewarder.quarantine"]);
  expect(await s.call("POST", RUN, narrowed), 403, "caveat_scope");
  assert.equal((await s.call("GET", "/rewarder/epochs/e1", narrowed)).status, 200);
  const r = await s.call("POST", RUN, attenuateToken(mint(BASE), ["scope = rewarder.run"]));
  assert.deepEqual(r.body, { tenant: "acme", scopes: ["rewarder.run"] });
  assert.ok(s.failures.includes("rewarder.run:scope"));
});

Deno.test("rewarder.quarantine belongs to the operator tenant: 401 for any other", async () => {
  const s = await setup();
  const forged = rawToken(`v2:acme:1:rewarder.quarantine:${NONCE}`, "acme");
  expect(await s.call("GET", "/rewarder/quarantine", forged), 401, "identifier");
  assert.throws(() => mint([], { scopes: ["rewarder.quarantine"] }), /operator tenant/);
  const op = mint([], { tenant: "operator", scopes: ["rewarder.quarantine"] });
  assert.equal((await s.call("PUT", "/rewarder/quarantine", op)).status, 200);
});

Deno.test("403 third_party: a third-party caveat or a discharge, once the signature is good", async () => {
  const s = await setup();
  // deno-lint-ignore no-explicit-any
  const pkg = macaroonPkg as any;
  const id = `v2:acme:1:rewarder.inspect:${NONCE}`;
  const m = pkg.newMacaroon({
    identifier: id,
    rootKey: deriveRootKey(SECRET1, "acme", 1),
    version: 2,
  });
  m.addFirstPartyCaveat("tenant = acme");
  m.addThirdPartyCaveat(new Uint8Array(32).fill(4), "is-member", "https://auth.example");
  const withThirdParty = toBase64Url(m.exportBinary());
  expect(await s.call("GET", "/rewarder/epochs/e1", withThirdParty), 403, "third_party_caveat");
  const bytes = fromBase64Url(withThirdParty);
  bytes[bytes.length - 1]! ^= 1;
  expect(await s.call("GET", "/rewarder/epochs/e1", toBase64Url(bytes)), 401, "signature");
  const token = fromBase64Url(mint(BASE));
  const discharge = pkg.newMacaroon({
    identifier: "is-member",
    rootKey: new Uint8Array(32),
    version: 2,
  });
  const bundle = toBase64Url(Uint8Array.of(...token, ...discharge.exportBinary()));
  expect(await s.call("GET", "/rewarder/epochs/e1", bundle), 403, "third_party_caveat");
});

Deno.test("403: wrong tenant caveat; unknown, malformed and egress-only caveats fail closed", async () => {
  const s = await setup();
  expect(await s.call("POST", RUN, mint(["tenant = other"])), 403, "caveat_tenant");
  expect(await s.call("POST", RUN, addRaw(mint(BASE), "colour = blue")), 403, "caveat_unknown");
  expect(await s.call("POST", RUN, addRaw(mint(BASE), "time < tomorrow")), 403, "caveat_malformed");
  expect(
    await s.call("POST", RUN, addRaw(mint(BASE), "time < 2099-01-01T00:00:00.000Z")),
    403,
    "caveat_malformed",
  );
  expect(
    await s.call("POST", RUN, addRaw(mint(BASE), "scope  = rewarder.run")),
    403,
    "caveat_malformed",
  );
  const runKey = "b3:" + "a".repeat(64);
  expect(
    await s.call("POST", RUN, attenuateToken(mint(BASE), [`run_key = ${runKey}`])),
    403,
    "caveat_unknown",
  );
  expect(
    await s.call("POST", RUN, attenuateToken(mint(BASE), ["aud = ron-ledger"])),
    403,
    "caveat_aud",
  );
  assert.equal(
    (await s.call("POST", RUN, attenuateToken(mint(BASE), ["aud = svc-rewarder"]))).status,
    200,
  );
});

Deno.test("403: expired and not-yet-valid with an injected clock", async () => {
  const s = await setup();
  const token = mint([...BASE, "time < 2026-11-27T13:00:00Z", "time > 2026-11-27T11:00:00Z"]);
  assert.equal((await s.call("POST", RUN, token)).status, 200);
  s.setNow(Date.UTC(2026, 10, 27, 13, 0, 0)); // exactly at expiry: no longer before it
  expect(await s.call("POST", RUN, token), 403, "caveat_time");
  s.setNow(Date.UTC(2026, 10, 27, 10, 59, 59));
  expect(await s.call("POST", RUN, token), 403, "caveat_time");
});

Deno.test("403: wrong method and path; path ^= matches whole segments (e1 is not e10)", async () => {
  const s = await setup();
  expect(await s.call("POST", RUN, mint([...BASE, "method = GET"])), 403, "caveat_method");
  expect(await s.call("POST", RUN, mint([...BASE, "path ^= /rewarder/runs"])), 403, "caveat_path");
  for (const p of ["/rewarder/epochs/", "/rewarder/epochs/e1", "/rewarder/epochs/e1/", "/"]) {
    assert.equal((await s.call("POST", RUN, mint([...BASE, `path ^= ${p}`]))).status, 200, p);
  }
  const e1 = mint([...BASE, "path ^= /rewarder/epochs/e1"]);
  assert.equal((await s.call("GET", "/rewarder/epochs/e1", e1)).status, 200);
  expect(await s.call("GET", "/rewarder/epochs/e10", e1), 403, "caveat_path");
  expect(await s.call("POST", "/rewarder/epochs/e10/compute", e1), 403, "caveat_path");
  expect(
    await s.call("POST", RUN, addRaw(mint(BASE), "path ^= rewarder")),
    403,
    "caveat_malformed",
  );
  // The caveat sees the normalised path: an escaped unreserved char is the same path.
  assert.equal((await s.call("GET", "/rewarder/epochs/%65%31", e1)).status, 200);
});

Deno.test("epoch_id = e holds only where the route names that epoch", async () => {
  const s = await setup();
  const e1 = mint([...BASE, "epoch_id = e1"]);
  assert.equal((await s.call("POST", RUN, e1)).status, 200);
  expect(await s.call("POST", "/rewarder/epochs/e2/compute", e1), 403, "caveat_epoch_id");
  assert.equal((await s.call("GET", "/rewarder/epochs/e1/proofs/node:a", e1)).status, 200);
  // /runs/{run_key}: the run's epoch, checked once the run is loaded; an unknown run is 403
  // too, so the caveat does not reveal which run keys exist.
  assert.equal((await s.call("GET", "/rewarder/runs/b3:e1run", e1)).status, 200);
  expect(await s.call("GET", "/rewarder/runs/b3:e2run", e1), 403, "caveat_epoch_id");
  expect(await s.call("GET", "/rewarder/runs/b3:nope", e1), 403, "caveat_epoch_id");
  expect(await s.call("GET", "/rewarder/runs/b3:nope", mint(BASE)), 404, "unknown_run");
  // /runs: the epoch_id query is required, once, and equal.
  assert.equal((await s.call("GET", "/rewarder/runs?epoch_id=e1", e1)).status, 200);
  expect(await s.call("GET", "/rewarder/runs", e1), 403, "caveat_epoch_id");
  expect(await s.call("GET", "/rewarder/runs?epoch_id=e2", e1), 403, "caveat_epoch_id");
  expect(await s.call("GET", "/rewarder/runs?epoch_id=e1&epoch_id=e2", e1), 403, "caveat_epoch_id");
  // Every other route names no epoch: the caveat fails there.
  expect(await s.call("GET", "/rewarder/policy/p1?epoch_id=e1", e1), 403, "caveat_epoch_id");
  const op = mint(["epoch_id = e1"], { tenant: "operator", scopes: ["rewarder.quarantine"] });
  expect(await s.call("GET", "/rewarder/quarantine?epoch_id=e1", op), 403, "caveat_epoch_id");
});

Deno.test("account = a holds only on the proof route, for that account (decoded once)", async () => {
  const s = await setup();
  const acc = mint([...BASE, "account = node:a"]);
  assert.equal((await s.call("GET", "/rewarder/epochs/e1/proofs/node%3Aa", acc)).status, 200);
  expect(await s.call("GET", "/rewarder/epochs/e1/proofs/node:b", acc), 403, "caveat_account");
  for (const path of ["/rewarder/epochs/e1", "/rewarder/runs?epoch_id=e1", "/rewarder/policy/p"]) {
    expect(await s.call("GET", path, acc), 403, "caveat_account");
  }
  expect(await s.call("POST", RUN, acc), 403, "caveat_account");
  const slash = mint([...BASE, "account = a/b"]);
  const r = await s.call("GET", "/rewarder/epochs/e1/proofs/a%2fb", slash);
  assert.deepEqual([r.status, r.body], [200, { account: "a/b" }]);
  expect(await s.call("GET", "/rewarder/epochs/e1/proofs/a%252Fb", slash), 400, "path");
});

Deno.test("ip ranges: v4 and v6 match the peer; never over a Unix socket", async () => {
  const ip = mint([...BASE, "ip = 10.1.0.0/16,::1/128"]);
  assert.equal(
    (await (await setup({ transport: "tcp", address: "10.1.2.3" })).call("POST", RUN, ip)).status,
    200,
  );
  assert.equal(
    (await (await setup({ transport: "tcp", address: "::ffff:10.1.9.9" })).call("POST", RUN, ip))
      .status,
    200,
  );
  assert.equal(
    (await (await setup({ transport: "tcp", address: "::1" })).call("POST", RUN, ip)).status,
    200,
  );
  expect(
    await (await setup({ transport: "tcp", address: "10.2.0.1" })).call("POST", RUN, ip),
    403,
    "caveat_ip",
  );
  expect(
    await (await setup({ transport: "tcp", address: "::2" })).call("POST", RUN, ip),
    403,
    "caveat_ip",
  );
  expect(await (await setup({ transport: "unix" })).call("POST", RUN, ip), 403, "caveat_ip");
  // Without an ip caveat a Unix-socket peer is fine.
  assert.equal(
    (await (await setup({ transport: "unix" })).call("POST", RUN, mint(BASE))).status,
    200,
  );
});

Deno.test("max_runs: exhausted after n computes, and attenuation does not reset it", async () => {
  const s = await setup();
  const token = mint([...BASE, "max_runs = 2"]);
  assert.equal((await s.call("POST", RUN, token)).status, 200);
  const attenuated = attenuateToken(token, ["method = POST", "max_runs = 5"]);
  assert.equal((await s.call("POST", RUN, attenuated)).status, 200);
  expect(await s.call("POST", RUN, token), 403, "caveat_max_runs");
  expect(await s.call("POST", RUN, attenuated), 403, "caveat_max_runs");
  expect(
    await s.call("POST", RUN, attenuateToken(token, ["epoch_id = e1"])),
    403,
    "caveat_max_runs",
  );
  // A differently-minted token (new nonce) has its own counter.
  const other = mintToken({
    masterSecret: SECRET1,
    tenant: "acme",
    keyEpoch: 1,
    scopes: ["rewarder.run"],
    nonceHex: "ff".repeat(16),
    caveats: [...BASE, "max_runs = 2"],
  });
  assert.equal((await s.call("POST", RUN, other)).status, 200);
});

Deno.test("key epochs: unknown epoch 401; revoked epoch stops working after a reload", async () => {
  const s = await setup();
  expect(await s.call("POST", RUN, mint(BASE, { epoch: 3, secret: SECRET1 })), 401, "key_epoch");
  const e2 = mint(BASE, { epoch: 2 });
  assert.equal((await s.call("POST", RUN, e2)).status, 200);
  s.setFile(keyFile(1, [2]));
  s.setNow(T0 + 59_000); // not yet reloaded: still accepted
  assert.equal((await s.call("POST", RUN, e2)).status, 200);
  s.setNow(T0 + 60_000); // the interval has passed: the next request reloads
  expect(await s.call("POST", RUN, e2), 401, "key_epoch");
  assert.equal((await s.call("POST", RUN, mint(BASE))).status, 200);
  // A broken file keeps the last good keys but reports unreadable.
  s.setFile("{broken");
  s.setNow(T0 + 121_000);
  expect(await s.call("POST", RUN, e2), 401, "key_epoch");
  assert.equal(s.keyRing.status(), "unreadable");
  assert.equal((await s.call("POST", RUN, mint(BASE))).status, 200);
});
