/**
 * CLI commands around the engine (contract §11): `compute`, `verify`, `verify-proof`.
 * Every document is read with the strict I-JSON reader (contract §1): a bad one is
 * `error: <file>: <what>` and exit 2. `compute` seals v2; `verify` and `verify-proof` take v1
 * and v2 by `schema`.
 *
 * @module
 */
import { statSync } from "node:fs";
import { canonicalJson } from "../core/canonical_json.ts";
import { KeyFileError, loadSigningKey, parsePublishedKeys } from "../shell/keys/key_files.ts";
import {
  FILE_READ_PROBLEM_TEXT,
  FileReadError,
  readFileBounded,
  readJsonDocument,
} from "../shell/files/read_file.ts";
import { type CliIo, DocumentError, parseArgs, required, UsageError } from "./args.ts";
import { type Cid, cidOf, isCid } from "../core/cid.ts";
import { computeManifestHashedAside } from "../core/compute.ts";
import {
  computeManifest,
  parsePolicy,
  type Policy,
  policyHashOf,
  RewarderError,
  type SealedEnvelope,
  sealManifest,
  type SigningKey,
  verifyEnvelope,
  type VerifyKey,
  verifyProofDocument,
} from "../core/mod.ts";

/** Exit codes of `compute` (contract §11). */
export const EXIT_SEALED = 0;
export const EXIT_INVALID = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_QUARANTINED = 3;

/** Largest inputs or envelope file the CLI reads (bytes): a 1M-recipient epoch is ~100 MB. */
const DOCUMENT_FILE_BYTES_MAX = 512 * 1024 * 1024;

/** A refused file as the CLI's one-line error (`error: <file>: <rule>`). */
function documentError(err: unknown): unknown {
  if (!(err instanceof FileReadError)) return err;
  return new DocumentError(err.path, FILE_READ_PROBLEM_TEXT[err.problem]);
}

/** Reads a file's bytes (src/shell/files/read_file.ts), refusing oversize files. */
export async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return (await readFileBounded(path, { maxBytes: DOCUMENT_FILE_BYTES_MAX })).bytes;
  } catch (err) {
    throw documentError(err);
  }
}

/** Reads and strictly parses a JSON document (contract §1). */
export async function readDocument(path: string): Promise<unknown> {
  try {
    return await readJsonDocument(path, { maxBytes: DOCUMENT_FILE_BYTES_MAX });
  } catch (err) {
    throw documentError(err);
  }
}

/** Reads `--keys` (a published keys document, contract §10). */
export async function readKeys(path: string): Promise<VerifyKey[]> {
  const doc = await readDocument(path);
  try {
    return parsePublishedKeys(doc);
  } catch (err) {
    if (err instanceof KeyFileError) throw new DocumentError(path, "malformed keys document");
    throw err;
  }
}

/** A core error about a document, named after its file (`error: <file>: BAD_REQUEST …`). */
function documentFault(path: string, err: RewarderError): DocumentError {
  const field = err.path ? ` at ${err.path}` : "";
  return new DocumentError(path, `${err.code} ${err.reason}${field}`);
}

/**
 * Loads `--policy`: a policy document, or a signed envelope (whose hash must match; its
 * signatures are the registry's business and are checked by the service, not here).
 */
export async function readPolicy(path: string): Promise<{ policy: Policy; policyHash: string }> {
  const doc = await readDocument(path) as Record<string, unknown> | null;
  const isEnvelope = typeof doc === "object" && doc !== null && "policy_hash" in doc;
  const document = isEnvelope ? doc.policy : doc;
  const parsed = parsePolicy(document);
  if (!parsed.ok) throw documentFault(path, parsed.error);
  const policyHash = policyHashOf(document);
  if (isEnvelope && doc.policy_hash !== policyHash) {
    throw documentFault(
      path,
      new RewarderError("BAD_REQUEST", "policy_hash", { path: "policy_hash" }),
    );
  }
  return { policy: parsed.value.policy, policyHash };
}

/** Runs the engine; a fault in the inputs names the inputs file (contract §11: exit 2). */
export function computeOrThrow(
  epochId: string,
  inputsPath: string,
  inputsBytes: Uint8Array,
  policy: { policy: Policy; policyHash: string },
  salt: string | undefined,
) {
  const result = computeManifest({
    epochId,
    inputsBytes,
    policy: policy.policy,
    policyHash: policy.policyHash,
    ...(salt === undefined ? {} : { salt }),
  });
  if (result.ok) return result.value;
  throw inputsFault(inputsPath, result.error);
}

/** A compute error as the CLI reports it: a fault in the inputs names the inputs file. */
function inputsFault(inputsPath: string, error: RewarderError): Error {
  if (error.reason === "json") return new DocumentError(inputsPath, "not I-JSON");
  if (error.path?.startsWith("inputs") || error.reason === "pool_missing") {
    return documentFault(inputsPath, error);
  }
  return error;
}

/** Payout lists shorter than this go through the generic writer whole. */
const PAYOUTS_WRITTEN_DIRECTLY_MIN = 1024;
/** The `"payouts"` member of an envelope whose payouts were left out. */
const EMPTY_PAYOUTS = '"payouts":[]';
/**
 * Characters written as themselves inside a JSON string (so by JCS too): the §1 account
 * grammar `[A-Za-z0-9._:/-]`, and digits for amounts (bit 1: account, bit 2: digit).
 */
const PLAIN = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (/[A-Za-z0-9._:/-]/.test(String.fromCharCode(c))) PLAIN[c] = 1;
  if (c >= 0x30 && c <= 0x39) PLAIN[c]! |= 2;
}
const PAYOUT_HEAD = new TextEncoder().encode('{"account":"');
const PAYOUT_MIDDLE = new TextEncoder().encode('","amount_minor":"');
/** Bytes of a plain payout besides its account and amount: head, middle and `"}`. */
const PAYOUT_FIXED_BYTES = PAYOUT_HEAD.length + PAYOUT_MIDDLE.length + 2;

/**
 * The canonical JSON (RFC 8785) of a sealed envelope, byte for byte `canonicalJson(envelope)`:
 * the envelope without its payouts goes through the generic writer, the payouts (a 1M-entry
 * list, each `{"account","amount_minor"}`, keys already in JCS order) are written as ASCII
 * bytes into one buffer, decoded once: no sorted copy and no string per payout. Anything
 * unexpected (a payout with other keys, a character needing an escape) takes the generic
 * writer whole.
 */
export function envelopeJson(envelope: SealedEnvelope): string {
  const pieces = envelopeJsonBytes(envelope);
  const decoder = new TextDecoder();
  return pieces.length === 1
    ? decoder.decode(pieces[0])
    : pieces.map((p) => decoder.decode(p)).join("");
}

const utf8 = new TextEncoder();

/**
 * {@link envelopeJson} as UTF-8 pieces to be written one after the other: for a large payout
 * list, the text before the payouts, the payouts' bytes as written (never decoded into a
 * string) and the text after them; otherwise one piece.
 */
export function envelopeJsonBytes(envelope: SealedEnvelope): Uint8Array[] {
  const payouts = envelope.manifest.payouts;
  const whole = () => [utf8.encode(canonicalJson(envelope))];
  if (payouts.length < PAYOUTS_WRITTEN_DIRECTLY_MIN) return whole();
  const shell = canonicalJson({ ...envelope, manifest: { ...envelope.manifest, payouts: [] } });
  const at = shell.indexOf(EMPTY_PAYOUTS);
  if (at < 0 || shell.indexOf(EMPTY_PAYOUTS, at + 1) >= 0) return whole();
  const list = payoutsAscii(payouts);
  if (list === null) return whole();
  return [
    utf8.encode(`${shell.slice(0, at)}"payouts":[`),
    list,
    utf8.encode(`]${shell.slice(at + EMPTY_PAYOUTS.length)}`),
  ];
}

/** The payouts' JSON members, comma-separated (ASCII bytes); null when one is not plain. */
function payoutsAscii(
  payouts: readonly { account: string; amount_minor: string }[],
): Uint8Array | null {
  // First the shape and the exact size (one buffer, never grown or copied), then the bytes.
  let size = payouts.length - 1; // commas
  for (let i = 0; i < payouts.length; i++) {
    const p = payouts[i]!;
    let keys = 0;
    for (const _ in p) keys++;
    const { account, amount_minor: amount } = p;
    if (keys !== 2 || typeof account !== "string" || typeof amount !== "string") return null;
    if (account.length === 0 || amount.length === 0) return null;
    size += PAYOUT_FIXED_BYTES + account.length + amount.length;
  }
  const out = new Uint8Array(size);
  let n = 0;
  for (let i = 0; i < payouts.length; i++) {
    const { account, amount_minor: amount } = payouts[i]!;
    if (i > 0) out[n++] = 0x2c;
    for (let k = 0; k < PAYOUT_HEAD.length; k++) out[n++] = PAYOUT_HEAD[k]!;
    for (let k = 0; k < account.length; k++) {
      const c = account.charCodeAt(k);
      if (c >= 128 || (PLAIN[c]! & 1) === 0) return null;
      out[n++] = c;
    }
    for (let k = 0; k < PAYOUT_MIDDLE.length; k++) out[n++] = PAYOUT_MIDDLE[k]!;
    for (let k = 0; k < amount.length; k++) {
      const c = amount.charCodeAt(k);
      if (c >= 128 || (PLAIN[c]! & 2) === 0) return null;
      out[n++] = c;
    }
    out[n++] = 0x22; // "
    out[n++] = 0x7d; // }
  }
  return out.subarray(0, n);
}

const NEWLINE = new Uint8Array([0x0a]);

/** Inputs at least this large are hashed on a second thread while they are parsed (bytes). */
const HASH_ASIDE_MIN_BYTES = 4 * 1024 * 1024;

/**
 * Longest wait for the hashing thread's answer once the parse is done (ms); past it the bytes
 * are hashed on the main thread (a fallback: the thread answers in well under a second).
 */
const CID_THREAD_WAIT_MS = 30_000;

/** A started `cid_worker.ts` and its one answer (null if it failed). */
interface CidThread {
  worker: Worker;
  answer: Promise<unknown>;
}

/**
 * Starts the hashing thread for an inputs file of `size` bytes, before the file is read (its
 * start-up overlaps the read). Null where it does not pay or cannot start: a small file, no
 * Worker (Node), or a bundle (.mjs: no worker file beside it).
 */
function startCidThread(size: number): CidThread | null {
  if (
    size < HASH_ASIDE_MIN_BYTES || typeof Worker === "undefined" ||
    typeof SharedArrayBuffer === "undefined" || !import.meta.url.endsWith(".ts")
  ) {
    return null;
  }
  let worker: Worker;
  try {
    worker = new Worker(new URL("./cid_worker.ts", import.meta.url), { type: "module" });
  } catch {
    return null;
  }
  const answer = new Promise<unknown>((resolve) => {
    worker.onmessage = (event: MessageEvent<unknown>) => resolve(event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      worker.terminate();
      resolve(null);
    };
  });
  return { worker, answer };
}

/**
 * The inputs bytes and their CID. With a started thread, the bytes are copied once into
 * shared memory and sent to it at once: it hashes them while this thread parses them
 * (measured at 1M recipients: docs/RESULTS.md). Without one, or if it fails or does not
 * answer within CID_THREAD_WAIT_MS, they are hashed here. The same bytes either way.
 */
function hashAside(
  bytes: Uint8Array,
  thread: CidThread | null,
): { bytes: Uint8Array; cid: Promise<Cid> } {
  if (thread === null) return { bytes, cid: Promise.resolve(cidOf(bytes)) };
  if (bytes.length < HASH_ASIDE_MIN_BYTES) {
    thread.worker.terminate();
    return { bytes, cid: Promise.resolve(cidOf(bytes)) };
  }
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
  shared.set(bytes);
  thread.worker.postMessage(shared);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      thread.worker.terminate();
      resolve(null);
    }, CID_THREAD_WAIT_MS);
  });
  const cid = Promise.race([thread.answer, late]).then((value) => {
    clearTimeout(timer);
    return isCid(value) ? value : cidOf(shared);
  });
  return { bytes: shared, cid };
}

/** {@link computeOrThrow}, the inputs hashed on a second thread while they are parsed. */
async function computeHashedAsideOrThrow(
  epochId: string,
  inputsPath: string,
  aside: { bytes: Uint8Array; cid: Promise<Cid> },
  policy: { policy: Policy; policyHash: string },
  salt: string | undefined,
) {
  const result = await computeManifestHashedAside({
    epochId,
    inputsBytes: aside.bytes,
    policy: policy.policy,
    policyHash: policy.policyHash,
    ...(salt === undefined ? {} : { salt }),
  }, aside.cid);
  if (result.ok) return result.value;
  throw inputsFault(inputsPath, result.error);
}

/** The size of a file in bytes, or 0 when it cannot be read (the read then reports why). */
function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** `compute --epoch <id> --inputs <file> --policy <file> [--signing-key <file>...]`. */
export async function computeCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["epoch", "inputs", "policy", "signing-key", "pq-key"]);
  const epochId = required(parsed, "epoch");
  const inputsPath = required(parsed, "inputs");
  const thread = startCidThread(fileSize(inputsPath));
  let aside: { bytes: Uint8Array; cid: Promise<Cid> };
  let policy: { policy: Policy; policyHash: string };
  try {
    policy = await readPolicy(required(parsed, "policy"));
    aside = hashAside(await readBytes(inputsPath), thread);
  } catch (err) {
    thread?.worker.terminate();
    throw err;
  }
  const out = await computeHashedAsideOrThrow(
    epochId,
    inputsPath,
    aside,
    policy,
    io.env("IDEMPOTENCY_SALT"),
  );
  const keys: SigningKey[] = [];
  for (const flag of ["signing-key", "pq-key"]) {
    const path = parsed.flags.get(flag);
    if (path !== undefined) keys.push(await loadSigningKey(path));
  }
  const envelope: SealedEnvelope = keys.length > 0
    ? await sealManifest(out.manifest, keys, out.manifestHash)
    : { manifest: out.manifest, manifest_hash: out.manifestHash, signatures: [] };
  if (keys.length === 0) io.stderr("warning: no --signing-key given; the envelope is unsigned\n");
  if (io.stdoutBytes === undefined) io.stdout(envelopeJson(envelope) + "\n");
  else {
    for (const piece of envelopeJsonBytes(envelope)) io.stdoutBytes(piece);
    io.stdoutBytes(NEWLINE);
  }
  return envelope.manifest.status === "sealed" ? EXIT_SEALED : EXIT_QUARANTINED;
}

/**
 * `verify --envelope <file> --keys <file> [--inputs <file> --policy <file>] [--require-pq]`:
 * the envelope's validity in its own schema (contract §6) and, given inputs and policy, the
 * recomputed manifest byte for byte (a v1 envelope is compared under its own schema name:
 * v1 and v2 manifests have the same members).
 */
export async function verifyCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["envelope", "keys", "inputs", "policy"], ["require-pq"]);
  const envelopePath = required(parsed, "envelope");
  const envelope = await readDocument(envelopePath);
  const keys = await readKeys(required(parsed, "keys"));
  const inputsPath = parsed.flags.get("inputs");
  const policyPath = parsed.flags.get("policy");
  if ((inputsPath === undefined) !== (policyPath === undefined)) {
    throw new UsageError("--inputs and --policy go together");
  }
  const checked = verifyEnvelope(envelope, keys, { requirePq: parsed.flags.has("require-pq") });
  if (!checked.ok) return fail(io, envelopePath, checked.error);
  const valid = envelope as SealedEnvelope;
  if (inputsPath !== undefined && policyPath !== undefined) {
    const policy = await readPolicy(policyPath);
    const inputs = await readBytes(inputsPath);
    let again: string;
    try {
      const out = computeOrThrow(
        valid.manifest.epoch_id,
        inputsPath,
        inputs,
        policy,
        io.env("IDEMPOTENCY_SALT"),
      );
      again = canonicalJson({ ...out.manifest, schema: valid.manifest.schema });
    } catch (err) {
      if (!(err instanceof DocumentError || err instanceof RewarderError)) throw err;
      again = "";
    }
    if (again !== canonicalJson(valid.manifest)) {
      io.stderr(`invalid: recomputed manifest differs (${envelopePath})\n`);
      return EXIT_INVALID;
    }
  }
  io.stdout(`valid ${valid.manifest_hash}\n`);
  return EXIT_SEALED;
}

/**
 * `verify-proof --proof <file> --keys <file> [--require-pq]`: one recipient's payout proof
 * (contract §6). A v2 document (`svc-rewarder.proof.v2`) needs nothing but the keys: its
 * header binds `payouts_root` to the signed `manifest_hash`. A v1 document (no `schema`)
 * is checked as v1 did (leaf, path to its `payouts_root`, signature over the v1 statement).
 */
export async function verifyProofCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(args, ["proof", "keys"], ["require-pq"]);
  const proofPath = required(parsed, "proof");
  const doc = await readDocument(proofPath);
  const keys = await readKeys(required(parsed, "keys"));
  const checked = verifyProofDocument(doc, keys, { requirePq: parsed.flags.has("require-pq") });
  if (!checked.ok) return fail(io, proofPath, checked.error);
  io.stdout(`valid ${checked.value.account} ${checked.value.amount_minor}\n`);
  return EXIT_SEALED;
}

function fail(io: CliIo, file: string, err: RewarderError): number {
  io.stderr(`invalid: ${err.reason}${err.path ? ` at ${err.path}` : ""} (${file})\n`);
  return EXIT_INVALID;
}
