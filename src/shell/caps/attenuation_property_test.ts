/**
 * Properties (contract §9): caveats narrow, nothing widens.
 * 1. For random v2 identifiers (any grant), random caveat chains and random appended caveats
 *    (well-formed, unknown or garbage) and random requests: verify(attenuated) ok ⇒
 *    verify(original) ok, with no more scopes and every max_runs counter of the original.
 * 2. No caveat chain at all ever lets a request through whose route scope the identifier
 *    does not grant.
 * And the v1 finding as a regression test: a token whose only caveat is `tenant = acme`,
 * with `scope = rewarder.inspect` appended by its holder, granted inspect under v1; under v2
 * its v1 identifier is refused (401), and a v2 run-only grant stays run-only.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { RewarderError } from "../../core/errors.ts";
import type { AuthContext } from "./auth_context.ts";
import { deriveRootKey, type Scope } from "./identifier.ts";
import { verifyToken } from "./verifier.ts";
import type { RequestDescription } from "./authorize.ts";
import {
  decodeMacaroonV2,
  encodeMacaroonV2,
  newMacaroonV2,
  withFirstPartyCaveat,
} from "./macaroon_v2.ts";

const SECRET = new Uint8Array(32).fill(1);
const keys = { masterSecretFor: (e: number) => Promise.resolve(e === 1 ? SECRET : undefined) };
const T = Date.UTC(2026, 10, 27);

const scopeName = fc.constantFrom<Scope>(
  "rewarder.run",
  "rewarder.inspect",
  "rewarder.quarantine",
);
const caveat: fc.Arbitrary<string> = fc.oneof(
  fc.uniqueArray(scopeName, { minLength: 1, maxLength: 3 }).map((s) => `scope = ${s.join(",")}`),
  fc.constantFrom("acme", "other").map((t) => `tenant = ${t}`),
  fc.constantFrom("e1", "e2").map((e) => `epoch_id = ${e}`),
  fc.subarray(["GET", "POST", "PUT"], { minLength: 1 }).map((m) => `method = ${m.join(",")}`),
  fc.constantFrom("/", "/rewarder/", "/rewarder/epochs/", "/rewarder/runs").map((p) =>
    `path ^= ${p}`
  ),
  fc.integer({ min: -3, max: 3 }).map((h) => `time < ${instant(T + h * 3600_000)}`),
  fc.integer({ min: -3, max: 3 }).map((h) => `time > ${instant(T + h * 3600_000)}`),
  fc.constantFrom("/rewarder/epochs/e1", "/rewarder/epochs/e", "/rewarder/runs/").map((p) =>
    `path ^= ${p}`
  ),
  fc.constantFrom("10.0.0.0/8", "10.1.0.0/16,::1/128", "192.168.0.0/24").map((r) => `ip = ${r}`),
  fc.integer({ min: 0, max: 5 }).map((n) => `max_runs = ${n}`),
  fc.constantFrom("node:a", "node:b").map((a) => `account = ${a}`),
  fc.constantFrom("svc-rewarder", "ron-ledger").map((a) => `aud = ${a}`),
  fc.constantFrom("colour = blue", "time < soon", "scope=rewarder.run", "", "ip = 10.0.0.1/8"),
  fc.string({ maxLength: 20 }),
);

const request: fc.Arbitrary<RequestDescription> = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT"),
  path: fc.constantFrom(
    "/rewarder/epochs/e1/compute",
    "/rewarder/epochs/e10",
    "/rewarder/runs/x",
    "/rewarder/quarantine",
  ),
  scope: scopeName,
  peer: fc.constantFrom(
    { transport: "tcp" as const, address: "10.1.2.3" },
    { transport: "tcp" as const, address: "::1" },
    { transport: "unix" as const },
  ),
  nowMs: fc.integer({ min: T - 4 * 3600_000, max: T + 4 * 3600_000 }),
}).chain((r) =>
  fc.record(
    {
      epochId: fc.constantFrom("e1", "e2"),
      epochOfRun: fc.boolean(),
      account: fc.constantFrom("node:a", "node:b"),
    },
    {
      requiredKeys: [],
    },
  ).map((extra) => ({ ...r, ...extra }))
);

function append(token: string, caveats: readonly string[]): string {
  let m = decodeMacaroonV2(fromBase64Url(token), 1000);
  for (const c of caveats) m = withFirstPartyCaveat(m, new TextEncoder().encode(c));
  return toBase64Url(encodeMacaroonV2(m));
}

async function outcome(
  token: string,
  req: RequestDescription,
): Promise<AuthContext | RewarderError> {
  try {
    return await verifyToken(token, req, keys, OPTIONS);
  } catch (err) {
    if (err instanceof RewarderError) return err;
    throw err;
  }
}

function instant(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Operator-tenant identifiers may grant quarantine; `acme` is the operator here. */
const OPTIONS = { operatorTenant: "acme" };

Deno.test("adding any caveat never widens what a token may do", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(scopeName, { minLength: 1, maxLength: 3 }),
      fc.array(caveat, { maxLength: 5 }),
      fc.array(caveat, { minLength: 1, maxLength: 4 }),
      request,
      async (grant, base, added, req) => {
        const original = signed(identifier(grant), base);
        const attenuated = append(original, added);
        const after = await outcome(attenuated, req);
        if (after instanceof RewarderError) return;
        const before = await outcome(original, req);
        assert.ok(
          !(before instanceof RewarderError),
          `original refused (${String((before as RewarderError).reason)}) but attenuated allowed`,
        );
        assert.ok(after.scopes.every((s) => before.scopes.includes(s)));
        for (const m of before.maxRuns) {
          assert.ok(
            after.maxRuns.some((n) => n.counterKey === m.counterKey && n.limit === m.limit),
          );
        }
        assert.equal(after.tenant, before.tenant);
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("no caveat chain grants a route scope the identifier does not", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(scopeName, { minLength: 1, maxLength: 3 }),
      fc.array(caveat, { maxLength: 8 }),
      request,
      async (grant, chain, req) => {
        const r = await outcome(signed(identifier(grant), chain), req);
        if ((grant as string[]).includes(req.scope)) return;
        assert.ok(r instanceof RewarderError, "a scope outside the identifier was granted");
        assert.equal(r.code, "UNAUTHORIZED");
        assert.equal(r.reason, "scope");
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("finding: appending `scope = rewarder.inspect` to a tenant-only token grants nothing", async () => {
  const req = {
    method: "GET",
    path: "/rewarder/runs/x",
    scope: "rewarder.inspect",
    epochOfRun: true,
    peer: { transport: "unix" as const },
    nowMs: T,
  };
  // v1 behaviour: `v1:…` with `tenant = acme`, then a holder-appended scope: inspect allowed.
  const v1 = signed(`v1:acme:1:${"00".repeat(8)}`, ["tenant = acme"]);
  const v1Widened = await outcome(append(v1, ["scope = rewarder.inspect"]), req);
  assert.ok(v1Widened instanceof RewarderError && v1Widened.code === "UNAUTHENTICATED");
  assert.equal(v1Widened.reason, "identifier");
  // v2: the grant is the identifier's; an appended scope caveat cannot add inspect.
  const runOnly = signed(identifier(["rewarder.run"]), ["tenant = acme"]);
  const widened = await outcome(append(runOnly, ["scope = rewarder.inspect"]), req);
  assert.ok(widened instanceof RewarderError && widened.code === "UNAUTHORIZED");
  assert.equal(widened.reason, "scope");
  const ok = await outcome(signed(identifier(["rewarder.inspect"]), ["tenant = acme"]), req);
  assert.ok(!(ok instanceof RewarderError));
});

function identifier(scopes: readonly Scope[]): string {
  return `v2:acme:1:${scopes.join(",")}:${"00".repeat(8)}`;
}

/** A token under any identifier, signed with the v2 root key (no mint-time checks). */
function signed(id: string, caveats: readonly string[]): string {
  const root = deriveRootKey(SECRET, "acme", 1);
  const bare = newMacaroonV2(root, new TextEncoder().encode(id));
  return append(toBase64Url(encodeMacaroonV2(bare)), caveats);
}
