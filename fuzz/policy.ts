/**
 * Fuzz target: policy documents (contract §3) and signed policy envelopes. `parsePolicy` and
 * `verifyPolicyEnvelope` must never throw, only return typed errors; an envelope may be
 * accepted only when its policy is (canonically) the document that was signed — mutations of
 * the document, hash or signatures must never verify.
 *
 * @module
 */
import fc from "fast-check";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { RewarderError } from "../src/core/errors.ts";
import { publicKeyOf } from "../src/core/ed25519.ts";
import { parsePolicy, policyHashOf } from "../src/core/policy.ts";
import {
  type GovernanceKeys,
  POLICY_SIG_DOMAIN,
  verifyPolicyEnvelope,
} from "../src/core/policy_envelope.ts";
import { type SigningKey, signStatement } from "../src/core/seal.ts";
import { CASE_TIME_MS_MAX, type FuzzTarget, tally, withinMs } from "./_harness.ts";
import { mutatedJsonText } from "./_mutate.ts";
import { POLICY_SEEDS, policyDocument } from "./_seeds.ts";

/** One case: which parser, and the JSON text given to it. */
export interface PolicyCase {
  kind: "document" | "envelope";
  text: string;
}

/** Signed envelopes used as seeds (fixed, for reproducible regressions). */
const ENVELOPE_SEEDS_COUNT = 6;

function govKey(n: number): SigningKey & { alg: "ed25519" } {
  return { alg: "ed25519", kid: `gov-${n}`, seed: new Uint8Array(32).fill(n) };
}

/** Builds the target: signs the seed envelopes first (async). */
export async function policyTarget(): Promise<FuzzTarget<PolicyCase>> {
  const keys = [govKey(1), govKey(2)];
  const gov: GovernanceKeys = {
    threshold: 1,
    keys: new Map(keys.map((k) => [k.kid, publicKeyOf(k.seed)])),
  };
  const docs = [
    ...POLICY_SEEDS,
    ...fc.sample(policyDocument(), { numRuns: ENVELOPE_SEEDS_COUNT, seed: 42 }),
  ];
  const envelopes: unknown[] = [];
  const signedCanonical = new Map<string, string>(); // policy_hash → canonical policy
  for (const [i, policy] of docs.entries()) {
    if (!parsePolicy(policy).ok) continue;
    const policyHash = policyHashOf(policy);
    const signers = i % 3 === 0 ? keys : [keys[i % 2]!];
    const signatures = await signStatement(POLICY_SIG_DOMAIN, policyHash, signers);
    envelopes.push({ policy, policy_hash: policyHash, signatures });
    signedCanonical.set(policyHash, canonicalJson(policy));
  }
  for (const e of envelopes) {
    if (!verifyPolicyEnvelope(e, gov).ok) throw new Error("seed envelope does not verify");
  }
  const allDocs = [...docs];
  const stats: Record<string, number> = {};
  return {
    name: "policy",
    stats,
    arbitrary: fc.oneof(
      fc.record({ kind: fc.constant("document" as const), text: mutatedJsonText(allDocs) }),
      fc.record({ kind: fc.constant("envelope" as const), text: mutatedJsonText(envelopes) }),
    ),
    async check(c) {
      await withinMs(CASE_TIME_MS_MAX, `policy ${c.kind}`, () => {
        let doc: unknown;
        try {
          doc = JSON.parse(c.text);
        } catch {
          return Promise.resolve(); // not JSON: the loaders answer 400 before the parsers
        }
        if (c.kind === "document") {
          const parsed = parsePolicy(doc);
          if (!parsed.ok && !(parsed.error instanceof RewarderError)) {
            throw new Error("parsePolicy returned an untyped error");
          }
          tally(stats, parsed.ok ? "document_accepted" : "document_rejected");
          if (parsed.ok) policyHashOf(doc); // an accepted document must hash
          return Promise.resolve();
        }
        const verified = verifyPolicyEnvelope(doc, gov);
        tally(stats, verified.ok ? "envelope_accepted" : `envelope_${verified.error.reason}`);
        if (!verified.ok) {
          if (!(verified.error instanceof RewarderError)) {
            throw new Error("verifyPolicyEnvelope returned an untyped error");
          }
          return Promise.resolve();
        }
        const signed = signedCanonical.get(verified.value.policyHash);
        if (signed === undefined || signed !== canonicalJson(verified.value.document)) {
          throw new Error("a mutated policy envelope was accepted");
        }
        return Promise.resolve();
      });
    },
    encode: (c) => c,
    decode: (saved) => saved as PolicyCase,
  };
}
