/**
 * Signed policy envelopes (contract §3): `{policy, policy_hash, signatures}`. A policy is
 * usable only when its hash matches and at least `threshold` distinct trusted governance
 * kids sign `svc-rewarder/policy-sig/v1:` + policy_hash.
 *
 * @module
 */
import { z } from "zod";
import { badRequest, type Result } from "./errors.ts";
import { CID_PATTERN } from "./cid.ts";
import { KID_PATTERN } from "./ids.ts";
import { parsePolicy, type Policy, type PolicyDocument, policyHashOf } from "./policy.ts";
import { type VerifyKey, verifyStatement } from "./seal.ts";
import { schemaError } from "./zod_issue.ts";

/** Domain prefix of policy signatures. */
export const POLICY_SIG_DOMAIN = "svc-rewarder/policy-sig/v1:";

/** Most signatures an envelope may carry (bounds verification work). */
export const POLICY_SIGNATURES_MAX = 16;

/** Reference schema of a signed policy envelope. */
export const policyEnvelopeSchema = z.strictObject({
  policy: z.unknown(),
  policy_hash: z.string().regex(CID_PATTERN),
  signatures: z.array(z.strictObject({
    alg: z.literal("ed25519"),
    kid: z.string().regex(KID_PATTERN),
    sig: z.string().max(128),
  })).max(POLICY_SIGNATURES_MAX),
});

/** A policy that passed every check. */
export interface VerifiedPolicy {
  document: PolicyDocument;
  policy: Policy;
  policyHash: string;
  /** The envelope's signatures, as served by the registry. */
  signatures: { alg: "ed25519"; kid: string; sig: string }[];
}

/** Governance trust: kid → Ed25519 public key, and the threshold. */
export interface GovernanceKeys {
  threshold: number;
  keys: ReadonlyMap<string, Uint8Array>;
}

/**
 * Verifies a signed policy envelope. Reasons: `schema` (envelope or policy), `policy_hash`
 * (hash does not match the document), `unknown_kid` (a signer is not trusted),
 * `policy_signature` (a signature does not verify), `policy_threshold` (fewer than
 * `threshold` distinct trusted signers; a repeated signer counts once).
 */
export function verifyPolicyEnvelope(
  envelope: unknown,
  gov: GovernanceKeys,
): Result<VerifiedPolicy> {
  const parsed = policyEnvelopeSchema.safeParse(envelope);
  if (!parsed.success) return { ok: false, error: schemaError(parsed.error) };
  const env = parsed.data;
  const policy = parsePolicy(env.policy);
  if (!policy.ok) return policy;
  const policyHash = policyHashOf(env.policy);
  if (policyHash !== env.policy_hash) return { ok: false, error: badRequest("policy_hash") };
  const signers = new Set<string>();
  for (const sig of env.signatures) {
    const publicKey = gov.keys.get(sig.kid);
    if (!publicKey) return { ok: false, error: badRequest("unknown_kid") };
    const key: VerifyKey = { alg: "ed25519", kid: sig.kid, publicKey, status: "active" };
    if (!verifyStatement(POLICY_SIG_DOMAIN, policyHash, sig, key)) {
      return { ok: false, error: badRequest("policy_signature") };
    }
    signers.add(sig.kid);
  }
  if (signers.size < Math.max(1, gov.threshold)) {
    return { ok: false, error: badRequest("policy_threshold") };
  }
  return {
    ok: true,
    value: { ...policy.value, policyHash, signatures: env.signatures },
  };
}
