/**
 * Writes a publication (contract §13) into a directory: the files of
 * `publicationFilesOf` (object, then pointer) and `keys.json`, each atomically
 * (`writeFileAtomic`: temp + fsync + rename + fsync(dir)), so a reader of the directory — a
 * static server in front of an edge — sees a whole file or none, and once this answers the
 * files are durable.
 *
 * What exists already is compared first:
 * - the same bytes: skipped (publishing is idempotent);
 * - a pointer with other bytes that names the same epoch and manifest hash and verifies with
 *   the published keys (signed by another key of the ring, e.g. before a rotation): skipped;
 * - anything else differs: `replace` (the service, the authority on what it committed) writes
 *   its own bytes; `refuse` (`rewarder publish --out`) throws {@link PublicationConflict} and
 *   never overwrites.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { canonicalBytes } from "../../core/canonical_json.ts";
import { keysDocumentOf } from "../../core/keys_document.ts";
import {
  KEYS_PATH,
  type PublicationFile,
  publicationFilesOf,
  verifyPointer,
} from "../../core/publication.ts";
import { parseStrictJson } from "../../core/strict_json.ts";
import { writeFileAtomic } from "../files/atomic_file.ts";
import { type SealedEnvelope, type SigningKey, type VerifyKey } from "../../core/mod.ts";

/** What to do with an existing file that differs. */
export type OnDiffer = "replace" | "refuse";

/** A file of the publication exists with other content (`rewarder publish` never overwrites). */
export class PublicationConflict extends Error {
  readonly path: string;
  constructor(path: string) {
    super(`Cannot publish ${path}: a different file exists there (never overwritten)`);
    this.name = "PublicationConflict";
    this.path = path;
  }
}

/** What writing one file did. */
export type WriteOutcome = "written" | "skipped";

async function readExisting(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** An existing pointer equivalent to ours: same statement, valid under the published keys. */
function equivalentPointer(
  existing: Uint8Array,
  ours: Uint8Array,
  keys: readonly VerifyKey[],
): boolean {
  const theirs = parseStrictJson(existing);
  const mine = parseStrictJson(ours);
  if (!theirs.ok || !mine.ok) return false;
  const p = (mine.value as { pointer: { tenant: string; epoch_id: string; manifest_hash: string } })
    .pointer;
  const checked = verifyPointer(theirs.value, keys, { tenant: p.tenant, epochId: p.epoch_id });
  return checked.ok && checked.value.manifest_hash === p.manifest_hash;
}

/** Writes one file of a publication under `root` (see the module's rules). */
export async function writePublicationFile(
  root: string,
  file: PublicationFile,
  options: { onDiffer: OnDiffer; keys: readonly VerifyKey[]; isPointer: boolean },
): Promise<WriteOutcome> {
  const path = join(root, file.path);
  const existing = await readExisting(path);
  if (existing !== undefined) {
    if (sameBytes(existing, file.bytes)) return "skipped";
    if (options.isPointer && equivalentPointer(existing, file.bytes, options.keys)) {
      return "skipped";
    }
    if (options.onDiffer === "refuse") throw new PublicationConflict(file.path);
  }
  await writeFileAtomic(path, file.bytes);
  return "written";
}

/** Options of {@link publishEnvelope}. */
export interface PublishOptions {
  root: string;
  signingKeys: readonly SigningKey[];
  /** The published keys (`GET /rewarder/keys`): judge an existing pointer. */
  keys: readonly VerifyKey[];
  onDiffer: OnDiffer;
}

/**
 * Publishes one committed envelope of `tenant`: the object, then the signed pointer (contract
 * §13; a reader never finds a pointer to a missing object). Answers how many files were written.
 */
export async function publishEnvelope(
  tenant: string,
  envelope: SealedEnvelope,
  options: PublishOptions,
): Promise<number> {
  const files = await publicationFilesOf(tenant, envelope, options.signingKeys);
  let written = 0;
  for (const [i, file] of files.entries()) {
    const outcome = await writePublicationFile(options.root, file, {
      onDiffer: options.onDiffer,
      keys: options.keys,
      isPointer: i === files.length - 1,
    });
    if (outcome === "written") written += 1;
  }
  return written;
}

/** The bytes of `keys.json`: the `GET /rewarder/keys` document (contract §10, §13). */
export function keysFileBytes(keys: readonly VerifyKey[]): Uint8Array {
  return canonicalBytes(keysDocumentOf(keys));
}

/**
 * Writes `keys.json` when it is missing or differs. It is the current key set, not a
 * committed artifact: a rotation replaces it (retired keys stay in it, so old pointers still
 * verify), in both modes.
 */
export async function writeKeysFile(
  root: string,
  keys: readonly VerifyKey[],
): Promise<WriteOutcome> {
  const bytes = keysFileBytes(keys);
  const path = join(root, KEYS_PATH);
  const existing = await readExisting(path);
  if (existing !== undefined && sameBytes(existing, bytes)) return "skipped";
  await writeFileAtomic(path, bytes);
  return "written";
}
