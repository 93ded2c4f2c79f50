/**
 * Sealing (contract §6): the manifest hash signed with the service's Ed25519 key and,
 * optionally, a deterministic ML-DSA-65 key (FIPS 204, hedging off). Verification against a
 * published key set, across rotations.
 *
 * A signature signs the ASCII bytes `svc-rewarder/manifest-sig/v2:` + manifest_hash for a v2
 * manifest, `svc-rewarder/manifest-sig/v1:` + manifest_hash for a v1 one.
 *
 * @module
 */
import { ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";
import { fromBase64Url, toBase64Url } from "./base64url.ts";
import { signEd25519, verifyEd25519 } from "./ed25519.ts";
import { badRequest, type Result } from "./errors.ts";
import { KID_PATTERN } from "./ids.ts";
import { MANIFEST_SCHEMA_V1, manifestHashOf } from "./manifest.ts";
import { manifestProblem } from "./manifest_check.ts";
import type { Manifest, ManifestSchema, SealedEnvelope, Signature } from "./types.ts";

/** Statement prefix of v2 manifest signatures (contract §6). */
export const MANIFEST_SIG_DOMAIN_V2 = "svc-rewarder/manifest-sig/v2:";
/** Statement prefix of v1 manifest signatures (still verified). */
export const MANIFEST_SIG_DOMAIN_V1 = "svc-rewarder/manifest-sig/v1:";
/** Statement prefix of what this engine seals (v2). */
export const MANIFEST_SIG_DOMAIN = MANIFEST_SIG_DOMAIN_V2;

/**
 * The statement prefix of a manifest schema: v1 for `svc-rewarder.manifest.v1`, v2 otherwise.
 *
 * @example
 * ```ts
 * manifestSigDomainOf(envelope.manifest.schema) + envelope.manifest_hash; // the signed bytes
 * ```
 */
export function manifestSigDomainOf(schema: ManifestSchema): string {
  return schema === MANIFEST_SCHEMA_V1 ? MANIFEST_SIG_DOMAIN_V1 : MANIFEST_SIG_DOMAIN_V2;
}

/** A private signing key held in memory. */
export type SigningKey =
  | { alg: "ed25519"; kid: string; seed: Uint8Array }
  | { alg: "ml-dsa-65"; kid: string; secretKey: Uint8Array };

/** A published verification key (contract §10 `/rewarder/keys`). */
export interface VerifyKey {
  alg: "ed25519" | "ml-dsa-65";
  kid: string;
  publicKey: Uint8Array;
  status: "active" | "retired" | "revoked";
}

const encoder = new TextEncoder();

/** Signs `domain + hash` with every key, Ed25519 signatures first. */
export async function signStatement(
  domain: string,
  hash: string,
  keys: readonly SigningKey[],
): Promise<Signature[]> {
  const message = encoder.encode(domain + hash);
  const ordered = [...keys].sort((a, b) => (a.alg === b.alg ? 0 : a.alg === "ed25519" ? -1 : 1));
  const out: Signature[] = [];
  for (const key of ordered) {
    const sig = key.alg === "ed25519"
      ? await signEd25519(key.seed, message)
      : ml_dsa65.sign(message, key.secretKey, { extraEntropy: false });
    out.push({ alg: key.alg, kid: key.kid, sig: toBase64Url(sig) });
  }
  return out;
}

/** Checks one signature of `domain + hash` against `key`. */
export function verifyStatement(
  domain: string,
  hash: string,
  sig: Signature,
  key: VerifyKey,
): boolean {
  if (key.alg !== sig.alg || key.kid !== sig.kid) return false;
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(sig.sig);
  } catch {
    return false;
  }
  const message = encoder.encode(domain + hash);
  if (sig.alg === "ed25519") return verifyEd25519(key.publicKey, message, bytes);
  try {
    return ml_dsa65.verify(bytes, message, key.publicKey);
  } catch {
    return false;
  }
}

/**
 * Seals a manifest: hash it, sign it over the statement of its schema. Requires at least one
 * Ed25519 key. Pass `manifestHash` when it is already known (compute returns it).
 */
export async function sealManifest(
  manifest: Manifest,
  keys: readonly SigningKey[],
  manifestHash: string = manifestHashOf(manifest),
): Promise<SealedEnvelope> {
  if (!keys.some((k) => k.alg === "ed25519")) {
    throw new TypeError("Cannot seal manifest: no Ed25519 signing key");
  }
  const domain = manifestSigDomainOf(manifest.schema);
  const signatures = await signStatement(domain, manifestHash, keys);
  return { manifest, manifest_hash: manifestHash, signatures };
}

/** Options of {@link verifyEnvelope} and the proof verifiers. */
export interface VerifyOptions {
  /** Demand an ML-DSA-65 signature besides Ed25519 (REQUIRE_PQ_ON). */
  requirePq?: boolean;
}

const SIGNATURES_MAX = 16;
const SIGNATURE_KEYS = ["alg", "kid", "sig"];

/** True when `value` is a list of well-formed `{alg, kid, sig}` members (and nothing else). */
export function isSignatureList(value: unknown): value is Signature[] {
  if (!Array.isArray(value) || value.length > SIGNATURES_MAX) return false;
  return value.every((s) =>
    typeof s === "object" && s !== null && !Array.isArray(s) &&
    Object.keys(s).length === 3 && SIGNATURE_KEYS.every((k) => Object.hasOwn(s, k)) &&
    (s.alg === "ed25519" || s.alg === "ml-dsa-65") &&
    typeof s.kid === "string" && KID_PATTERN.test(s.kid) && typeof s.sig === "string"
  );
}

/**
 * The signature rule (contract §6): at least one `ed25519` signature by a published kid
 * (`active` or `retired`) verifies over `domain + hash`, and no listed signature fails. A
 * signature by a kid not in `keys`, or by a revoked kid, counts as failing (fail closed).
 * With `requirePq`, one `ml-dsa-65` signature must verify too. Reasons: `schema`,
 * `unknown_kid`, `revoked_kid`, `bad_signature`, `no_signature`, `pq_required`.
 */
export function checkSignatureRule(
  domain: string,
  hash: string,
  signatures: unknown,
  keys: readonly VerifyKey[],
  options: VerifyOptions = {},
): Result<void> {
  if (!isSignatureList(signatures)) {
    return { ok: false, error: badRequest("schema", "signatures") };
  }
  const seen = new Set<string>();
  for (const sig of signatures) {
    const key = keys.find((k) => k.kid === sig.kid && k.alg === sig.alg);
    if (!key) return { ok: false, error: badRequest("unknown_kid", "signatures") };
    if (key.status === "revoked") {
      return { ok: false, error: badRequest("revoked_kid", "signatures") };
    }
    if (!verifyStatement(domain, hash, sig, key)) {
      return { ok: false, error: badRequest("bad_signature", "signatures") };
    }
    seen.add(sig.alg);
  }
  if (!seen.has("ed25519")) return { ok: false, error: badRequest("no_signature", "signatures") };
  if (options.requirePq && !seen.has("ml-dsa-65")) {
    return { ok: false, error: badRequest("pq_required", "signatures") };
  }
  return { ok: true, value: undefined };
}

/**
 * The envelope checks of contract §6 without the signatures: exactly the three members, a
 * valid manifest in its own schema, and `manifest_hash` recomputed. {@link verifyEnvelope} runs
 * these first; a tool comparing envelopes without the keys (`rewarder diff`) runs only these.
 */
export function checkEnvelopeUnsigned(envelope: unknown): Result<SealedEnvelope> {
  if (
    typeof envelope !== "object" || envelope === null || Array.isArray(envelope) ||
    Object.keys(envelope).length !== 3 || !Object.hasOwn(envelope, "manifest") ||
    !Object.hasOwn(envelope, "manifest_hash") || !Object.hasOwn(envelope, "signatures")
  ) {
    return { ok: false, error: badRequest("schema", "$") };
  }
  const e = envelope as SealedEnvelope;
  const problem = manifestProblem(e.manifest);
  if (problem !== null) {
    const path = problem.path === undefined ? undefined : problem.path.replace(/^\$/, "manifest");
    return { ok: false, error: badRequest(problem.reason, path) };
  }
  if (manifestHashOf(e.manifest) !== e.manifest_hash) {
    return { ok: false, error: badRequest("manifest_hash", "manifest_hash") };
  }
  return { ok: true, value: e };
}

/**
 * Verifies a sealed envelope in its own schema (contract §6 "Validity of an envelope"): the
 * envelope has exactly `manifest`, `manifest_hash`, `signatures`; the manifest is valid
 * (exact members, ascending payouts with canonical amounts > 0, `payouts_root` rebuilt,
 * recipients and sums); `manifest_hash` is its hash (v2: over the header; v1: over the whole
 * manifest); and the signature rule holds over the schema's statement. Reasons: `schema`,
 * `arithmetic`, `payouts_root`, `manifest_hash`, and those of {@link checkSignatureRule}.
 * Takes `unknown`: envelopes come from files, stores and origins.
 *
 * @example
 * ```ts
 * const checked = verifyEnvelope(JSON.parse(text), keys, { requirePq: false });
 * if (!checked.ok) console.error(checked.error.reason);
 * ```
 */
export function verifyEnvelope(
  envelope: unknown,
  keys: readonly VerifyKey[],
  options: VerifyOptions = {},
): Result<void> {
  const unsigned = checkEnvelopeUnsigned(envelope);
  if (!unsigned.ok) return unsigned;
  const e = unsigned.value;
  const domain = manifestSigDomainOf(e.manifest.schema);
  return checkSignatureRule(domain, e.manifest_hash, e.signatures, keys, options);
}
