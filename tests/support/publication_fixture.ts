/**
 * Test support for publications (contract §13): the vector signing key and keys document,
 * vector envelopes (v2 and v1), and a publication written into a directory with the format
 * module, as the service's publisher lays it out.
 *
 * @module
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fromBase64Url } from "../../src/core/base64url.ts";
import { canonicalBytes } from "../../src/core/canonical_json.ts";
import { parseKeysDocument } from "../../src/core/keys_document.ts";
import { KEYS_PATH, publicationFilesOf } from "../../src/core/publication.ts";
import type { SigningKey, VerifyKey } from "../../src/core/seal.ts";
import type { SealedEnvelope } from "../../src/core/types.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Path of the vectors' published keys document. */
export const VECTOR_KEYS_PATH = join(ROOT, "vectors/keys/vector-keys.json");

/** The vectors' Ed25519 signing key (`vectors/keys/vector-signing.key.json`). */
export async function vectorSigningKey(): Promise<SigningKey> {
  const doc = JSON.parse(
    await readFile(join(ROOT, "vectors/keys/vector-signing.key.json"), "utf8"),
  );
  return { alg: "ed25519", kid: doc.kid, seed: fromBase64Url(doc.private_key) };
}

/** The bytes of the vectors' keys document. */
export async function vectorKeysBytes(): Promise<Uint8Array> {
  return new Uint8Array(await readFile(VECTOR_KEYS_PATH));
}

/** The vectors' verification keys. */
export async function vectorKeys(): Promise<VerifyKey[]> {
  const keys = parseKeysDocument(await vectorKeysBytes());
  if (!keys.ok) throw keys.error;
  return keys.value;
}

/** A v2 vector envelope (`vectors/cases/<name>/envelope.json`). */
export async function v2Envelope(name = "alabama-10"): Promise<SealedEnvelope> {
  return JSON.parse(await readFile(join(ROOT, `vectors/cases/${name}/envelope.json`), "utf8"));
}

/** A v1 vector envelope (`vectors/v1/cases/<name>/envelope.json`). */
export async function v1Envelope(name = "alabama-10"): Promise<SealedEnvelope> {
  return JSON.parse(await readFile(join(ROOT, `vectors/v1/cases/${name}/envelope.json`), "utf8"));
}

/** Writes the files of `envelopes` for `tenant` under `root`, and `keys.json`. */
export async function writePublication(
  root: string,
  tenant: string,
  envelopes: readonly SealedEnvelope[],
  signingKeys: readonly SigningKey[],
): Promise<void> {
  for (const envelope of envelopes) {
    for (const f of await publicationFilesOf(tenant, envelope, signingKeys)) {
      await mkdir(dirname(join(root, f.path)), { recursive: true });
      await writeFile(join(root, f.path), f.bytes);
    }
  }
  await writeFile(join(root, KEYS_PATH), await vectorKeysBytes());
}

/** The canonical bytes of an envelope, as published. */
export function objectBytesOf(envelope: SealedEnvelope): Uint8Array {
  return canonicalBytes(envelope);
}
