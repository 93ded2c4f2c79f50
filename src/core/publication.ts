/**
 * The publication format (contract §13), pure: where each document of a publication lives,
 * the signed epoch pointer, and the check an edge runs before serving anything it read from an
 * untrusted origin. One root per tenant:
 * - `tenants/<tenant>/objects/<64 hex of manifest_hash>.json`: the sealed envelope, JCS bytes;
 * - `tenants/<tenant>/epochs/<epoch_id>.json`: `{"pointer":{"schema":"svc-rewarder.pointer.v1",
 *   "tenant","epoch_id","manifest_hash"},"signatures":[…]}`, each signature over the ASCII
 *   `svc-rewarder/pointer-sig/v1:` + JCS(pointer) with a manifest signing key;
 * - `keys.json`: the `GET /rewarder/keys` document (`keys_document.ts`).
 *
 * The pointer binds tenant, epoch and manifest hash under one signature, so an origin that
 * copies a pointer under another epoch's or tenant's name, or swaps an object, is caught; the
 * object is content-addressed and must be the canonical bytes of a valid envelope (§6).
 *
 * @module
 */
import { canonicalBytes, canonicalJson } from "./canonical_json.ts";
import { CID_PATTERN } from "./cid.ts";
import { type Result, RewarderError } from "./errors.ts";
import { EPOCH_ID_PATTERN, TENANT_PATTERN } from "./ids.ts";
import {
  checkSignatureRule,
  type SigningKey,
  signStatement,
  verifyEnvelope,
  type VerifyKey,
  type VerifyOptions,
} from "./seal.ts";
import { parseStrictJson } from "./strict_json.ts";
import type { SealedEnvelope, Signature } from "./types.ts";

/** Schema name of an epoch pointer (contract §13). */
export const POINTER_SCHEMA = "svc-rewarder.pointer.v1";
/** Statement prefix of pointer signatures (contract §13). */
export const POINTER_SIG_DOMAIN = "svc-rewarder/pointer-sig/v1:";
/** Path of the keys document in a publication. */
export const KEYS_PATH = "keys.json";

/** The signed part of a pointer (contract §13). */
export interface EpochPointer {
  schema: typeof POINTER_SCHEMA;
  tenant: string;
  epoch_id: string;
  manifest_hash: string;
}

/** A pointer document as published. */
export interface PointerDocument {
  pointer: EpochPointer;
  signatures: Signature[];
}

/** The paths of one epoch's documents, relative to the publication root. */
export interface PublicationPaths {
  object: string;
  pointer: string;
  keys: string;
}

function assertIds(tenant: string, epochId: string, manifestHash: string | undefined): void {
  if (!TENANT_PATTERN.test(tenant)) throw new TypeError("Cannot name a path: tenant is malformed");
  if (!EPOCH_ID_PATTERN.test(epochId)) {
    throw new TypeError("Cannot name a path: epoch_id is malformed");
  }
  if (manifestHash !== undefined && !CID_PATTERN.test(manifestHash)) {
    throw new TypeError("Cannot name a path: manifest_hash is not a b3 CID");
  }
}

/** Path of a tenant's epoch pointer. Ids are checked (contract §1 excludes `.` and `..`). */
export function pointerPath(tenant: string, epochId: string): string {
  assertIds(tenant, epochId, undefined);
  return `tenants/${tenant}/epochs/${epochId}.json`;
}

/** Path of a tenant's object of `manifestHash` (`b3:…`). */
export function objectPath(tenant: string, manifestHash: string): string {
  if (!TENANT_PATTERN.test(tenant)) throw new TypeError("Cannot name a path: tenant is malformed");
  if (!CID_PATTERN.test(manifestHash)) {
    throw new TypeError("Cannot name a path: manifest_hash is not a b3 CID");
  }
  return `tenants/${tenant}/objects/${manifestHash.slice(3)}.json`;
}

/**
 * The three paths of an epoch's publication (contract §13). Throws TypeError on a malformed
 * id (a programmer error: ids are validated where they enter).
 *
 * @example
 * ```ts
 * publicationPaths("acme", "2026-11", envelope.manifest_hash).pointer;
 * // "tenants/acme/epochs/2026-11.json"
 * ```
 */
export function publicationPaths(
  tenant: string,
  epochId: string,
  manifestHash: string,
): PublicationPaths {
  assertIds(tenant, epochId, manifestHash);
  return {
    object: objectPath(tenant, manifestHash),
    pointer: pointerPath(tenant, epochId),
    keys: KEYS_PATH,
  };
}

/**
 * Signs a pointer with manifest signing keys (Ed25519 first, optional ML-DSA-65). Requires
 * at least one Ed25519 key, as sealing does.
 *
 * @example
 * ```ts
 * const doc = await signPointer({ schema: POINTER_SCHEMA, tenant, epoch_id, manifest_hash }, keys);
 * const bytes = canonicalBytes(doc); // the pointer file
 * ```
 */
export async function signPointer(
  pointer: EpochPointer,
  signingKeys: readonly SigningKey[],
): Promise<PointerDocument> {
  if (!signingKeys.some((k) => k.alg === "ed25519")) {
    throw new TypeError("Cannot sign pointer: no Ed25519 signing key");
  }
  if (pointerProblem(pointer) !== undefined) {
    throw new TypeError("Cannot sign pointer: it is not a well-formed svc-rewarder.pointer.v1");
  }
  const signatures = await signStatement(POINTER_SIG_DOMAIN, canonicalJson(pointer), signingKeys);
  return { pointer: { ...pointer }, signatures };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function exactMembers(v: Record<string, unknown>, names: readonly string[]): boolean {
  const keys = Object.keys(v);
  return keys.length === names.length && names.every((n) => Object.hasOwn(v, n));
}

/** The path of the first malformed member of a pointer, or undefined when well formed. */
function pointerProblem(p: unknown): string | undefined {
  if (!isObject(p) || !exactMembers(p, ["schema", "tenant", "epoch_id", "manifest_hash"])) {
    return "pointer";
  }
  if (p.schema !== POINTER_SCHEMA) return "pointer.schema";
  if (typeof p.tenant !== "string" || !TENANT_PATTERN.test(p.tenant)) return "pointer.tenant";
  if (typeof p.epoch_id !== "string" || !EPOCH_ID_PATTERN.test(p.epoch_id)) {
    return "pointer.epoch_id";
  }
  if (typeof p.manifest_hash !== "string" || !CID_PATTERN.test(p.manifest_hash)) {
    return "pointer.manifest_hash";
  }
  return undefined;
}

/** An origin integrity failure (contract §13: 503 `origin_integrity`); `path` names the check. */
export function originIntegrity(path: string): RewarderError {
  return new RewarderError("DEPENDENCY_UNAVAILABLE", "origin_integrity", { path });
}

function refused<T>(path: string): Result<T> {
  return { ok: false, error: originIntegrity(path) };
}

/** What is requested: the tenant the reader serves and the epoch asked for. */
export interface PublishedEpochRequest {
  tenant: string;
  epochId: string;
}

/**
 * Checks a parsed pointer document (contract §13): exactly `{pointer, signatures}`, a
 * well-formed `svc-rewarder.pointer.v1`, the signature rule of §6 over
 * `svc-rewarder/pointer-sig/v1:` + JCS(pointer) with `keys`, and its tenant and epoch are the
 * requested ones. Every failure is 503 `origin_integrity`, its `path` naming the check.
 */
export function verifyPointer(
  doc: unknown,
  keys: readonly VerifyKey[],
  expected: PublishedEpochRequest,
  options: VerifyOptions = {},
): Result<EpochPointer> {
  if (!isObject(doc) || !exactMembers(doc, ["pointer", "signatures"])) return refused("pointer");
  const problem = pointerProblem(doc.pointer);
  if (problem !== undefined) return refused(problem);
  const pointer = doc.pointer as unknown as EpochPointer;
  const signed = checkSignatureRule(
    POINTER_SIG_DOMAIN,
    canonicalJson(pointer),
    doc.signatures,
    keys,
    options,
  );
  if (!signed.ok) return refused("signatures");
  if (pointer.tenant !== expected.tenant) return refused("pointer.tenant");
  if (pointer.epoch_id !== expected.epochId) return refused("pointer.epoch_id");
  return { ok: true, value: pointer };
}

/** Inputs of {@link checkPublishedEpoch}: the bytes read from the origin and what was asked. */
export interface PublishedEpochInput extends PublishedEpochRequest {
  pointerBytes: Uint8Array;
  objectBytes: Uint8Array;
  keys: readonly VerifyKey[];
  options?: VerifyOptions;
}

/** A published epoch that passed every check. */
export interface CheckedEpoch {
  pointer: EpochPointer;
  envelope: SealedEnvelope;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Checks one published epoch read from an untrusted origin (contract §13), in this order:
 * the pointer parses as I-JSON and passes {@link verifyPointer} (signature by a pinned key,
 * requested tenant and epoch); the object parses as I-JSON, is a valid envelope in its own
 * schema (§6: members, sums, `payouts_root`, hash, signature rule — v1 envelopes included),
 * its `manifest_hash` is the pointer's, its manifest names the requested epoch, and its bytes
 * are exactly its JCS (the object is
 * content-addressed: no other byte is accepted). Returns the envelope, or 503
 * `origin_integrity` whose `path` names the failed check (`pointer…`, `signatures`,
 * `object…`).
 *
 * @example
 * ```ts
 * const checked = checkPublishedEpoch({ pointerBytes, objectBytes, keys, tenant, epochId });
 * if (!checked.ok) return errorAnswer(checked.error); // never serve what failed
 * ```
 */
export function checkPublishedEpoch(input: PublishedEpochInput): Result<CheckedEpoch> {
  const pointerJson = parseStrictJson(input.pointerBytes);
  if (!pointerJson.ok) return refused("pointer");
  const pointer = verifyPointer(pointerJson.value, input.keys, input, input.options);
  if (!pointer.ok) return pointer;
  const objectJson = parseStrictJson(input.objectBytes);
  if (!objectJson.ok) return refused("object");
  const envelope = objectJson.value;
  if (isObject(envelope) && envelope.manifest_hash !== pointer.value.manifest_hash) {
    return refused("object.manifest_hash");
  }
  const valid = verifyEnvelope(envelope, input.keys, input.options);
  if (!valid.ok) return refused(`object.${valid.error.path ?? ""}`.replace(/\.$/, ""));
  // The signed pointer names the epoch; the sealed manifest must name the same one.
  if ((envelope as SealedEnvelope).manifest.epoch_id !== input.epochId) {
    return refused("object.manifest.epoch_id");
  }
  let canonical: Uint8Array;
  try {
    canonical = canonicalBytes(envelope);
  } catch {
    return refused("object");
  }
  if (!sameBytes(canonical, input.objectBytes)) return refused("object");
  return { ok: true, value: { pointer: pointer.value, envelope: envelope as SealedEnvelope } };
}

/** One file of a publication: its path under the root and its exact bytes. */
export interface PublicationFile {
  path: string;
  bytes: Uint8Array;
}

/**
 * The files that publish one committed envelope for `tenant` (contract §13), in the order a
 * publisher must write them: the object first, then the pointer that names it, so a reader
 * never finds a pointer to a missing object. (`keys.json` is written apart, from the key
 * ring: {@link KEYS_PATH}.)
 *
 * @example
 * ```ts
 * for (const f of await publicationFilesOf("acme", envelope, signingKeys)) {
 *   await atomicWrite(join(root, f.path), f.bytes);
 * }
 * ```
 */
export async function publicationFilesOf(
  tenant: string,
  envelope: SealedEnvelope,
  signingKeys: readonly SigningKey[],
): Promise<PublicationFile[]> {
  const epochId = envelope.manifest.epoch_id;
  const paths = publicationPaths(tenant, epochId, envelope.manifest_hash);
  const pointer = await signPointer({
    schema: POINTER_SCHEMA,
    tenant,
    epoch_id: epochId,
    manifest_hash: envelope.manifest_hash,
  }, signingKeys);
  return [
    { path: paths.object, bytes: canonicalBytes(envelope) },
    { path: paths.pointer, bytes: canonicalBytes(pointer) },
  ];
}
