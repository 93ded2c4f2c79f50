/**
 * The page's verification: the service's own verifiers from `src/core` (bundled, so the
 * browser runs the same code as `rewarder verify`), plus a second, independent check of every
 * Ed25519 signature with the browser's WebCrypto. A verdict is valid only when every check
 * that ran holds.
 *
 * What the browser cannot check is said by {@link CANNOT_CHECK}.
 *
 * @module
 */
import { z } from "zod";
import { fromBase64Url } from "../../src/core/base64url.ts";
import { KID_PATTERN } from "../../src/core/ids.ts";
import { headerHashOf, manifestHashOf } from "../../src/core/manifest.ts";
import { merkleRootPacked, packedLeavesOf, toHex } from "../../src/core/merkle.ts";
import { verifyProofDocument } from "../../src/core/proof.ts";
import { manifestSigDomainOf, verifyEnvelope, type VerifyKey } from "../../src/core/seal.ts";
import { MANIFEST_SIG_DOMAIN_V2 } from "../../src/core/seal.ts";
import { parseStrictJson } from "../../src/core/strict_json.ts";
import type { ProofDocumentV2, SealedEnvelope, Signature } from "../../src/core/types.ts";

/** What the page does not establish, said plainly on the page. */
export const CANNOT_CHECK: readonly string[] = [
  "ML-DSA-65 signatures by the browser's own cryptography: WebCrypto has no ML-DSA, so a " +
  "listed ml-dsa-65 signature is checked only by the bundled JavaScript verifier of src/core " +
  "(Ed25519 signatures are checked by both).",
  "That the keys are the service's: they come from the same origin as the envelope. Compare " +
  "the key ids and public keys with the ones your organisation pinned.",
  "That the allocation follows from the inputs and the policy: the page has neither. Run " +
  "`rewarder verify` and a recompute with the inputs snapshot and the signed policy.",
  "That the ledger applied the transfers.",
];

/** One line of the checks list; `ok: null` means not checked (and says why in `detail`). */
export interface Check {
  name: string;
  ok: boolean | null;
  detail: string;
}

/** The outcome of verifying a document. */
export interface Report<T> {
  ok: boolean;
  checks: Check[];
  value: T | undefined;
}

const keysSchema = z.object({
  keys: z.array(z.object({
    kid: z.string().regex(KID_PATTERN),
    alg: z.enum(["ed25519", "ml-dsa-65"]),
    public_key: z.string().regex(/^[A-Za-z0-9_-]*$/),
    use: z.literal("manifest").optional(),
    status: z.enum(["active", "retired", "revoked"]).optional(),
  })).max(256),
});

/** Parses a published keys document (`GET /rewarder/keys`, contract §10); null when malformed. */
export function keysOf(doc: unknown): VerifyKey[] | null {
  const parsed = keysSchema.safeParse(doc);
  if (!parsed.success) return null;
  return parsed.data.keys.map((k) => ({
    kid: k.kid,
    alg: k.alg,
    publicKey: fromBase64Url(k.public_key),
    status: k.status ?? "active",
  }));
}

/** Parses JSON bytes as the service does (contract §1, I-JSON); null when refused. */
export function strictJsonOf(bytes: Uint8Array): unknown | null {
  const parsed = parseStrictJson(bytes);
  return parsed.ok ? parsed.value : null;
}

async function webCryptoCheck(
  domain: string,
  hash: string,
  signatures: readonly Signature[],
  keys: readonly VerifyKey[],
): Promise<Check> {
  const name = "Ed25519 signatures (browser WebCrypto)";
  const message = new TextEncoder().encode(domain + hash);
  let verified = 0;
  for (const sig of signatures.filter((s) => s.alg === "ed25519")) {
    const key = keys.find((k) => k.kid === sig.kid && k.alg === "ed25519");
    if (key === undefined) return { name, ok: false, detail: `kid ${sig.kid} is not published` };
    try {
      const imported = await crypto.subtle.importKey(
        "raw",
        new Uint8Array(key.publicKey),
        { name: "Ed25519" },
        false,
        ["verify"],
      );
      const good = await crypto.subtle.verify(
        { name: "Ed25519" },
        imported,
        new Uint8Array(fromBase64Url(sig.sig)),
        message,
      );
      if (!good) return { name, ok: false, detail: `signature by ${sig.kid} does not verify` };
      verified += 1;
    } catch (err) {
      if (err instanceof DOMException && err.name === "NotSupportedError") {
        return { name, ok: null, detail: "this browser has no Ed25519 in WebCrypto" };
      }
      return { name, ok: false, detail: `signature by ${sig.kid} is malformed` };
    }
  }
  return verified > 0
    ? { name, ok: true, detail: `${verified} verified over "${domain}<manifest_hash>"` }
    : { name, ok: false, detail: "no Ed25519 signature" };
}

function verdict<T>(checks: Check[], value: T | undefined): Report<T> {
  return { ok: checks.length > 0 && checks.every((c) => c.ok !== false), checks, value };
}

/**
 * Verifies a sealed envelope: the contract's validity rule by `verifyEnvelope` (src/core),
 * the header hash and the payouts root recomputed here for display, the epoch asked for,
 * and the Ed25519 signatures again through WebCrypto.
 */
export async function verifyEnvelopeReport(
  doc: unknown,
  keys: readonly VerifyKey[],
  expectedEpochId?: string,
): Promise<Report<SealedEnvelope>> {
  const checks: Check[] = [];
  const core = verifyEnvelope(doc, keys);
  checks.push({
    name: "envelope validity (contract §6, src/core verifyEnvelope)",
    ok: core.ok,
    detail: core.ok
      ? "members, sums, payouts root, hash and signature rule hold"
      : `${core.error.reason}${core.error.path === undefined ? "" : ` at ${core.error.path}`}`,
  });
  if (!core.ok) return verdict<SealedEnvelope>(checks, undefined);
  const envelope = doc as SealedEnvelope;
  const m = envelope.manifest;
  const root = "b3:" + toHex(merkleRootPacked(packedLeavesOf(m.payouts), m.payouts.length));
  checks.push({
    name: "payouts root (BLAKE3, WebAssembly)",
    ok: root === m.payouts_root,
    detail: `${m.payouts.length} leaves rebuild ${root}`,
  });
  const hash = manifestHashOf(m);
  checks.push({
    name: m.schema === "svc-rewarder.manifest.v1"
      ? "manifest hash (v1: whole manifest)"
      : "header hash (v2: manifest without payouts)",
    ok: hash === envelope.manifest_hash,
    detail: hash,
  });
  if (expectedEpochId !== undefined) {
    checks.push({
      name: "epoch asked for",
      ok: m.epoch_id === expectedEpochId,
      detail: `envelope names epoch ${m.epoch_id}`,
    });
  }
  checks.push(
    await webCryptoCheck(
      manifestSigDomainOf(m.schema),
      envelope.manifest_hash,
      envelope.signatures,
      keys,
    ),
  );
  return verdict(checks, envelope);
}

/**
 * Verifies a proof document (contract §6) with `verifyProofDocument` (src/core), then that
 * it names the account asked for and, when the envelope is known, that envelope's hash; the
 * Ed25519 signatures again through WebCrypto.
 */
export async function verifyProofReport(
  doc: unknown,
  keys: readonly VerifyKey[],
  account: string,
  envelope: SealedEnvelope | undefined,
): Promise<Report<ProofDocumentV2>> {
  const checks: Check[] = [];
  const core = verifyProofDocument(doc, keys);
  checks.push({
    name: "proof validity (contract §6, src/core verifyProofDocument)",
    ok: core.ok,
    detail: core.ok
      ? "leaf, index, path, root, header hash and signature rule hold"
      : `${core.error.reason}${core.error.path === undefined ? "" : ` at ${core.error.path}`}`,
  });
  if (!core.ok) return verdict<ProofDocumentV2>(checks, undefined);
  const p = core.value;
  checks.push({ name: "account asked for", ok: p.account === account, detail: p.account });
  if (envelope !== undefined) {
    checks.push({
      name: "same manifest as the envelope",
      ok: p.manifest_hash === envelope.manifest_hash,
      detail: p.manifest_hash,
    });
  }
  if (!("schema" in p)) {
    checks.push({ name: "proof schema", ok: null, detail: "v1 proof: no header to bind" });
    return verdict<ProofDocumentV2>(checks, undefined);
  }
  checks.push({
    name: "header hash of the proof",
    ok: headerHashOf(p.header) === p.manifest_hash,
    detail: headerHashOf(p.header),
  });
  checks.push(await webCryptoCheck(MANIFEST_SIG_DOMAIN_V2, p.manifest_hash, p.signatures, keys));
  return verdict(checks, p);
}
