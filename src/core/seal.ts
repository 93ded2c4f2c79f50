/**
 * Sealing (contract §6): the manifest hash signed with the service's Ed25519 key and,
 * optionally, a deterministic ML-DSA-65 key (FIPS 204, hedging off). Verification against a
 * published key set, across rotations.
 *
 * A signature signs the ASCII bytes `svc-rewarder/manifest-sig/v1:` + manifest_hash.
 *
 * @module
 */
import { ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";
import { fromBase64Url, toBase64Url } from "./base64url.ts";
import { signEd25519, verifyEd25519 } from "./ed25519.ts";
import { badRequest, type Result } from "./errors.ts";
import { checkManifestArithmetic, manifestHashOf } from "./manifest.ts";
import type { Manifest, SealedEnvelope, Signature } from "./types.ts";

/** Domain prefix of manifest signatures. */
export const MANIFEST_SIG_DOMAIN = "svc-rewarder/manifest-sig/v1:";

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

/** Seals a manifest: hash it, sign it. Requires at least one Ed25519 key. */
export async function sealManifest(
  manifest: Manifest,
  keys: readonly SigningKey[],
  manifestHash: string = manifestHashOf(manifest),
): Promise<SealedEnvelope> {
  if (!keys.some((k) => k.alg === "ed25519")) {
    throw new TypeError("Cannot seal manifest: no Ed25519 signing key");
  }
  const signatures = await signStatement(MANIFEST_SIG_DOMAIN, manifestHash, keys);
  return { manifest, manifest_hash: manifestHash, signatures };
}

/** Options of {@link verifyEnvelope}. */
export interface VerifyOptions {
  /** Demand an ML-DSA-65 signature besides Ed25519 (REQUIRE_PQ_ON). */
  requirePq?: boolean;
}

/**
 * Verifies a sealed envelope: the hash recomputed from the manifest, the manifest's own
 * arithmetic, and every signature against a known, non-revoked key; at least one Ed25519
 * signature (and one ML-DSA-65 with `requirePq`). Reasons: `manifest_hash`, `arithmetic`,
 * `unknown_kid`, `revoked_kid`, `bad_signature`, `no_signature`, `pq_required`.
 */
export function verifyEnvelope(
  envelope: SealedEnvelope,
  keys: readonly VerifyKey[],
  options: VerifyOptions = {},
): Result<void> {
  if (manifestHashOf(envelope.manifest) !== envelope.manifest_hash) {
    return { ok: false, error: badRequest("manifest_hash") };
  }
  try {
    checkManifestArithmetic(envelope.manifest);
  } catch {
    return { ok: false, error: badRequest("arithmetic") };
  }
  const seen = new Set<string>();
  for (const sig of envelope.signatures) {
    const key = keys.find((k) => k.kid === sig.kid && k.alg === sig.alg);
    if (!key) return { ok: false, error: badRequest("unknown_kid") };
    if (key.status === "revoked") return { ok: false, error: badRequest("revoked_kid") };
    if (!verifyStatement(MANIFEST_SIG_DOMAIN, envelope.manifest_hash, sig, key)) {
      return { ok: false, error: badRequest("bad_signature") };
    }
    seen.add(sig.alg);
  }
  if (!seen.has("ed25519")) return { ok: false, error: badRequest("no_signature") };
  if (options.requirePq && !seen.has("ml-dsa-65")) {
    return { ok: false, error: badRequest("pq_required") };
  }
  return { ok: true, value: undefined };
}
