/**
 * Independent reference for the signed documents of CONTRACT.md v2 (§6, §7): sealing,
 * envelope validity, proof documents and ledger intents, for v2 and for v1 (chosen by `schema`).
 * Written from the contract text alone. Ed25519 comes from WebCrypto (the production code uses
 * @noble/ed25519), BLAKE3 from reference_impl.ts (@noble/hashes), on purpose.
 *
 * Every verifier answers `{ok: true}` or `{ok: false, reason}`; reasons are this file's own
 * words (`shape`, `hash`, `root`, `sums`, `order`, `leaf`, `path`, `index`, `signature`,
 * `intent_key`, `transfers`), the first fault found.
 */
import {
  ACCOUNT_RE,
  CID_RE,
  isIJsonString,
  KID_RE,
  REF_I128_MAX,
  REF_MANIFEST_V1,
  REF_MANIFEST_V2,
  refHeaderHash,
  refIntentKey,
  refLeaf,
  refManifestHash,
  type RefManifestSchema,
  refManifestStatement,
  refPathSides,
  type RefPayout,
  refPayoutsRoot,
  type RefProofStep,
  refRootFromProof,
  TENANT_RE,
} from "./reference_impl.ts";

export type RefVerdict = { ok: true } | { ok: false; reason: string };

/** A published key (`GET /rewarder/keys`, §10). */
export interface RefPublishedKey {
  kid: string;
  alg: string;
  public_key: string;
  use: string;
  status: string;
}

/** A signing key file (`{"kid","alg","private_key"}`; the 32-byte Ed25519 seed, base64url). */
export interface RefSigningKey {
  kid: string;
  alg: string;
  private_key: string;
}

type Obj = Record<string, unknown>;

class Fault extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function must(cond: boolean, reason: string): asserts cond {
  if (!cond) throw new Fault(reason);
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Exactly these members, no more, no fewer. */
function exact(v: unknown, members: readonly string[]): Obj {
  must(isObj(v), "shape");
  const keys = Object.keys(v);
  must(keys.length === members.length && members.every((k) => k in v), "shape");
  return v;
}

const MONEY_RE = /^(0|[1-9][0-9]{0,38})$/;
function money(v: unknown): bigint {
  must(typeof v === "string" && MONEY_RE.test(v), "shape");
  const n = BigInt(v);
  must(n <= REF_I128_MAX, "shape");
  return n;
}

// ---------------------------------------------------------------- base64url, Ed25519

/** base64url without padding, canonical (re-encoding gives the same text). */
function fromB64u(text: unknown): Uint8Array<ArrayBuffer> {
  must(typeof text === "string" && /^[A-Za-z0-9_-]*$/.test(text), "shape");
  must(text.length % 4 !== 1, "shape");
  const bin = atob(
    text.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - text.length % 4) % 4),
  );
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  must(toB64u(out) === text, "shape");
  return out;
}

export function toB64u(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** RFC 8410 PKCS#8 prefix of an Ed25519 private key holding a 32-byte seed. */
const PKCS8_ED25519_PREFIX = [
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
];

/** Ed25519 signature (base64url) of the ASCII statement, with a WebCrypto key. */
export async function refSign(statement: string, seedB64u: string): Promise<string> {
  const seed = fromB64u(seedB64u);
  if (seed.length !== 32) throw new Error("reference: Ed25519 seed must be 32 bytes");
  const key = await crypto.subtle.importKey(
    "pkcs8",
    new Uint8Array([...PKCS8_ED25519_PREFIX, ...seed]),
    { name: "Ed25519" },
    false,
    ["sign"],
  );
  const sig = await crypto.subtle.sign("Ed25519", key, new TextEncoder().encode(statement));
  return toB64u(new Uint8Array(sig));
}

/** Ed25519 check of one signature (base64url) over the ASCII statement; false when malformed. */
export async function refVerifyStatement(
  publicB64u: string,
  sigB64u: string,
  statement: string,
): Promise<boolean> {
  try {
    return await ed25519Verify(publicB64u, sigB64u, statement);
  } catch (e) {
    if (e instanceof Fault) return false;
    throw e;
  }
}

async function ed25519Verify(publicB64u: string, sigB64u: unknown, statement: string) {
  const pub = fromB64u(publicB64u);
  const sig = fromB64u(sigB64u);
  if (pub.length !== 32 || sig.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify("Ed25519", key, sig, new TextEncoder().encode(statement));
  } catch {
    return false; // a malformed point is a failed signature, not a crash
  }
}

/**
 * §6 signature rule: at least one `ed25519` signature by a published kid (`active` or
 * `retired`) verifies over the statement, and no listed signature fails (A16: an unpublished
 * kid fails; `ml-dsa-65` is not supported here, so skipped, and refused when PQ is required).
 */
async function signatureRule(
  signatures: unknown,
  statement: string,
  keys: readonly RefPublishedKey[],
  requirePq: boolean,
): Promise<void> {
  must(Array.isArray(signatures), "shape");
  let good = 0;
  for (const s of signatures) {
    const sig = exact(s, ["alg", "kid", "sig"]);
    must(typeof sig.kid === "string" && KID_RE.test(sig.kid), "shape");
    if (sig.alg === "ml-dsa-65") {
      must(!requirePq, "signature");
      continue;
    }
    must(sig.alg === "ed25519", "shape");
    const key = keys.find((k) => k.kid === sig.kid && k.alg === "ed25519" && k.use === "manifest");
    must(key !== undefined && (key.status === "active" || key.status === "retired"), "signature");
    must(await ed25519Verify(key.public_key, sig.sig, statement), "signature");
    good++;
  }
  must(good >= 1, "signature");
  must(!requirePq, "signature"); // no ml-dsa-65 signature could be checked
}

/** Reads the published keys document `{"keys":[…]}` (§10). */
export function refPublishedKeys(doc: unknown): RefPublishedKey[] {
  const d = exact(doc, ["keys"]);
  if (!Array.isArray(d.keys)) throw new Error("reference: bad keys document");
  return d.keys.map((k) => {
    const key = exact(k, ["kid", "alg", "public_key", "use", "status"]);
    return key as unknown as RefPublishedKey;
  });
}

// ---------------------------------------------------------------- manifest and header (§6)

const MANIFEST_MEMBERS = [
  "schema",
  "epoch_id",
  "run_key",
  "inputs_cid",
  "policy_id",
  "policy_hash",
  "status",
  "asset",
  "funding_source",
  "totals",
  "fee",
  "residual",
  "payouts",
  "payouts_root",
  "quarantine",
] as const;
const HEADER_MEMBERS = MANIFEST_MEMBERS.filter((k) => k !== "payouts");

function compareBytes(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** The checks a header allows on its own: members, ids, totals and residual sums (§4.9, §6). */
function checkHeader(h: Obj): void {
  must(h.schema === REF_MANIFEST_V1 || h.schema === REF_MANIFEST_V2, "shape");
  for (const k of ["run_key", "inputs_cid", "policy_hash", "payouts_root"]) {
    must(typeof h[k] === "string" && CID_RE.test(h[k] as string), "shape");
  }
  for (const k of ["epoch_id", "policy_id", "asset", "funding_source"]) {
    must(typeof h[k] === "string" && isIJsonString(h[k] as string), "shape");
  }
  const t = exact(h.totals, [
    "pool_minor",
    "fee_minor",
    "payout_minor",
    "residual_minor",
    "recipients",
  ]);
  must(Number.isSafeInteger(t.recipients) && (t.recipients as number) >= 0, "shape");
  const r = exact(h.residual, [
    "account",
    "amount_minor",
    "rounding_minor",
    "below_min_minor",
    "capped_minor",
  ]);
  must(
    r.account === null || (typeof r.account === "string" && ACCOUNT_RE.test(r.account)),
    "shape",
  );
  const fee = h.fee === null ? 0n : money(exact(h.fee, ["account", "amount_minor"]).amount_minor);
  if (h.fee !== null) must(ACCOUNT_RE.test(String((h.fee as Obj).account)), "shape");
  must(fee === money(t.fee_minor), "sums");
  must(money(t.residual_minor) === money(r.amount_minor), "sums");
  must(money(t.pool_minor) === money(t.payout_minor) + fee + money(r.amount_minor), "sums");
  must(
    money(r.amount_minor) ===
      money(r.rounding_minor) + money(r.below_min_minor) + money(r.capped_minor),
    "sums",
  );
  if (h.status === "sealed") must(h.quarantine === null, "shape");
  else {
    must(h.status === "quarantined", "shape");
    const q = exact(h.quarantine, ["reason"]);
    must(["overflow", "conservation", "negative"].includes(q.reason as string), "shape");
    must(t.recipients === 0 && t.payout_minor === "0", "shape");
  }
}

/** Payouts strictly ascending by account bytes, amounts canonical and > 0; returns their sum. */
function checkPayouts(payouts: unknown): { list: RefPayout[]; sum: bigint } {
  must(Array.isArray(payouts), "shape");
  let sum = 0n;
  const list: RefPayout[] = [];
  for (let i = 0; i < payouts.length; i++) {
    const p = exact(payouts[i], ["account", "amount_minor"]);
    must(typeof p.account === "string" && ACCOUNT_RE.test(p.account), "shape");
    const amount = money(p.amount_minor);
    must(amount > 0n, "shape");
    if (i > 0) must(compareBytes(list[i - 1]!.account, p.account) < 0, "order");
    sum += amount;
    list.push({ account: p.account, amount_minor: p.amount_minor as string });
  }
  return { list, sum };
}

async function run(check: () => Promise<void>): Promise<RefVerdict> {
  try {
    await check();
    return { ok: true };
  } catch (e) {
    if (e instanceof Fault) return { ok: false, reason: e.reason };
    throw e;
  }
}

/**
 * §6 validity of a sealed envelope, in its own schema (v1 or v2). With `policy`, also checks
 * that `fee` is an object exactly when the policy has one.
 */
export function refVerifyEnvelope(
  envelope: unknown,
  keys: readonly RefPublishedKey[],
  options: { requirePq?: boolean; policy?: Obj } = {},
): Promise<RefVerdict> {
  return run(async () => {
    const env = exact(envelope, ["manifest", "manifest_hash", "signatures"]);
    const m = exact(env.manifest, MANIFEST_MEMBERS);
    checkHeader(m);
    must(typeof env.manifest_hash === "string" && CID_RE.test(env.manifest_hash), "shape");
    must(refManifestHash(m) === env.manifest_hash, "hash");
    const { list, sum } = checkPayouts(m.payouts);
    must(refPayoutsRoot(list) === m.payouts_root, "root");
    const t = m.totals as Obj;
    must(t.recipients === list.length, "sums");
    must(sum === money(t.payout_minor), "sums");
    if (options.policy !== undefined) must(("fee" in options.policy) === (m.fee !== null), "shape");
    const schema = m.schema as RefManifestSchema;
    await signatureRule(
      env.signatures,
      refManifestStatement(schema, env.manifest_hash),
      keys,
      options.requirePq === true,
    );
  });
}

/** Seals a manifest with one Ed25519 key: statement by the manifest's schema (§6). */
export async function refSeal(manifest: Obj, key: RefSigningKey): Promise<Obj> {
  const manifestHash = refManifestHash(manifest);
  const statement = refManifestStatement(manifest.schema as RefManifestSchema, manifestHash);
  const sig = await refSign(statement, key.private_key);
  return {
    manifest,
    manifest_hash: manifestHash,
    signatures: [{ alg: "ed25519", kid: key.kid, sig }],
  };
}

// ---------------------------------------------------------------- proof documents (§6)

const PROOF_V2_MEMBERS = [
  "schema",
  "account",
  "amount_minor",
  "index",
  "leaf",
  "proof",
  "header",
  "manifest_hash",
  "signatures",
];
const PROOF_V1_MEMBERS = [
  "account",
  "amount_minor",
  "leaf",
  "proof",
  "payouts_root",
  "manifest_hash",
  "signatures",
];

function readPath(proof: unknown): RefProofStep[] {
  must(Array.isArray(proof), "shape");
  return proof.map((s) => {
    const step = exact(s, ["side", "hash"]);
    must(step.side === "L" || step.side === "R", "shape");
    must(typeof step.hash === "string" && /^[0-9a-f]{64}$/.test(step.hash), "shape");
    return { side: step.side, hash: step.hash };
  });
}

function checkLeaf(doc: Obj): void {
  must(typeof doc.account === "string" && ACCOUNT_RE.test(doc.account), "shape");
  must(money(doc.amount_minor) > 0n, "shape");
  must(typeof doc.leaf === "string" && /^[0-9a-f]{64}$/.test(doc.leaf), "shape");
  const leaf = refLeaf({ account: doc.account, amount_minor: doc.amount_minor as string });
  must(leaf === doc.leaf, "leaf");
}

/**
 * Verifies a proof document with only the published keys: v2 (§6: leaf, index <
 * recipients, the exact path shape of (index, recipients), the path rebuilds the header's
 * `payouts_root`, the header hashes to `manifest_hash`, the signature rule) or v1 (no
 * `schema`: leaf, the path rebuilds its `payouts_root`, the v1 signature over
 * `manifest_hash`; a v1 proof cannot bind that root to the hash without the manifest).
 */
export function refVerifyProof(
  document: unknown,
  keys: readonly RefPublishedKey[],
  options: { requirePq?: boolean } = {},
): Promise<RefVerdict> {
  return run(async () => {
    must(isObj(document), "shape");
    if (!("schema" in document)) {
      const doc = exact(document, PROOF_V1_MEMBERS);
      checkLeaf(doc);
      must(typeof doc.payouts_root === "string" && CID_RE.test(doc.payouts_root), "shape");
      must(typeof doc.manifest_hash === "string" && CID_RE.test(doc.manifest_hash), "shape");
      must(refRootFromProof(doc.leaf as string, readPath(doc.proof)) === doc.payouts_root, "root");
      const statement = refManifestStatement(REF_MANIFEST_V1, doc.manifest_hash);
      await signatureRule(doc.signatures, statement, keys, options.requirePq === true);
      return;
    }
    const doc = exact(document, PROOF_V2_MEMBERS);
    must(doc.schema === "svc-rewarder.proof.v2", "shape");
    checkLeaf(doc);
    const header = exact(doc.header, HEADER_MEMBERS);
    checkHeader(header);
    must(header.schema === REF_MANIFEST_V2, "shape");
    const recipients = (header.totals as Obj).recipients as number;
    must(Number.isSafeInteger(doc.index) && (doc.index as number) >= 0, "shape");
    must((doc.index as number) < recipients, "index");
    const path = readPath(doc.proof);
    const sides = refPathSides(doc.index as number, recipients);
    must(path.length === sides.length && path.every((s, i) => s.side === sides[i]), "path");
    must(refRootFromProof(doc.leaf as string, path) === header.payouts_root, "root");
    must(typeof doc.manifest_hash === "string" && CID_RE.test(doc.manifest_hash), "shape");
    must(refHeaderHash(header) === doc.manifest_hash, "hash");
    const statement = refManifestStatement(REF_MANIFEST_V2, doc.manifest_hash);
    await signatureRule(doc.signatures, statement, keys, options.requirePq === true);
  });
}

// ---------------------------------------------------------------- ledger intent v2 (§7)

const INTENT_V2_MEMBERS = [
  "schema",
  "tenant",
  "intent_key",
  "run_key",
  "epoch_id",
  "manifest_hash",
  "asset",
  "funding_source",
  "total_minor",
  "transfers",
  "header",
  "signatures",
];

/**
 * What a ledger can check of an `intent.v2` body (§7): the intent key is §5's for its tenant
 * and run key, the header hashes to `manifest_hash` and agrees with the body, the transfers
 * other than the trailing fee transfer rebuild `header.payouts_root`, `total_minor` is their
 * sum, and a published rewarder signature verifies.
 */
export function refVerifyIntent(
  intent: unknown,
  keys: readonly RefPublishedKey[],
): Promise<RefVerdict> {
  return run(async () => {
    const doc = exact(intent, INTENT_V2_MEMBERS);
    must(doc.schema === "svc-rewarder.intent.v2", "shape");
    must(typeof doc.tenant === "string" && TENANT_RE.test(doc.tenant), "shape");
    must(typeof doc.run_key === "string" && CID_RE.test(doc.run_key), "shape");
    must(doc.intent_key === refIntentKey(doc.tenant, doc.run_key), "intent_key");
    const header = exact(doc.header, HEADER_MEMBERS);
    checkHeader(header);
    must(header.schema === REF_MANIFEST_V2 && header.status === "sealed", "shape");
    must(
      typeof doc.manifest_hash === "string" && refHeaderHash(header) === doc.manifest_hash,
      "hash",
    );
    for (const k of ["run_key", "epoch_id", "asset", "funding_source"]) {
      must(doc[k] === header[k], "shape");
    }
    must(Array.isArray(doc.transfers), "shape");
    const transfers = doc.transfers.map((t) => exact(t, ["to", "amount_minor"]));
    let total = 0n;
    for (const t of transfers) total += money(t.amount_minor);
    must(total === money(doc.total_minor), "sums");
    const fee = header.fee as { account: string; amount_minor: string } | null;
    const hasFee = fee !== null && BigInt(fee.amount_minor) > 0n;
    const payouts = hasFee ? transfers.slice(0, -1) : transfers;
    if (hasFee) {
      const last = transfers[transfers.length - 1];
      must(last?.to === fee.account && last.amount_minor === fee.amount_minor, "transfers");
    }
    const { list } = checkPayouts(
      payouts.map((t) => ({ account: t.to, amount_minor: t.amount_minor })),
    );
    must(refPayoutsRoot(list) === header.payouts_root, "root");
    must(list.length === (header.totals as Obj).recipients, "sums");
    const statement = refManifestStatement(REF_MANIFEST_V2, doc.manifest_hash);
    await signatureRule(doc.signatures, statement, keys, false);
  });
}
