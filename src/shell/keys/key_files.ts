/**
 * Reading and writing key files (contract §12): strict JSON (I-JSON), mode 0600, refused when
 * looser. Read through the shell's one reader (src/shell/files/read_file.ts: one handle, the
 * mode and size judged on it), written through its one atomic writer.
 *
 * Formats:
 * - signing key: `{"kid":"k1","alg":"ed25519","private_key":"<b64url 32-byte seed>"}`
 *   or `{"kid":"pq1","alg":"ml-dsa-65","private_key":"<b64url 32-byte keygen seed>"}`, with
 *   optional `"status":"active"|"retired"|"revoked"` (default active) and
 *   `"not_before":"<RFC 3339 UTC>"` (published at once, signs from then on; docs/KEYS.md);
 * - published keys: `{"keys":[{"kid","alg","public_key","use":"manifest","status"}]}`;
 * - governance keys: `{"threshold":1,"keys":{"gov-a":"<b64url Ed25519 public key>"}}`.
 *
 * @module
 */
import { ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";
import { z } from "zod";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { ED25519_KEY_BYTES, publicKeyOf } from "../../core/ed25519.ts";
import { KID_PATTERN } from "../../core/ids.ts";
import { formatRfc3339UtcS, parseRfc3339UtcMs } from "../caps/rfc3339.ts";
import { writeFileAtomic } from "../files/atomic_file.ts";
import {
  FILE_READ_PROBLEM_TEXT,
  FileReadError,
  readFileBounded,
  type ReadFileOptions,
  readJsonDocument,
} from "../files/read_file.ts";
import type { GovernanceKeys } from "../../core/policy_envelope.ts";
import { type SigningKey, type VerifyKey } from "../../core/mod.ts";

/** Largest key file we read (bytes): key files are small; a huge one is a mistake or an attack. */
export const KEY_FILE_BYTES_MAX = 1 << 20;

/** Thrown when a key file is missing, loose, oversized or malformed. */
export class KeyFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyFileError";
  }
}

/** A {@link FileReadError} as the key files' {@link KeyFileError}, naming the file and the rule. */
function keyFileError(err: unknown, path: string): unknown {
  if (!(err instanceof FileReadError)) return err;
  if (err.problem === "loose_mode") {
    return new KeyFileError(
      `Cannot use key file ${path}: mode is ${err.mode?.toString(8)}, must be 0600`,
    );
  }
  return new KeyFileError(`Cannot use key file ${path}: ${FILE_READ_PROBLEM_TEXT[err.problem]}`);
}

const SECRET: ReadFileOptions = { maxBytes: KEY_FILE_BYTES_MAX, secret: true };

/** Reads a secret file, refusing any mode looser than 0600 (group/other bits set). */
export async function readSecretFile(path: string): Promise<Uint8Array> {
  try {
    return (await readFileBounded(path, SECRET)).bytes;
  } catch (err) {
    throw keyFileError(err, path);
  }
}

/** Reads and strictly parses a secret JSON file (mode 0600); its bytes are zeroed once parsed. */
async function readSecretJson(path: string): Promise<unknown> {
  try {
    return await readJsonDocument(path, SECRET);
  } catch (err) {
    throw keyFileError(err, path);
  }
}

/** Reads a public (non-secret) strict JSON file with a size bound. */
export async function readPublicJson(path: string): Promise<unknown> {
  try {
    return await readJsonDocument(path, { maxBytes: KEY_FILE_BYTES_MAX });
  } catch (err) {
    throw keyFileError(err, path);
  }
}

/**
 * Writes `bytes` to `path` atomically with mode 0600: the shell's one atomic writer (temp file
 * + fsync + rename + fsync of the directory, src/shell/files/atomic_file.ts).
 */
export async function writeSecretFile(path: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(path, bytes);
}

const b64 = z.string().regex(/^[A-Za-z0-9_-]+$/);
const signingKeySchema = z.strictObject({
  kid: z.string().regex(KID_PATTERN),
  alg: z.enum(["ed25519", "ml-dsa-65"]),
  private_key: b64,
  status: z.enum(["active", "retired", "revoked"]).optional(),
  not_before: z.string().max(64).optional(),
});

/** Lifecycle status written in a signing key file. */
export type KeyFileStatus = "active" | "retired" | "revoked";

/** One stored signing key with its lifecycle status. */
export type StoredSigningKey = SigningKey & {
  status: KeyFileStatus;
  publicKey: Uint8Array;
  /** `not_before` in epoch ms; absent = signs as soon as it is loaded. */
  notBeforeMs?: number;
};

/** Parses a signing key file (see module doc). */
export async function loadSigningKey(path: string): Promise<StoredSigningKey> {
  const doc = await readSecretJson(path);
  const parsed = signingKeySchema.safeParse(doc);
  if (!parsed.success) throw new KeyFileError(`Cannot use key file ${path}: malformed signing key`);
  const seed = fromBase64Url(parsed.data.private_key);
  if (seed.length !== ED25519_KEY_BYTES) {
    throw new KeyFileError(`Cannot use key file ${path}: private_key must be 32 bytes`);
  }
  const status = parsed.data.status ?? "active";
  let notBefore: { notBeforeMs?: number } = {};
  if (parsed.data.not_before !== undefined) {
    const ms = parseRfc3339UtcMs(parsed.data.not_before);
    if (ms === undefined) {
      seed.fill(0);
      throw new KeyFileError(`Cannot use key file ${path}: not_before is not RFC 3339 UTC`);
    }
    notBefore = { notBeforeMs: ms };
  }
  if (parsed.data.alg === "ed25519") {
    return {
      alg: "ed25519",
      kid: parsed.data.kid,
      seed,
      status,
      publicKey: publicKeyOf(seed),
      ...notBefore,
    };
  }
  const pair = ml_dsa65.keygen(seed);
  seed.fill(0);
  return {
    alg: "ml-dsa-65",
    kid: parsed.data.kid,
    secretKey: pair.secretKey,
    status,
    publicKey: pair.publicKey,
    ...notBefore,
  };
}

/**
 * Rewrites the lifecycle fields of a signing key file in place (atomically, 0600), keeping its
 * private key: `status` and, when given, `not_before` (`null` removes it).
 */
export async function updateSigningKeyFile(
  path: string,
  change: { status?: KeyFileStatus; notBeforeMs?: number | null },
): Promise<void> {
  const doc = await readSecretJson(path);
  const parsed = signingKeySchema.safeParse(doc);
  if (!parsed.success) throw new KeyFileError(`Cannot use key file ${path}: malformed signing key`);
  const next: Record<string, string> = {
    kid: parsed.data.kid,
    alg: parsed.data.alg,
    private_key: parsed.data.private_key,
    status: change.status ?? parsed.data.status ?? "active",
  };
  const notBefore = change.notBeforeMs === undefined
    ? parsed.data.not_before
    : change.notBeforeMs === null
    ? undefined
    : formatRfc3339UtcS(change.notBeforeMs);
  if (notBefore !== undefined) next.not_before = notBefore;
  const out = new TextEncoder().encode(JSON.stringify(next) + "\n");
  try {
    await writeSecretFile(path, out);
  } finally {
    out.fill(0);
  }
}

/** Generates a signing key document (seed from the platform CSPRNG). */
export function generateSigningKeyDocument(
  kid: string,
  alg: "ed25519" | "ml-dsa-65",
  options: { notBeforeMs?: number } = {},
): {
  secret: Uint8Array;
  publicKey: Uint8Array;
} {
  if (!KID_PATTERN.test(kid)) throw new KeyFileError("Cannot generate key: kid is malformed");
  const seed = crypto.getRandomValues(new Uint8Array(ED25519_KEY_BYTES));
  const publicKey = alg === "ed25519" ? publicKeyOf(seed) : ml_dsa65.keygen(seed).publicKey;
  const doc: Record<string, string> = { kid, alg, private_key: toBase64Url(seed) };
  if (options.notBeforeMs !== undefined) {
    doc.status = "active";
    doc.not_before = formatRfc3339UtcS(options.notBeforeMs);
  }
  const secret = new TextEncoder().encode(JSON.stringify(doc) + "\n");
  seed.fill(0);
  return { secret, publicKey };
}

/** The published form of a verification key (contract §10). */
export function publishedKey(
  key: { kid: string; alg: string; publicKey: Uint8Array; status: string },
) {
  return {
    kid: key.kid,
    alg: key.alg,
    public_key: toBase64Url(key.publicKey),
    use: "manifest",
    status: key.status,
  };
}

const publishedKeysSchema = z.object({
  keys: z.array(z.object({
    kid: z.string().regex(KID_PATTERN),
    alg: z.enum(["ed25519", "ml-dsa-65"]),
    public_key: b64,
    use: z.literal("manifest").optional(),
    status: z.enum(["active", "retired", "revoked"]).optional(),
  })).max(256),
});

/** Parses a published keys document (`GET /rewarder/keys` or a `--keys` file). */
export function parsePublishedKeys(doc: unknown): VerifyKey[] {
  const parsed = publishedKeysSchema.safeParse(doc);
  if (!parsed.success) throw new KeyFileError("Cannot use keys: malformed keys document");
  return parsed.data.keys.map((k) => ({
    kid: k.kid,
    alg: k.alg,
    publicKey: fromBase64Url(k.public_key),
    status: k.status ?? "active",
  }));
}

const governanceSchema = z.strictObject({
  threshold: z.int().min(1).max(16),
  keys: z.record(z.string().regex(KID_PATTERN), b64),
});

/** Parses a governance keys document (contract §12). */
export function parseGovernanceKeys(doc: unknown): GovernanceKeys {
  const parsed = governanceSchema.safeParse(doc);
  if (!parsed.success) throw new KeyFileError("Cannot use governance keys: malformed document");
  const keys = new Map<string, Uint8Array>();
  for (const [kid, pub] of Object.entries(parsed.data.keys)) {
    const bytes = fromBase64Url(pub);
    if (bytes.length !== ED25519_KEY_BYTES) {
      throw new KeyFileError("Cannot use governance keys: a public key is not 32 bytes");
    }
    keys.set(kid, bytes);
  }
  return { threshold: parsed.data.threshold, keys };
}
