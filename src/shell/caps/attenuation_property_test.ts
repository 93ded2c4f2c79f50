/**
 * Property (issue 4): adding any caveat never widens what a token may do. For random
 * tokens, random appended caveats (well-formed, unknown or garbage) and random requests:
 * verify(attenuated) ok ⇒ verify(original) ok, with no more scopes and every max_runs
 * counter of the original still present (so attenuation cannot reset a count).
 *
 * One exception is inherent in contract §9 and tested separately below: a token with NO
 * scope caveat "grants nothing", yet its holder can append `scope = …` and gain that
 * scope. Macaroon verification cannot tell minter caveats from holder caveats, so a
 * scope-less token is as strong as an all-scopes token; `mintToken` therefore refuses to
 * mint one, and the property is stated for tokens carrying at least one scope caveat.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { RewarderError } from "../../core/errors.ts";
import type { AuthContext } from "../../../middleware/context.ts";
import { mintToken } from "./mint.ts";
import { deriveRootKey } from "./identifier.ts";
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

const scopeName = fc.constantFrom("rewarder.run", "rewarder.inspect", "rewarder.quarantine");
const caveat: fc.Arbitrary<string> = fc.oneof(
  fc.uniqueArray(scopeName, { minLength: 1, maxLength: 3 }).map((s) => `scope = ${s.join(",")}`),
  fc.constantFrom("acme", "other").map((t) => `tenant = ${t}`),
  fc.constantFrom("e1", "e2").map((e) => `epoch_id = ${e}`),
  fc.subarray(["GET", "POST", "PUT"], { minLength: 1 }).map((m) => `method = ${m.join(",")}`),
  fc.constantFrom("/", "/rewarder/", "/rewarder/epochs/", "/rewarder/runs").map((p) =>
    `path ^= ${p}`
  ),
  fc.integer({ min: -3, max: 3 }).map((h) => `time < ${new Date(T + h * 3600_000).toISOString()}`),
  fc.integer({ min: -3, max: 3 }).map((h) => `time > ${new Date(T + h * 3600_000).toISOString()}`),
  fc.constantFrom("10.0.0.0/8", "10.1.0.0/16,::1/128", "192.168.0.0/24").map((r) => `ip = ${r}`),
  fc.integer({ min: 0, max: 5 }).map((n) => `max_runs = ${n}`),
  fc.constantFrom("node:a", "node:b").map((a) => `account = ${a}`),
  fc.constantFrom("svc-rewarder", "ron-ledger").map((a) => `aud = ${a}`),
  fc.constantFrom("colour = blue", "time < soon", "scope=rewarder.run", "", "ip = 10.0.0.1/8"),
  fc.string({ maxLength: 20 }),
);

const request: fc.Arbitrary<RequestDescription> = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT"),
  path: fc.constantFrom("/rewarder/epochs/e1/compute", "/rewarder/runs/x", "/rewarder/quarantine"),
  scope: scopeName,
  peer: fc.constantFrom(
    { transport: "tcp" as const, address: "10.1.2.3" },
    { transport: "tcp" as const, address: "::1" },
    { transport: "unix" as const },
  ),
  nowMs: fc.integer({ min: T - 4 * 3600_000, max: T + 4 * 3600_000 }),
}).chain((r) =>
  fc.record(
    { epochId: fc.constantFrom("e1", "e2"), account: fc.constantFrom("node:a", "node:b") },
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
    return await verifyToken(token, req, keys);
  } catch (err) {
    if (err instanceof RewarderError) return err;
    throw err;
  }
}

Deno.test("adding any caveat never widens what a token may do", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(caveat, { maxLength: 5 }),
      fc.uniqueArray(scopeName, { minLength: 1, maxLength: 3 }),
      fc.nat({ max: 5 }),
      fc.array(caveat, { minLength: 1, maxLength: 4 }),
      request,
      async (rest, scopes, at, added, req) => {
        const base = [...rest];
        base.splice(Math.min(at, base.length), 0, `scope = ${scopes.join(",")}`);
        const original = mintTokenUnchecked(base);
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

Deno.test("the §9 exception: a scope-less token can be widened by its holder, so none is minted", async () => {
  const bare = mintTokenUnchecked(["tenant = acme"]);
  const req = {
    method: "GET",
    path: "/rewarder/runs/x",
    scope: "rewarder.inspect",
    peer: { transport: "unix" as const },
    nowMs: T,
  };
  assert.ok((await outcome(bare, req)) instanceof RewarderError);
  assert.ok(
    !((await outcome(append(bare, ["scope = rewarder.inspect"]), req)) instanceof RewarderError),
  );
  assert.throws(
    () =>
      mintToken({
        masterSecret: SECRET,
        tenant: "acme",
        keyEpoch: 1,
        nonceHex: "00".repeat(8),
        caveats: ["tenant = acme"],
      }),
    /scope/,
  );
});

function mintTokenUnchecked(caveats: string[]): string {
  const root = deriveRootKey(SECRET, "acme", 1);
  const bare = newMacaroonV2(root, new TextEncoder().encode("v1:acme:1:" + "00".repeat(8)));
  return append(toBase64Url(encodeMacaroonV2(bare)), caveats);
}
