/**
 * Payout proof documents (contract §6): what the proof route answers and what `verify-proof`
 * reads. A v2 document (`svc-rewarder.proof.v2`) carries the manifest's header, so one
 * recipient's payout verifies with the published keys alone: leaf → path → `payouts_root`
 * (in the header) → BLAKE3(JCS(header)) = `manifest_hash` → signatures. A v1 envelope keeps
 * the v1 shape (no `schema`, no `index`, no header), whose root is not bound to the hash.
 *
 * @module
 */
import { z } from "zod";
import { badRequest, type Result } from "./errors.ts";
import { ACCOUNT_PATTERN } from "./ids.ts";
import { JSON_INT_MAX } from "./limits.ts";
import { headerProblem } from "./manifest_check.ts";
import {
  headerHashOf,
  MANIFEST_SCHEMA_V1,
  MANIFEST_SCHEMA_V2,
  manifestHeaderOf,
} from "./manifest.ts";
import {
  expectedProofSides,
  leafHash,
  merkleProofPacked,
  packedLeavesOf,
  rootFromProof,
  toHex,
} from "./merkle.ts";
import { isMoney } from "./money.ts";
import {
  checkSignatureRule,
  MANIFEST_SIG_DOMAIN_V1,
  MANIFEST_SIG_DOMAIN_V2,
  type VerifyKey,
  type VerifyOptions,
} from "./seal.ts";
import type { ManifestHeader, ProofDocumentV1, ProofDocumentV2, SealedEnvelope } from "./types.ts";

/** Schema name of v2 proof documents (contract §6). */
export const PROOF_SCHEMA_V2 = "svc-rewarder.proof.v2";

/** Longest inclusion path: a tree of ≤ 2^53 leaves has ≤ 53 levels. */
const PROOF_STEPS_MAX = 64;

/** The index of `account` in payouts sorted by account bytes (contract §4.10), or -1. */
export function payoutIndexOf(
  payouts: readonly { account: string }[],
  account: string,
): number {
  let lo = 0;
  let hi = payouts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const at = payouts[mid]!.account;
    if (at === account) return mid;
    if (at < account) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * The proof document of `account` in a sealed envelope, in the envelope's schema: a
 * `ProofDocumentV2` for a v2 manifest, the v1 shape for a v1 one; `undefined` when the
 * account has no payout (the route answers 404 `no_payout`). `leaves` (packed 32-byte leaf
 * hashes in payout order, as {@link packedLeavesOf} builds) may be passed to reuse a cached
 * buffer; it is built otherwise.
 *
 * @example
 * ```ts
 * const doc = proofDocumentOf(envelope, "acct_a");
 * if (doc === undefined) throw new RewarderError("NOT_FOUND", "no_payout");
 * ```
 */
export function proofDocumentOf(
  envelope: SealedEnvelope,
  account: string,
  leaves?: Uint8Array,
): ProofDocumentV2 | ProofDocumentV1 | undefined {
  const m = envelope.manifest;
  const index = payoutIndexOf(m.payouts, account);
  if (index < 0) return undefined;
  const packed = leaves ?? packedLeavesOf(m.payouts);
  const amount = m.payouts[index]!.amount_minor;
  const leaf = toHex(packed.subarray(32 * index, 32 * (index + 1)));
  const proof = merkleProofPacked(packed, m.payouts.length, index);
  if (m.schema === MANIFEST_SCHEMA_V1) {
    return {
      account,
      amount_minor: amount,
      leaf,
      proof,
      payouts_root: m.payouts_root,
      manifest_hash: envelope.manifest_hash,
      signatures: envelope.signatures,
    };
  }
  return {
    schema: PROOF_SCHEMA_V2,
    account,
    amount_minor: amount,
    index,
    leaf,
    proof,
    header: manifestHeaderOf(m),
    manifest_hash: envelope.manifest_hash,
    signatures: envelope.signatures,
  };
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const proofStep = z.strictObject({ side: z.enum(["L", "R"]), hash: hex64 });
const cid = z.string().regex(/^b3:[0-9a-f]{64}$/);
const positiveMoney = z.string().refine((v) => isMoney(v) && v !== "0");

/** The v2 proof document's exact member set; `header` is checked by `headerProblem`. */
const proofV2Schema = z.strictObject({
  schema: z.literal(PROOF_SCHEMA_V2),
  account: z.string().regex(ACCOUNT_PATTERN),
  amount_minor: positiveMoney,
  index: z.int().min(0).max(JSON_INT_MAX),
  leaf: hex64,
  proof: z.array(proofStep).max(PROOF_STEPS_MAX),
  header: z.unknown(),
  manifest_hash: cid,
  signatures: z.unknown(),
});

/** The v1 proof shape (as the v1 proof route answered it). */
const proofV1Schema = z.object({
  account: z.string().regex(ACCOUNT_PATTERN),
  amount_minor: positiveMoney,
  leaf: hex64,
  proof: z.array(proofStep).max(PROOF_STEPS_MAX),
  payouts_root: cid,
  manifest_hash: cid,
  signatures: z.unknown(),
});

function fault<T>(reason: Parameters<typeof badRequest>[0], path?: string): Result<T> {
  return { ok: false, error: badRequest(reason, path) };
}

function sameSides(proof: readonly { side: "L" | "R" }[], sides: readonly ("L" | "R")[]): boolean {
  return proof.length === sides.length && proof.every((step, i) => step.side === sides[i]);
}

/**
 * Verifies a proof document read from outside, by its `schema` (contract §6): a
 * `svc-rewarder.proof.v2` document needs only the published `keys` — exact members; `leaf`
 * is the account's leaf; `index < header.totals.recipients`; the path's length and sides are
 * exactly those (index, recipients) gives; the path rebuilds `header.payouts_root`;
 * BLAKE3(JCS(header)) = `manifest_hash`; the signature rule over the v2 statement. A document
 * without `schema` is read as v1: the leaf, the path to its `payouts_root`, and the signature
 * rule over the v1 statement (v1 cannot bind the root to the hash). Reasons: `schema`, `leaf`,
 * `index`, `path`, `payouts_root`, `manifest_hash`, `arithmetic`, and the signature reasons.
 */
export function verifyProofDocument(
  doc: unknown,
  keys: readonly VerifyKey[],
  options: VerifyOptions = {},
): Result<ProofDocumentV2 | ProofDocumentV1> {
  const isObject = typeof doc === "object" && doc !== null && !Array.isArray(doc);
  if (isObject && Object.hasOwn(doc, "schema")) return verifyProofV2(doc, keys, options);
  const parsed = proofV1Schema.safeParse(doc);
  if (!parsed.success) return fault("schema", pathOf(parsed.error.issues[0]?.path));
  const p = parsed.data;
  if (toHex(leafHash(p.account, p.amount_minor)) !== p.leaf) return fault("leaf", "leaf");
  if ("b3:" + rootFromProof(p.leaf, p.proof) !== p.payouts_root) {
    return fault("payouts_root", "proof");
  }
  const signed = checkSignatureRule(
    MANIFEST_SIG_DOMAIN_V1,
    p.manifest_hash,
    p.signatures,
    keys,
    options,
  );
  return signed.ok ? { ok: true, value: p as ProofDocumentV1 } : signed;
}

function verifyProofV2(
  doc: object,
  keys: readonly VerifyKey[],
  options: VerifyOptions,
): Result<ProofDocumentV2> {
  const parsed = proofV2Schema.safeParse(doc);
  if (!parsed.success) return fault("schema", pathOf(parsed.error.issues[0]?.path));
  const p = parsed.data;
  const problem = headerProblem(p.header);
  if (problem !== null) {
    return fault(problem.reason, problem.path?.replace(/^\$/, "header") ?? "header");
  }
  const header = p.header as ManifestHeader;
  if (header.schema !== MANIFEST_SCHEMA_V2) return fault("schema", "header.schema");
  if (toHex(leafHash(p.account, p.amount_minor)) !== p.leaf) return fault("leaf", "leaf");
  if (p.index >= header.totals.recipients) return fault("index", "index");
  if (!sameSides(p.proof, expectedProofSides(p.index, header.totals.recipients))) {
    return fault("path", "proof");
  }
  if ("b3:" + rootFromProof(p.leaf, p.proof) !== header.payouts_root) {
    return fault("payouts_root", "proof");
  }
  if (headerHashOf(header) !== p.manifest_hash) return fault("manifest_hash", "manifest_hash");
  const signed = checkSignatureRule(
    MANIFEST_SIG_DOMAIN_V2,
    p.manifest_hash,
    p.signatures,
    keys,
    options,
  );
  return signed.ok ? { ok: true, value: p as ProofDocumentV2 } : signed;
}

function pathOf(path: readonly PropertyKey[] | undefined): string {
  let out = "";
  for (const part of path ?? []) {
    out += typeof part === "number" ? `[${part}]` : `${out === "" ? "" : "."}${String(part)}`;
  }
  return out;
}
