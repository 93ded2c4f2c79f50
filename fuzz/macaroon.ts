/**
 * Fuzz target: capability tokens (contract §9). Byte mutations (flip, set, insert, delete,
 * truncate, duplicate) of valid V2 macaroons — the minted token and attenuations of it — and
 * text mutations of their base64url, sent as `Authorization` to a protected route of the
 * in-process app. Failure: any status but 200/401/403 (or 429 with Retry-After, the anonymous
 * peer bucket); a 200 for a token that is not
 * (logically) one we issued or attenuated; a 200 for an attenuation whose caveats do not hold.
 *
 * @module
 */
import fc from "fast-check";
import { fromBase64Url, toBase64Url } from "../src/core/base64url.ts";
import { attenuateToken } from "../src/shell/caps/mint.ts";
import { decodeToken } from "../src/shell/caps/token_codec.ts";
import {
  CASE_TIME_MS_MAX,
  type FuzzService,
  type FuzzTarget,
  tally,
  withinMs,
} from "./_harness.ts";
import { applyByteOps, applyTextOps, byteOp, type TextOp, textOp } from "./_mutate.ts";

/** Caveats appended by attenuations, and whether each holds for the fuzzed request
 * (`GET /rewarder/runs?epoch_id=interop-epoch-1` from 127.0.0.1, now). */
const CAVEATS: readonly { text: string; holds: boolean }[] = [
  { text: "scope = rewarder.inspect", holds: true },
  { text: "scope = rewarder.run", holds: false },
  { text: "tenant = dev", holds: true },
  { text: "tenant = other", holds: false },
  { text: "time < 2099-01-01T00:00:00Z", holds: true },
  { text: "time < 2000-01-01T00:00:00Z", holds: false },
  { text: "method = GET", holds: true },
  { text: "method = POST", holds: false },
  { text: "epoch_id = interop-epoch-1", holds: true },
  { text: "epoch_id = other", holds: false },
  { text: "ip = 127.0.0.1/32", holds: true },
  { text: "ip = 10.0.0.0/8", holds: false },
  { text: "aud = svc-rewarder", holds: true },
];

/** One case: the base token (index into the issued list) and its mutations. */
export interface MacaroonCase {
  caveats: number[];
  bytes: { kind: string; at: number; byte: number; len: number }[];
  text: { kind: string; at: number; len: number; fragment: number }[];
  scheme: string;
}

const REQUEST_PATH = "/rewarder/runs?epoch_id=interop-epoch-1";

/** The token text a case sends (deterministic from the case). */
export function tokenOf(original: string, c: MacaroonCase): { base: string; sent: string } {
  const base = c.caveats.length === 0
    ? original
    : attenuateToken(original, c.caveats.map((i) => CAVEATS[i % CAVEATS.length]!.text));
  const mutated = applyByteOps(fromBase64Url(base), c.bytes as Parameters<typeof applyByteOps>[1]);
  const sent = applyTextOps(toBase64Url(mutated), c.text as Parameters<typeof applyTextOps>[1]);
  return { base, sent };
}

function logical(token: string): string {
  const m = decodeToken(token);
  return JSON.stringify([
    toBase64Url(m.identifier),
    m.caveats.map((cv) => [toBase64Url(cv.identifier), cv.vid && toBase64Url(cv.vid)]),
    toBase64Url(m.signature),
  ]);
}

/** Builds the target over a running in-process service. */
export function macaroonTarget(svc: FuzzService): FuzzTarget<MacaroonCase> {
  const original = svc.token;
  const stats: Record<string, number> = {};
  return {
    name: "macaroon",
    stats,
    arbitrary: fc.record({
      caveats: fc.array(fc.nat({ max: CAVEATS.length - 1 }), { maxLength: 3 }),
      bytes: fc.array(byteOp, { maxLength: 3 }),
      text: fc.oneof(
        { weight: 5, arbitrary: fc.constant<TextOp[]>([]) },
        { weight: 1, arbitrary: fc.array(textOp, { maxLength: 2 }) },
      ),
      scheme: fc.constantFrom("Macaroon", "Macaroon", "Bearer", "macaroon", "Basic"),
    }),
    async check(c) {
      const { base, sent } = tokenOf(original, c);
      await withinMs(CASE_TIME_MS_MAX, "token check", async () => {
        let header = `${c.scheme} ${sent}`;
        if (/[^\x20-\x7e]/.test(header)) header = header.replace(/[^\x20-\x7e]/g, "?");
        const res = await svc.request(REQUEST_PATH, {
          method: "GET",
          headers: { authorization: header },
        });
        await res.body?.cancel();
        tally(stats, res.status);
        // 429 + Retry-After: a token that does not verify is charged to its peer's anonymous
        // bucket after authentication (docs/ARCHITECTURE.md, "Order of the middleware"), and a
        // fuzzer empties it; the token was still verified first.
        const limited = res.status === 429 && res.headers.get("retry-after") !== null;
        if (res.status !== 200 && res.status !== 401 && res.status !== 403 && !limited) {
          throw new Error(`status ${res.status} for a mutated token`);
        }
        if (res.status !== 200) return;
        if (c.scheme === "Basic") throw new Error("200 under the Basic scheme");
        let got: string;
        try {
          got = logical(sent);
        } catch {
          throw new Error("200 for a token that does not decode");
        }
        if (got !== logical(base) && got !== logical(original)) {
          throw new Error("200 for a token that is neither issued nor an attenuation");
        }
        if (got === logical(base)) {
          const failing = c.caveats.filter((i) => !CAVEATS[i % CAVEATS.length]!.holds);
          if (failing.length > 0) throw new Error("200 although an attenuation caveat fails");
        }
      });
    },
    encode: (c) => c,
    decode: (saved) => saved as MacaroonCase,
  };
}
