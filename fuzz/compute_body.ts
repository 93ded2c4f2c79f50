/**
 * Fuzz target: `POST /rewarder/epochs/{epoch_id}/compute` bodies through the whole app
 * (every middleware, auth with a valid token, zod schema, handler, registry), in-process.
 * Generated from the sample epochs' valid bodies by structure-aware and text mutations, plus
 * hostile epoch ids and content types. Failure: a 5xx, a status outside the contract's set,
 * a non-envelope error body, or a case slower than the time bound.
 *
 * @module
 */
import fc from "fast-check";
import { errorSchema } from "../src/api/schemas.ts";
import {
  CASE_TIME_MS_MAX,
  type FuzzService,
  type FuzzTarget,
  tally,
  withinMs,
} from "./_harness.ts";
import { applyTextOps, mutatedJsonText, textOp } from "./_mutate.ts";

/** Statuses a compute request may answer with a valid token and no load (contract §8, §10). */
export const COMPUTE_STATUSES: ReadonlySet<number> = new Set([200, 400, 404, 409, 413, 415]);

/** One generated request. */
export interface ComputeCase {
  epochId: string;
  body: string;
  contentType: string;
}

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "text/plain",
  "application/json; charset=latin1",
  "",
  "multipart/form-data; boundary=x",
];

/** Percent-encodes an id for the path; lone surrogates become invalid UTF-8 (`%ED%B0%80`),
 * and pre-encoded hostile ids (`%2e%2e`, `%ff`) are sent as they are. */
function pathSegment(id: string): string {
  if (/^[A-Za-z0-9._:%-]*$/.test(id)) return id;
  return Array.from(id, (ch) => {
    try {
      return encodeURIComponent(ch);
    } catch {
      return "%ED%B0%80";
    }
  }).join("");
}

/** Builds the target over a running in-process service. */
export function computeBodyTarget(svc: FuzzService): FuzzTarget<ComputeCase> {
  const seeds = svc.samples.flatMap((s) => [
    { inputs_cid: s.inputsCid, policy_id: s.policyId, policy_hash: s.policyHash },
    {
      inputs_cid: s.inputsCid,
      policy_id: s.policyId,
      policy_hash: s.policyHash,
      dry_run: true,
      notes: "fuzz",
    },
  ]);
  const epochIds = svc.samples.map((s) => s.epochId);
  const epochId = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...epochIds) },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.constantFrom(...epochIds), fc.array(textOp, { maxLength: 2 }))
        .map(([e, ops]) => applyTextOps(e, ops)),
    },
    { weight: 1, arbitrary: fc.constantFrom("a".repeat(129), "..", "%2e%2e", "e%00", "%ff") },
  );
  const stats: Record<string, number> = {};
  return {
    name: "compute_body",
    stats,
    arbitrary: fc.record({
      epochId,
      body: mutatedJsonText(seeds),
      contentType: fc.oneof(
        { weight: 8, arbitrary: fc.constant("application/json") },
        { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
      ),
    }),
    async check(c) {
      const path = `/rewarder/epochs/${pathSegment(c.epochId)}/compute`;
      await withinMs(CASE_TIME_MS_MAX, "compute request", async () => {
        const headers: Record<string, string> = { authorization: `Macaroon ${svc.token}` };
        if (c.contentType !== "") headers["content-type"] = c.contentType;
        const res = await svc.request(path, { method: "POST", headers, body: c.body });
        const text = await res.text();
        tally(stats, res.status);
        if (!COMPUTE_STATUSES.has(res.status)) {
          throw new Error(`status ${res.status} outside the contract set: ${text.slice(0, 300)}`);
        }
        if (res.status !== 200) {
          let doc: unknown;
          try {
            doc = JSON.parse(text);
          } catch {
            throw new Error(`status ${res.status} with a non-JSON body`);
          }
          if (!errorSchema.safeParse(doc).success) {
            throw new Error(
              `status ${res.status} without the error envelope: ${text.slice(0, 300)}`,
            );
          }
        }
      });
    },
    encode: (c) => c,
    decode: (saved) => saved as ComputeCase,
  };
}
