/**
 * CLI commands around the engine (contract §11): `compute`, `verify`, `verify-proof`.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { canonicalJson } from "../core/canonical_json.ts";
import { computeManifest } from "../core/compute.ts";
import { RewarderError } from "../core/errors.ts";
import { leafHash, type ProofStep, rootFromProof, toHex } from "../core/merkle.ts";
import { parsePolicy, type Policy, policyHashOf } from "../core/policy.ts";
import {
  MANIFEST_SIG_DOMAIN,
  sealManifest,
  type SigningKey,
  verifyEnvelope,
  verifyStatement,
} from "../core/seal.ts";
import type { SealedEnvelope, Signature } from "../core/types.ts";
import { loadSigningKey, parsePublishedKeys, readPublicJson } from "../shell/key_files.ts";
import { type CliIo, parseArgs, required, UsageError } from "./args.ts";

/** Exit codes of `compute` (contract §11). */
export const EXIT_SEALED = 0;
export const EXIT_INVALID = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_QUARANTINED = 3;

/** Largest inputs file the CLI reads (bytes). */
const INPUTS_FILE_BYTES_MAX = 512 * 1024 * 1024;

async function readInputs(path: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(await readFile(path));
  if (bytes.length > INPUTS_FILE_BYTES_MAX) throw new UsageError("inputs file is too large");
  return bytes;
}

/**
 * Loads `--policy`: a policy document, or a signed envelope (whose hash must match; its
 * signatures are the registry's business and are checked by the service, not here).
 */
async function readPolicy(path: string): Promise<{ policy: Policy; policyHash: string }> {
  const doc = await readPublicJson(path) as Record<string, unknown> | null;
  const isEnvelope = typeof doc === "object" && doc !== null && "policy_hash" in doc;
  const document = isEnvelope ? doc.policy : doc;
  const parsed = parsePolicy(document);
  if (!parsed.ok) throw parsed.error;
  const policyHash = policyHashOf(document);
  if (isEnvelope && doc.policy_hash !== policyHash) {
    throw new RewarderError("BAD_REQUEST", "policy_hash");
  }
  return { policy: parsed.value.policy, policyHash };
}

/** `compute --epoch <id> --inputs <file> --policy <file> [--signing-key <file>...]`. */
export async function computeCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["epoch", "inputs", "policy", "signing-key", "pq-key"]);
  const { policy, policyHash } = await readPolicy(required(parsed, "policy"));
  const salt = io.env("IDEMPOTENCY_SALT");
  const result = computeManifest({
    epochId: required(parsed, "epoch"),
    inputsBytes: await readInputs(required(parsed, "inputs")),
    policy,
    policyHash,
    ...(salt === undefined ? {} : { salt }),
  });
  if (!result.ok) throw result.error;
  const keys: SigningKey[] = [];
  for (const flag of ["signing-key", "pq-key"]) {
    const path = parsed.flags.get(flag);
    if (path !== undefined) keys.push(await loadSigningKey(path));
  }
  const envelope: SealedEnvelope = keys.length > 0
    ? await sealManifest(result.value.manifest, keys, result.value.manifestHash)
    : { manifest: result.value.manifest, manifest_hash: result.value.manifestHash, signatures: [] };
  if (keys.length === 0) io.stderr("warning: no --signing-key given; the envelope is unsigned\n");
  io.stdout(canonicalJson(envelope) + "\n");
  return envelope.manifest.status === "sealed" ? EXIT_SEALED : EXIT_QUARANTINED;
}

/** `verify --envelope <file> --keys <file> [--inputs <file> --policy <file>] [--require-pq]`. */
export async function verifyCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["envelope", "keys", "inputs", "policy"], ["require-pq"]);
  const envelope = await readPublicJson(required(parsed, "envelope")) as SealedEnvelope;
  const keys = parsePublishedKeys(await readPublicJson(required(parsed, "keys")));
  let checked: ReturnType<typeof verifyEnvelope>;
  try {
    checked = verifyEnvelope(envelope, keys, { requirePq: parsed.flags.has("require-pq") });
  } catch {
    io.stderr("invalid: malformed envelope\n");
    return EXIT_INVALID;
  }
  if (!checked.ok) {
    io.stderr(`invalid: ${checked.error.reason}\n`);
    return EXIT_INVALID;
  }
  const inputsPath = parsed.flags.get("inputs");
  const policyPath = parsed.flags.get("policy");
  if ((inputsPath === undefined) !== (policyPath === undefined)) {
    throw new UsageError("--inputs and --policy go together");
  }
  if (inputsPath !== undefined && policyPath !== undefined) {
    const { policy, policyHash } = await readPolicy(policyPath);
    const salt = io.env("IDEMPOTENCY_SALT");
    const again = computeManifest({
      epochId: envelope.manifest.epoch_id,
      inputsBytes: await readInputs(inputsPath),
      policy,
      policyHash,
      ...(salt === undefined ? {} : { salt }),
    });
    if (!again.ok || canonicalJson(again.value.manifest) !== canonicalJson(envelope.manifest)) {
      io.stderr("invalid: recomputed manifest differs\n");
      return EXIT_INVALID;
    }
  }
  io.stdout(`valid ${envelope.manifest_hash}\n`);
  return EXIT_SEALED;
}

/** A recipient's payout proof (contract §10). */
interface PayoutProof {
  account: string;
  amount_minor: string;
  leaf: string;
  proof: ProofStep[];
  payouts_root: string;
  manifest_hash: string;
  signatures: Signature[];
}

/**
 * `verify-proof --proof <file> --keys <file>`: the leaf matches the account and amount, the
 * proof folds to `payouts_root`, and the manifest hash carries a valid service signature.
 * Binding `payouts_root` to `manifest_hash` needs the manifest itself (see docs/CONTRACT-NOTES.md).
 */
export async function verifyProofCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["proof", "keys", "manifest"]);
  const proof = await readPublicJson(required(parsed, "proof")) as PayoutProof;
  const keys = parsePublishedKeys(await readPublicJson(required(parsed, "keys")));
  try {
    const leaf = toHex(leafHash(proof.account, proof.amount_minor));
    if (leaf !== proof.leaf) return fail(io, "leaf");
    if ("b3:" + rootFromProof(leaf, proof.proof) !== proof.payouts_root) return fail(io, "root");
    const good = proof.signatures.some((sig) => {
      const key = keys.find((k) =>
        k.kid === sig.kid && k.alg === sig.alg && k.status !== "revoked"
      );
      return key !== undefined &&
        verifyStatement(MANIFEST_SIG_DOMAIN, proof.manifest_hash, sig, key);
    });
    if (!good) return fail(io, "signature");
    const bad = proof.signatures.some((sig) => {
      const key = keys.find((k) => k.kid === sig.kid && k.alg === sig.alg);
      return key === undefined || key.status === "revoked" ||
        !verifyStatement(MANIFEST_SIG_DOMAIN, proof.manifest_hash, sig, key);
    });
    if (bad) return fail(io, "signature");
  } catch {
    return fail(io, "malformed");
  }
  io.stdout(`valid ${proof.account} ${proof.amount_minor}\n`);
  return EXIT_SEALED;
}

function fail(io: CliIo, reason: string): number {
  io.stderr(`invalid: ${reason}\n`);
  return EXIT_INVALID;
}
