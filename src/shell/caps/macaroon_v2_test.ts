/** Differential tests of our V2 codec/chain against the `macaroon` npm package (≤ 3 caveats:
 * its exporter doubles its buffer per append, see macaroon_v2.ts). */
import assert from "node:assert/strict";
import macaroonPkg from "macaroon";
import {
  decodeMacaroonV2,
  encodeMacaroonV2,
  newMacaroonV2,
  verifyChainV2,
  withFirstPartyCaveat,
} from "./macaroon_v2.ts";

const enc = new TextEncoder();
// deno-lint-ignore no-explicit-any
const pkg = macaroonPkg as any;

Deno.test("same bytes and signature as the macaroon npm package; it verifies ours", () => {
  const root = new Uint8Array(32).map((_, i) => i);
  const caveats = ["tenant = acme", "scope = rewarder.run", "time < 2026-12-01T00:00:00Z"];
  const theirs = pkg.newMacaroon({
    identifier: "v1:acme:1:00112233445566778899",
    rootKey: root,
    version: 2,
  });
  let ours = newMacaroonV2(root, enc.encode("v1:acme:1:00112233445566778899"));
  for (const c of caveats) {
    theirs.addFirstPartyCaveat(c);
    ours = withFirstPartyCaveat(ours, enc.encode(c));
  }
  const bytes = encodeMacaroonV2(ours);
  assert.deepEqual(bytes, new Uint8Array(theirs.exportBinary()));
  const back = pkg.importMacaroon(bytes);
  back.verify(root, () => null);
  assert.throws(() => back.verify(new Uint8Array(32), () => null));
  assert.ok(verifyChainV2(decodeMacaroonV2(bytes, 64), root));
  assert.ok(!verifyChainV2(decodeMacaroonV2(bytes, 64), new Uint8Array(32)));
});

Deno.test("decoder: strict framing", () => {
  const m = encodeMacaroonV2(newMacaroonV2(new Uint8Array(32), enc.encode("id")));
  assert.throws(() => decodeMacaroonV2(Uint8Array.of(...m, 0), 64)); // trailing byte
  assert.throws(() => decodeMacaroonV2(m.slice(0, -1), 64)); // truncated signature
  assert.throws(() => decodeMacaroonV2(Uint8Array.of(1, ...m.slice(1)), 64)); // version
  const two = encodeMacaroonV2(
    withFirstPartyCaveat(
      withFirstPartyCaveat(decodeMacaroonV2(m, 64), enc.encode("a")),
      enc.encode("b"),
    ),
  );
  assert.throws(() => decodeMacaroonV2(two, 1), RangeError);
  const withLocation = { ...decodeMacaroonV2(m, 64), location: enc.encode("https://x") };
  assert.deepEqual(
    decodeMacaroonV2(encodeMacaroonV2(withLocation), 64).location,
    enc.encode("https://x"),
  );
});
