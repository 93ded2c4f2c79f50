/**
 * Independent reference implementation of the svc-rewarder pure formats (CONTRACT.md v2,
 * §1–§7), written only from the contract text, without reading the production code. It is a
 * differential-testing oracle: plain loops, bigint everywhere, no cleverness, no speed.
 * BLAKE3 comes from @noble/hashes (the production code uses hash-wasm), on purpose; signatures
 * (reference_verify.ts) use WebCrypto Ed25519 (the production code uses @noble/ed25519).
 *
 * AMBIGUITIES in the contract and how this file reads them:
 *  A1 §1 JCS, lone surrogates: an error (RFC 8785 §3.2.2.2), never serialized. Noncharacters
 *     are refused when JSON is read (I-JSON), but §1 names only lone surrogates for JCS, so
 *     the serializer writes them.
 *  A2 §1 JCS, value space: only integers 0..2^53-1 are allowed; -0 is serialized "0" (RFC 8785);
 *     floats, negatives, NaN, bigint, undefined (even as an object member), symbols, sparse
 *     arrays and non-plain objects throw rather than being dropped as JSON.stringify would.
 *  A3 §1 every JSON text read is I-JSON: invalid UTF-8, a BOM, duplicate member names, lone
 *     surrogates or noncharacters (escaped or raw), or more than 64 nested containers → 400
 *     reason `json`. A schema fault of a well-formed text is reason `inputs` / `policy`.
 *  A4 §2 compat counters and `produced_at_millis`: the lexical form 0|[1-9][0-9]* only (so
 *     `1.0`, `1e2`, `-0`, negatives → 400), value ≤ 2^53-1. Every key shown in §2 is required,
 *     `pool_minor_units` included (v2: "every key shown is required").
 *  A5 §2 native `pool_minor` is optional; a missing pool is a 400 only when the policy's pool
 *     source is `inputs`. In the native shape `schema`, `epoch_id`, `asset`, `entries` are
 *     required; `entries` may be empty.
 *  A6 (v1 reading retired: v2 §1 gives `asset` a grammar.) No id is `.` or `..`.
 *  A7 Rejection reasons: the contract names `json`, `stale`, `asset`, `duplicate_account`.
 *     Other reasons here are this file's own words (`pool_missing`, `inputs`, `policy`,
 *     `epoch_id`). Check order: epoch_id argument → policy → inputs syntax/shape → stale →
 *     asset → duplicate accounts → pool missing.
 *  A8 §3 `residual_account` may be written explicitly as null (same as absent). `cap_excess`
 *     without `cap_minor` is accepted and has no effect. Duplicate metrics among score terms are
 *     accepted (each term counts). `mul` may be "0". `allocation` is required (no default given).
 *  A9 §6 `fee`: null iff the policy has no `fee`; with a fee the object is present even when its
 *     amount is "0" (§6 says so: "also when it is 0").
 *  A10 §6 `totals.pool_minor` is P (after `pool_cap_minor`), not P0: §4.9 conservation is over P.
 *  A11 §4.9 only `overflow` is reachable with exact arithmetic (R is defined as P-F-Σa). The
 *     checks run in the order overflow → negative → conservation; the first breach names the
 *     reason. "each score" is read as every entry's score (eligible or not), plus W over the
 *     eligible entries, Σ payouts and every manifest amount. A quarantined manifest keeps
 *     `fee_minor` = F and the `fee` object, has payouts [] and payouts_root = BLAKE3("").
 *  A12 §4.6 redistribute: a round with W = 0 or amount 0 pays nothing; an empty eligible∖C is such
 *     a round. `capped_minor` in residual mode is taken before step 7; amounts zeroed by step 7
 *     (including capped ones when cap < min_payout) count in `below_min_minor`.
 *  A13 §6 payouts_root: `left`/`right` are the raw 32-byte digests (not hex text); the root is
 *     written `b3:` + hex. A proof step's `side` names the side of the SIBLING hash ("L": the
 *     given hash is the left input), `hash` is bare lowercase hex; a level where the node moves
 *     up unchanged adds no step.
 *  A14 §4.5 tie key compared as lowercase hex strings (equal to comparing digest bytes).
 *  A15 §7 a quarantined envelope yields no intent (null); refIntent throws when manifest_hash does
 *     not match the manifest (by its schema's rule). The residual is not a transfer.
 *  A16 §6 signature rule: an `ed25519` signature whose kid is not published (or whose key is
 *     neither `active` nor `retired`) counts as failing; this verifier does not support
 *     `ml-dsa-65`, so it skips such signatures (and refuses when PQ is required).
 */
import { blake3 } from "@noble/hashes/blake3.js";

export const REF_I128_MAX: bigint = (1n << 127n) - 1n;
/** 2^53-1: largest JSON integer in the contract's value space (§1, §2). */
const JSON_INT_MAX = 9007199254740991n;
/** Nesting bound for the strict parser and serializer (no contract document is deeper). */
const JSON_DEPTH_MAX = 64;
/** §3: a score has 1..32 terms. */
const SCORE_TERMS_MAX = 32;
/** I128_MAX has 39 decimal digits; a longer canonical decimal is necessarily larger. */
const MONEY_DIGITS_MAX = 39;
const BPS_DENOMINATOR = 10000n;
export const REF_DEFAULT_SALT = "svc-rewarder|v1";

// ---------------------------------------------------------------- bytes, hex, BLAKE3

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function toHex(bytes: Uint8Array): string {
  const digits = "0123456789abcdef";
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += digits[b >> 4]! + digits[b & 15]!;
  }
  return out;
}

function fromHex64(hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error("reference: expected 64 lowercase hex chars");
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function b3(bytes: Uint8Array): Uint8Array {
  return blake3(bytes); // 32-byte output by default
}

/** §1: `b3:` + lowercase hex of BLAKE3-256 of the exact bytes. */
export function refCid(bytes: Uint8Array): string {
  return "b3:" + toHex(b3(bytes));
}

/** §4.5 tie key: hex(BLAKE3("svc-rewarder/tie/v1|" + inputs_cid + "|" + account)). */
export function refTieKey(inputsCid: string, account: string): string {
  return toHex(b3(utf8("svc-rewarder/tie/v1|" + inputsCid + "|" + account)));
}

// ---------------------------------------------------------------- canonical JSON (§1, RFC 8785)

function compareUtf16(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function compareUtf8Bytes(a: string, b: string): number {
  const x = utf8(a);
  const y = utf8(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = x[i]! - y[i]!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function quoteJson(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0d) out += "\\r";
    else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0");
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : -1;
      if (next < 0xdc00 || next > 0xdfff) throw new Error("reference JCS: lone surrogate (A1)");
      out += s[i]! + s[i + 1]!;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw new Error("reference JCS: lone surrogate (A1)");
    } else out += s[i]!;
  }
  return out + '"';
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function serialize(value: unknown, depth: number): string {
  if (depth > JSON_DEPTH_MAX) throw new Error("reference JCS: too deep");
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new Error("reference JCS: number outside integers 0..2^53-1 (A2)");
    }
    return String(value); // -0 → "0"
  }
  if (typeof value === "string") return quoteJson(value);
  if (Array.isArray(value)) {
    const parts: string[] = [];
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw new Error("reference JCS: sparse array (A2)");
      parts.push(serialize(value[i], depth + 1));
    }
    return "[" + parts.join(",") + "]";
  }
  if (isPlainObject(value)) {
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw new Error("reference JCS: symbol key");
    }
    const keys = Object.keys(value);
    // insertion sort by UTF-16 code units: obviously correct, no reliance on Array#sort
    for (let i = 1; i < keys.length; i++) {
      for (let j = i; j > 0 && compareUtf16(keys[j - 1]!, keys[j]!) > 0; j--) {
        const t = keys[j]!;
        keys[j] = keys[j - 1]!;
        keys[j - 1] = t;
      }
    }
    const parts: string[] = [];
    for (const k of keys) {
      const member = value[k];
      if (member === undefined) throw new Error("reference JCS: undefined member (A2)");
      parts.push(quoteJson(k) + ":" + serialize(member, depth + 1));
    }
    return "{" + parts.join(",") + "}";
  }
  throw new Error("reference JCS: value outside the contract's value space (A2)");
}

/** RFC 8785 canonical JSON for the contract's value space (§1); throws outside it. */
export function refCanonicalJson(value: unknown): string {
  return serialize(value, 0);
}

// ---------------------------------------------------------------- strict JSON parser (A3)

class Reject extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

class JNum {
  constructor(readonly lexeme: string) {}
}
type JVal = null | boolean | string | JNum | JVal[] | Map<string, JVal>;

function parseStrictJson(bytes: Uint8Array): JVal {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new Reject("json");
  }
  let at = 0;
  const fail = (): never => {
    throw new Reject("json"); // A3: every I-JSON fault is reason `json`
  };
  const ws = () => {
    while (at < text.length && " \t\n\r".includes(text[at]!)) at++;
  };
  const str = (): string => {
    if (text[at] !== '"') fail();
    at++;
    let out = "";
    for (;;) {
      if (at >= text.length) fail();
      const ch = text[at]!;
      const code = text.charCodeAt(at);
      if (ch === '"') {
        at++;
        break;
      }
      if (code < 0x20) fail();
      if (ch !== "\\") {
        out += ch;
        at++;
        continue;
      }
      const e = text[at + 1];
      at += 2;
      const simple: Record<string, string> = {
        '"': '"',
        "\\": "\\",
        "/": "/",
        b: "\b",
        f: "\f",
        n: "\n",
        r: "\r",
        t: "\t",
      };
      if (e !== undefined && e !== "u" && e in simple) out += simple[e]!;
      else if (e === "u") {
        const hex = text.slice(at, at + 4);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) fail();
        out += String.fromCharCode(parseInt(hex, 16));
        at += 4;
      } else fail();
    }
    if (!isIJsonString(out)) fail(); // escapes can produce lone surrogates and noncharacters
    return out;
  };
  const value = (depth: number): JVal => {
    ws();
    const ch = text[at];
    // `depth` counts the containers around this value; opening one more must stay ≤ 64 (§1)
    if ((ch === "{" || ch === "[") && depth + 1 > JSON_DEPTH_MAX) fail();
    if (ch === "{") {
      at++;
      const map = new Map<string, JVal>();
      ws();
      if (text[at] === "}") {
        at++;
        return map;
      }
      for (;;) {
        ws();
        const key = str();
        if (map.has(key)) fail(); // duplicate keys rejected (A3)
        ws();
        if (text[at] !== ":") fail();
        at++;
        map.set(key, value(depth + 1));
        ws();
        if (text[at] === ",") at++;
        else if (text[at] === "}") {
          at++;
          return map;
        } else fail();
      }
    }
    if (ch === "[") {
      at++;
      const arr: JVal[] = [];
      ws();
      if (text[at] === "]") {
        at++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[at] === ",") at++;
        else if (text[at] === "]") {
          at++;
          return arr;
        } else fail();
      }
    }
    if (ch === '"') return str();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return v;
      }
    }
    NUMBER_RE.lastIndex = at;
    const m = NUMBER_RE.exec(text);
    if (m === null) return fail();
    at += m[0].length;
    return new JNum(m[0]);
  };
  const result = value(0);
  ws();
  if (at !== text.length) fail();
  return result;
}

/** RFC 8259 number grammar, sticky so that it reads at the cursor without copying the text. */
const NUMBER_RE = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/**
 * I-JSON strings (RFC 7493 §2.1): well-formed UTF-16 (no lone surrogate) and no noncharacter
 * (U+FDD0..U+FDEF, and U+xFFFE / U+xFFFF in every plane).
 */
export function isIJsonString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = i + 1 < s.length ? s.charCodeAt(i + 1) : -1;
      if (n < 0xdc00 || n > 0xdfff) return false;
      cp = 0x10000 + ((c - 0xd800) << 10) + (n - 0xdc00);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
    if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return false;
  }
  return true;
}

/** Converts a JS value (an already-parsed policy) into the parser's representation. */
function fromJs(v: unknown, depth: number): JVal {
  if (depth > JSON_DEPTH_MAX) throw new Reject("json");
  if (typeof v === "string" && !isIJsonString(v)) throw new Reject("json");
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Reject("policy");
    return new JNum(String(v)); // 1.5 → "1.5", -1 → "-1", 1e21 → "1e+21": all refused later
  }
  if (Array.isArray(v)) {
    const out: JVal[] = [];
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) throw new Reject("policy");
      out.push(fromJs(v[i], depth + 1));
    }
    return out;
  }
  if (isPlainObject(v)) {
    const map = new Map<string, JVal>();
    for (const k of Object.keys(v)) {
      if (!isIJsonString(k)) throw new Reject("json");
      map.set(k, fromJs(v[k], depth + 1));
    }
    return map;
  }
  throw new Reject("policy");
}

// ---------------------------------------------------------------- field validators

function obj(v: JVal | undefined, req: string[], opt: string[], why: string): Map<string, JVal> {
  if (!(v instanceof Map)) throw new Reject(why);
  for (const k of v.keys()) if (!req.includes(k) && !opt.includes(k)) throw new Reject(why);
  for (const k of req) if (!v.has(k)) throw new Reject(why);
  return v;
}

/** §1 money: decimal string, no sign, no leading zeros, ≤ I128_MAX. */
function money(v: JVal | undefined, why: string): bigint {
  if (typeof v !== "string" || v.length > MONEY_DIGITS_MAX) throw new Reject(why);
  if (!/^(0|[1-9][0-9]*)$/.test(v)) throw new Reject(why);
  const n = BigInt(v);
  if (n > REF_I128_MAX) throw new Reject(why);
  return n;
}

function jsonInt(v: JVal | undefined, min: bigint, max: bigint, why: string): bigint {
  if (!(v instanceof JNum) || !/^(0|[1-9][0-9]*)$/.test(v.lexeme)) throw new Reject(why);
  const n = BigInt(v.lexeme);
  if (n < min || n > max) throw new Reject(why);
  return n;
}

function matching(v: JVal | undefined, re: RegExp, why: string): string {
  if (typeof v !== "string" || !re.test(v)) throw new Reject(why);
  return v;
}

// §1 id grammars; `(?!\.\.?$)`: no id is `.` or `..`
export const EPOCH_RE = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,128}$/;
export const ACCOUNT_RE = /^(?!\.\.?$)[A-Za-z0-9._:/-]{1,160}$/;
const POLICY_ID_RE = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,128}$/;
export const TENANT_RE = /^[a-z0-9_-]{1,64}$/;
export const KID_RE = /^(?!\.\.?$)[A-Za-z0-9._-]{1,64}$/;
const METRIC_RE = /^[a-z][a-z0-9_]{0,63}$/;
const ASSET_RE = /^(?!\.\.?$)[A-Za-z0-9._:-]{1,64}$/;
export const CID_RE = /^b3:[0-9a-f]{64}$/;
const FUNDING_SOURCES = [
  "protocol_pool",
  "advertiser_budget",
  "creator_pool",
  "sponsor_budget",
  "governance_budget",
];

// ---------------------------------------------------------------- policy (§3)

interface RefPolicy {
  policyId: string;
  asset: string;
  fundingSource: string;
  fixedPool: bigint | null; // null: pool source "inputs"
  poolCap: bigint | null;
  score: { metric: string; mul: bigint; div: bigint }[];
  minScore: bigint;
  fee: { bps: bigint; account: string } | null;
  allocation: "floor" | "largest_remainder";
  cap: bigint | null;
  capExcess: "residual" | "redistribute";
  minPayout: bigint;
  residualAccount: string | null;
}

function parsePolicy(doc: unknown): RefPolicy {
  const p = obj(fromJs(doc, 0), [
    "schema",
    "policy_id",
    "version",
    "asset",
    "funding_source",
    "pool",
    "score",
    "allocation",
  ], [
    "pool_cap_minor",
    "min_score",
    "fee",
    "cap_minor",
    "cap_excess",
    "min_payout_minor",
    "residual_account",
  ], "policy");
  const W = "policy";
  if (p.get("schema") !== "svc-rewarder.policy.v1") throw new Reject(W);
  jsonInt(p.get("version"), 1n, JSON_INT_MAX, W);
  const fundingSource = p.get("funding_source");
  if (typeof fundingSource !== "string" || !FUNDING_SOURCES.includes(fundingSource)) {
    throw new Reject(W);
  }
  const pool = obj(p.get("pool"), ["source"], ["amount_minor"], W);
  let fixedPool: bigint | null = null;
  if (pool.get("source") === "inputs") {
    if (pool.has("amount_minor")) throw new Reject(W);
  } else if (pool.get("source") === "fixed") {
    fixedPool = money(pool.get("amount_minor"), W);
  } else throw new Reject(W);
  const terms = p.get("score");
  if (!Array.isArray(terms) || terms.length < 1 || terms.length > SCORE_TERMS_MAX) {
    throw new Reject(W);
  }
  const score: RefPolicy["score"] = [];
  for (const t of terms) {
    const term = obj(t, ["metric", "mul", "div"], [], W);
    const div = money(term.get("div"), W);
    if (div < 1n) throw new Reject(W);
    score.push({
      metric: matching(term.get("metric"), METRIC_RE, W),
      mul: money(term.get("mul"), W),
      div,
    });
  }
  let fee: RefPolicy["fee"] = null;
  if (p.has("fee")) {
    const f = obj(p.get("fee"), ["bps", "account"], [], W);
    fee = {
      bps: jsonInt(f.get("bps"), 0n, 10000n, W),
      account: matching(f.get("account"), ACCOUNT_RE, W),
    };
  }
  const allocation = p.get("allocation");
  if (allocation !== "floor" && allocation !== "largest_remainder") throw new Reject(W);
  const capExcess = p.has("cap_excess") ? p.get("cap_excess") : "residual";
  if (capExcess !== "residual" && capExcess !== "redistribute") throw new Reject(W);
  const ra = p.has("residual_account") ? p.get("residual_account") : null;
  return {
    policyId: matching(p.get("policy_id"), POLICY_ID_RE, W),
    asset: matching(p.get("asset"), ASSET_RE, W),
    fundingSource,
    fixedPool,
    poolCap: p.has("pool_cap_minor") ? money(p.get("pool_cap_minor"), W) : null,
    score,
    minScore: p.has("min_score") ? money(p.get("min_score"), W) : 1n,
    fee,
    allocation,
    cap: p.has("cap_minor") ? money(p.get("cap_minor"), W) : null,
    capExcess,
    minPayout: p.has("min_payout_minor") ? money(p.get("min_payout_minor"), W) : 1n,
    residualAccount: ra === null ? null : matching(ra, ACCOUNT_RE, W),
  };
}

/** §3: `b3:` + BLAKE3(JCS(policy)) over the document as written (no defaults filled in). */
export function refPolicyHash(policyDoc: unknown): string {
  return refCid(utf8(refCanonicalJson(policyDoc)));
}

// ---------------------------------------------------------------- inputs (§2)

interface RefInputs {
  epochId: string | null;
  asset: string | null;
  pool: bigint | null;
  entries: { account: string; metrics: Map<string, bigint> }[];
}

function parseInputs(bytes: Uint8Array): RefInputs {
  const W = "inputs";
  const root = parseStrictJson(bytes);
  if (!(root instanceof Map)) throw new Reject(W);
  const entries: RefInputs["entries"] = [];
  if (root.has("schema")) {
    const d = obj(root, ["schema", "epoch_id", "asset", "entries"], ["pool_minor"], W);
    if (d.get("schema") !== "svc-rewarder.inputs.v1") throw new Reject(W);
    const list = d.get("entries");
    if (!Array.isArray(list)) throw new Reject(W);
    for (const item of list) {
      const e = obj(item, ["account", "metrics"], [], W);
      const m = e.get("metrics");
      if (!(m instanceof Map)) throw new Reject(W); // any metric name allowed, checked below
      const metrics = new Map<string, bigint>();
      for (const [name, v] of m) metrics.set(matching(name, METRIC_RE, W), money(v, W));
      entries.push({ account: matching(e.get("account"), ACCOUNT_RE, W), metrics });
    }
    return {
      epochId: matching(d.get("epoch_id"), EPOCH_RE, W),
      asset: matching(d.get("asset"), ASSET_RE, W),
      pool: d.has("pool_minor") ? money(d.get("pool_minor"), W) : null,
      entries,
    };
  }
  // A4: every key shown in §2 is required, the pool included
  const d = obj(root, ["produced_at_millis", "pool_minor_units", "contributions"], [], W);
  jsonInt(d.get("produced_at_millis"), 0n, JSON_INT_MAX, W);
  const list = d.get("contributions");
  if (!Array.isArray(list)) throw new Reject(W);
  const counters = ["bytes_stored", "bytes_served", "uptime_seconds"];
  for (const item of list) {
    const c = obj(item, ["account", ...counters], [], W);
    const metrics = new Map<string, bigint>();
    for (const name of counters) metrics.set(name, jsonInt(c.get(name), 0n, JSON_INT_MAX, W));
    entries.push({ account: matching(c.get("account"), ACCOUNT_RE, W), metrics });
  }
  return {
    epochId: null,
    asset: null,
    pool: money(d.get("pool_minor_units"), W),
    entries,
  };
}

// ---------------------------------------------------------------- allocation (§4)

interface Scored {
  account: string;
  score: bigint;
}

/** §4 steps 4-5 over one set of entries and one amount. Returns account → amount. */
function allocateRound(
  amount: bigint,
  entries: Scored[],
  mode: "floor" | "largest_remainder",
  inputsCid: string,
): Map<string, bigint> {
  const out = new Map<string, bigint>();
  let w = 0n;
  for (const e of entries) w += e.score;
  for (const e of entries) out.set(e.account, 0n);
  if (w === 0n || amount === 0n) return out;
  let given = 0n;
  const rows: { account: string; rem: bigint; tie: string }[] = [];
  for (const e of entries) {
    const a = (amount * e.score) / w; // all operands ≥ 0: truncation is floor
    out.set(e.account, a);
    given += a;
    rows.push({
      account: e.account,
      rem: (amount * e.score) % w,
      tie: refTieKey(inputsCid, e.account),
    });
  }
  if (mode === "floor") return out;
  const leftover = amount - given;
  if (leftover < 0n || leftover >= BigInt(entries.length) + 1n) {
    throw new Error("reference: leftover");
  }
  // insertion sort: larger remainder first, then smaller tie key
  for (let i = 1; i < rows.length; i++) {
    for (let j = i; j > 0; j--) {
      const x = rows[j - 1]!;
      const y = rows[j]!;
      const yFirst = y.rem > x.rem || (y.rem === x.rem && y.tie < x.tie);
      if (!yFirst) break;
      rows[j - 1] = y;
      rows[j] = x;
    }
  }
  for (let i = 0; i < Number(leftover); i++) {
    const r = rows[i]!;
    out.set(r.account, out.get(r.account)! + 1n);
  }
  return out;
}

interface Allocation {
  P: bigint;
  F: bigint;
  amounts: Map<string, bigint>; // eligible accounts only, after steps 6-7
  capped: bigint;
  belowMin: bigint;
  quarantine: "overflow" | "conservation" | "negative" | null;
}

function allocate(policy: RefPolicy, inputs: RefInputs, inputsCid: string): Allocation | Reject {
  const P0 = policy.fixedPool ?? inputs.pool;
  if (P0 === null) return new Reject("pool_missing");
  const P = policy.poolCap !== null && policy.poolCap < P0 ? policy.poolCap : P0;
  const F = policy.fee === null ? 0n : (P * policy.fee.bps) / BPS_DENOMINATOR;
  const N = P - F;
  const threshold = policy.minScore > 1n ? policy.minScore : 1n;
  const eligible: Scored[] = [];
  let overflow = false;
  for (const e of inputs.entries) {
    let score = 0n;
    for (const t of policy.score) score += ((e.metrics.get(t.metric) ?? 0n) * t.mul) / t.div;
    if (score > REF_I128_MAX) overflow = true;
    if (score >= threshold) eligible.push({ account: e.account, score });
  }
  let W = 0n;
  for (const e of eligible) W += e.score;
  if (W > REF_I128_MAX) overflow = true;

  let amounts: Map<string, bigint>;
  let capped = 0n;
  const cap = policy.cap;
  if (cap === null) {
    amounts = allocateRound(N, eligible, policy.allocation, inputsCid);
  } else if (policy.capExcess === "residual") {
    amounts = allocateRound(N, eligible, policy.allocation, inputsCid);
    for (const [account, a] of amounts) {
      if (a > cap) {
        capped += a - cap;
        amounts.set(account, cap);
      }
    }
  } else {
    const inC = new Set<string>();
    let last = new Map<string, bigint>();
    let settled = false;
    for (let round = 0; round <= eligible.length + 1; round++) {
      const rest = eligible.filter((e) => !inC.has(e.account));
      last = allocateRound(N - cap * BigInt(inC.size), rest, policy.allocation, inputsCid);
      const added = rest.filter((e) => last.get(e.account)! > cap);
      if (added.length === 0) {
        settled = true;
        break;
      }
      for (const e of added) inC.add(e.account);
    }
    if (!settled) throw new Error("reference: water-filling did not settle");
    amounts = new Map();
    for (const e of eligible) {
      amounts.set(e.account, inC.has(e.account) ? cap : last.get(e.account)!);
    }
    if (inC.size > 0 && inC.size === eligible.length) capped = N - cap * BigInt(inC.size);
  }
  let belowMin = 0n;
  for (const [account, a] of amounts) {
    if (a > 0n && a < policy.minPayout) {
      belowMin += a;
      amounts.set(account, 0n);
    }
  }
  let sum = 0n;
  let negative = false;
  for (const a of amounts.values()) {
    sum += a;
    if (a < 0n) negative = true;
    if (a > REF_I128_MAX) overflow = true;
  }
  const R = P - F - sum;
  if (sum > REF_I128_MAX || R > REF_I128_MAX || P > REF_I128_MAX) overflow = true;
  if (R < 0n || F < 0n || capped < 0n || belowMin < 0n || R - capped - belowMin < 0n) {
    negative = true;
  }
  const conserved = sum + F + R === P && F + N === P;
  const quarantine = overflow
    ? "overflow"
    : negative
    ? "negative"
    : !conserved
    ? "conservation"
    : null;
  return { P, F, amounts, capped, belowMin, quarantine };
}

// ---------------------------------------------------------------- payouts_root (§6)

export interface RefPayout {
  account: string;
  amount_minor: string;
}
export interface RefProofStep {
  side: "L" | "R";
  hash: string;
}

function leafBytes(p: RefPayout): Uint8Array {
  return b3(
    concat([new Uint8Array([0]), utf8(p.account), new Uint8Array([0]), utf8(p.amount_minor)]),
  );
}

function nodeBytes(left: Uint8Array, right: Uint8Array): Uint8Array {
  return b3(concat([new Uint8Array([1]), left, right]));
}

/** §6 leaf: hex(BLAKE3(0x00 || account || 0x00 || amount_minor)). */
export function refLeaf(payout: RefPayout): string {
  return toHex(leafBytes(payout));
}

function buildLevels(payouts: RefPayout[]): Uint8Array[][] {
  const levels: Uint8Array[][] = [payouts.map(leafBytes)];
  for (let guard = 0; guard < 64 && levels[levels.length - 1]!.length > 1; guard++) {
    const level = levels[levels.length - 1]!;
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? nodeBytes(level[i]!, level[i + 1]!) : level[i]!);
    }
    levels.push(next);
  }
  return levels;
}

/** §6 payouts_root: `b3:` + hex; no payouts → BLAKE3 of empty input. */
export function refPayoutsRoot(payouts: RefPayout[]): string {
  if (payouts.length === 0) return refCid(new Uint8Array(0));
  const levels = buildLevels(payouts);
  return "b3:" + toHex(levels[levels.length - 1]![0]!);
}

/** §6 inclusion proof of payouts[index], from the leaf up (A13 for `side`). */
export function refMerkleProof(
  payouts: RefPayout[],
  index: number,
): { leaf: string; proof: RefProofStep[]; payouts_root: string } {
  if (!Number.isInteger(index) || index < 0 || index >= payouts.length) {
    throw new Error("reference: proof index out of range");
  }
  const levels = buildLevels(payouts);
  const proof: RefProofStep[] = [];
  let pos = index;
  for (let l = 0; l < levels.length - 1; l++) {
    const level = levels[l]!;
    if (pos % 2 === 1) proof.push({ side: "L", hash: toHex(level[pos - 1]!) });
    else if (pos + 1 < level.length) proof.push({ side: "R", hash: toHex(level[pos + 1]!) });
    pos = Math.floor(pos / 2);
  }
  return { leaf: refLeaf(payouts[index]!), proof, payouts_root: refPayoutsRoot(payouts) };
}

/** Folds a proof onto a leaf (hex); returns `b3:` + hex of the root. */
export function refRootFromProof(leafHex: string, proof: RefProofStep[]): string {
  let cur = fromHex64(leafHex);
  for (const step of proof) {
    const sib = fromHex64(step.hash);
    if (step.side === "L") cur = nodeBytes(sib, cur);
    else if (step.side === "R") cur = nodeBytes(cur, sib);
    else throw new Error("reference: bad proof side");
  }
  return "b3:" + toHex(cur);
}

// ---------------------------------------------------------------- run key (§5)

/** §5: `b3:` + BLAKE3(UTF-8 of salt|epoch_id|policy_hash|inputs_cid). */
export function refRunKey(
  salt: string,
  epochId: string,
  policyHash: string,
  inputsCid: string,
): string {
  return refCid(utf8(salt + "|" + epochId + "|" + policyHash + "|" + inputsCid));
}

// ---------------------------------------------------------------- compute → manifest (§4, §6)

export const REF_MANIFEST_V1 = "svc-rewarder.manifest.v1";
export const REF_MANIFEST_V2 = "svc-rewarder.manifest.v2";
export type RefManifestSchema = typeof REF_MANIFEST_V1 | typeof REF_MANIFEST_V2;

export type RefComputeResult =
  | { ok: true; manifest: Record<string, unknown>; manifestHash: string }
  | { ok: false; status: 400; reason: string };

/** Parses, allocates and builds the manifest (§2–§6). Quarantine is an ok manifest. */
export function refCompute(args: {
  epochId: string;
  inputsBytes: Uint8Array;
  policyDoc: unknown;
  salt?: string;
  /** Manifest schema to build: v2 (default, §6) or v1 (kept to test v1 verification). */
  schema?: RefManifestSchema;
}): RefComputeResult {
  try {
    matching(args.epochId, EPOCH_RE, "epoch_id");
    const policy = parsePolicy(args.policyDoc);
    const inputs = parseInputs(args.inputsBytes);
    if (inputs.epochId !== null && inputs.epochId !== args.epochId) throw new Reject("stale");
    if (inputs.asset !== null && inputs.asset !== policy.asset) throw new Reject("asset");
    const seen = new Set<string>();
    for (const e of inputs.entries) {
      if (seen.has(e.account)) throw new Reject("duplicate_account");
      seen.add(e.account);
    }
    const inputsCid = refCid(args.inputsBytes);
    const alloc = allocate(policy, inputs, inputsCid);
    if (alloc instanceof Reject) throw alloc;
    const policyHash = refPolicyHash(args.policyDoc);
    const runKey = refRunKey(args.salt ?? REF_DEFAULT_SALT, args.epochId, policyHash, inputsCid);
    const manifest = buildManifest(policy, alloc, {
      schema: args.schema ?? REF_MANIFEST_V2,
      epochId: args.epochId,
      runKey,
      inputsCid,
      policyHash,
    });
    return { ok: true, manifest, manifestHash: refManifestHash(manifest) };
  } catch (e) {
    if (e instanceof Reject) return { ok: false, status: 400, reason: e.reason };
    throw e;
  }
}

function buildManifest(
  policy: RefPolicy,
  alloc: Allocation,
  ids: {
    schema: RefManifestSchema;
    epochId: string;
    runKey: string;
    inputsCid: string;
    policyHash: string;
  },
): Record<string, unknown> {
  const payouts: RefPayout[] = [];
  let sum = 0n;
  let capped = alloc.capped;
  let belowMin = alloc.belowMin;
  if (alloc.quarantine === null) {
    const accounts = [...alloc.amounts.keys()].filter((a) => alloc.amounts.get(a)! > 0n);
    for (let i = 1; i < accounts.length; i++) {
      for (let j = i; j > 0 && compareUtf8Bytes(accounts[j - 1]!, accounts[j]!) > 0; j--) {
        const t = accounts[j]!;
        accounts[j] = accounts[j - 1]!;
        accounts[j - 1] = t;
      }
    }
    for (const account of accounts) {
      const a = alloc.amounts.get(account)!;
      sum += a;
      payouts.push({ account, amount_minor: a.toString() });
    }
  } else {
    capped = 0n;
    belowMin = 0n;
  }
  const R = alloc.P - alloc.F - sum;
  return {
    schema: ids.schema,
    epoch_id: ids.epochId,
    run_key: ids.runKey,
    inputs_cid: ids.inputsCid,
    policy_id: policy.policyId,
    policy_hash: ids.policyHash,
    status: alloc.quarantine === null ? "sealed" : "quarantined",
    asset: policy.asset,
    funding_source: policy.fundingSource,
    totals: {
      pool_minor: alloc.P.toString(),
      fee_minor: alloc.F.toString(),
      payout_minor: sum.toString(),
      residual_minor: R.toString(),
      recipients: payouts.length,
    },
    fee: policy.fee === null
      ? null
      : { account: policy.fee.account, amount_minor: alloc.F.toString() },
    residual: {
      account: policy.residualAccount,
      amount_minor: R.toString(),
      rounding_minor: (R - capped - belowMin).toString(),
      below_min_minor: belowMin.toString(),
      capped_minor: capped.toString(),
    },
    payouts,
    payouts_root: refPayoutsRoot(payouts),
    quarantine: alloc.quarantine === null ? null : { reason: alloc.quarantine },
  };
}

// ---------------------------------------------------------------- header, manifest_hash (§6)

/** §6 header: the manifest without its `payouts` member (a shallow copy; nothing else removed). */
export function refManifestHeader(manifest: Record<string, unknown>): Record<string, unknown> {
  const header: Record<string, unknown> = {};
  for (const k of Object.keys(manifest)) if (k !== "payouts") header[k] = manifest[k];
  return header;
}

/**
 * §6 manifest_hash by the manifest's own schema: v2 → BLAKE3(JCS(header)); v1 → BLAKE3(JCS of
 * the whole manifest). Throws on any other schema.
 */
export function refManifestHash(manifest: Record<string, unknown>): string {
  if (manifest.schema === REF_MANIFEST_V2) {
    return refCid(utf8(refCanonicalJson(refManifestHeader(manifest))));
  }
  if (manifest.schema === REF_MANIFEST_V1) return refCid(utf8(refCanonicalJson(manifest)));
  throw new Error("reference: unknown manifest schema");
}

/** §6 v2 header hash, for a header on its own (proof documents, intents). */
export function refHeaderHash(header: Record<string, unknown>): string {
  return refCid(utf8(refCanonicalJson(header)));
}

/** §6 statement signed by a manifest signature: ASCII prefix by schema + manifest_hash. */
export function refManifestStatement(schema: RefManifestSchema, manifestHash: string): string {
  const prefix = schema === REF_MANIFEST_V2
    ? "svc-rewarder/manifest-sig/v2:"
    : "svc-rewarder/manifest-sig/v1:";
  return prefix + manifestHash;
}

// ---------------------------------------------------------------- inclusion path shape (§6)

/**
 * §6 the sides of the inclusion path that (index, recipients) gives in the payouts tree, from
 * the leaf up: at each level an odd position has its sibling on the left ("L"), an even one on
 * the right ("R") when a right neighbour exists, and none (no step) when it is promoted.
 */
export function refPathSides(index: number, recipients: number): ("L" | "R")[] {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(recipients)) {
    throw new Error("reference: path shape needs integers");
  }
  if (index < 0 || index >= recipients) throw new Error("reference: index out of range");
  const sides: ("L" | "R")[] = [];
  let pos = index;
  for (let width = recipients; width > 1; width = Math.ceil(width / 2)) {
    if (pos % 2 === 1) sides.push("L");
    else if (pos + 1 < width) sides.push("R");
    pos = Math.floor(pos / 2);
  }
  return sides;
}

// ---------------------------------------------------------------- proof documents (§6)

/**
 * §6 the proof document of `account` in a sealed envelope: v2 for a v2 manifest
 * (`schema`, `index`, `header`), the v1 shape (no `schema`, `payouts_root`) for a v1 one.
 * null when the account has no payout (the route's 404 `no_payout`).
 */
export function refProofDocument(
  envelope: Record<string, unknown>,
  account: string,
): Record<string, unknown> | null {
  const m = envelope.manifest as Record<string, unknown>;
  const payouts = m.payouts as RefPayout[];
  const index = payouts.findIndex((p) => p.account === account);
  if (index < 0) return null;
  const p = refMerkleProof(payouts, index);
  const amount = payouts[index]!.amount_minor;
  if (m.schema === REF_MANIFEST_V2) {
    return {
      schema: "svc-rewarder.proof.v2",
      account,
      amount_minor: amount,
      index,
      leaf: p.leaf,
      proof: p.proof,
      header: refManifestHeader(m),
      manifest_hash: envelope.manifest_hash,
      signatures: envelope.signatures,
    };
  }
  return {
    account,
    amount_minor: amount,
    leaf: p.leaf,
    proof: p.proof,
    payouts_root: m.payouts_root,
    manifest_hash: envelope.manifest_hash,
    signatures: envelope.signatures,
  };
}

// ---------------------------------------------------------------- ledger intent (§5, §7)

/** §5 intent key: `b3:` + BLAKE3("svc-rewarder/intent-key/v1|" + tenant + "|" + run_key). */
export function refIntentKey(tenant: string, runKey: string): string {
  if (!TENANT_RE.test(tenant)) throw new Error("reference: bad tenant");
  if (!CID_RE.test(runKey)) throw new Error("reference: bad run key");
  return refCid(utf8("svc-rewarder/intent-key/v1|" + tenant + "|" + runKey));
}

/**
 * §7 intent for a sealed envelope (null when quarantined, A15): `intent.v2` with `intent_key`
 * and `header` for a v2 manifest, `intent.v1` for a v1 one. `body` is its JCS and
 * `idempotencyKey` the ledger header: the intent key (v2) or the run key (v1).
 */
export function refIntent(
  envelope: unknown,
  tenant: string,
): { intent: Record<string, unknown>; body: string; idempotencyKey: string } | null {
  if (!TENANT_RE.test(tenant)) throw new Error("reference: bad tenant");
  if (!isPlainObject(envelope) || !isPlainObject(envelope.manifest)) {
    throw new Error("reference: bad envelope");
  }
  const m = envelope.manifest;
  const hash = envelope.manifest_hash;
  if (typeof hash !== "string" || !CID_RE.test(hash)) throw new Error("reference: bad hash");
  if (refManifestHash(m) !== hash) throw new Error("reference: hash mismatch");
  if (m.status !== "sealed") return null;
  const transfers: { to: string; amount_minor: string }[] = [];
  let total = 0n;
  for (const p of m.payouts as RefPayout[]) {
    transfers.push({ to: p.account, amount_minor: p.amount_minor });
    total += BigInt(p.amount_minor);
  }
  const fee = m.fee as { account: string; amount_minor: string } | null;
  if (fee !== null && BigInt(fee.amount_minor) > 0n) {
    transfers.push({ to: fee.account, amount_minor: fee.amount_minor });
    total += BigInt(fee.amount_minor);
  }
  const runKey = m.run_key as string;
  const common = {
    tenant,
    run_key: runKey,
    epoch_id: m.epoch_id,
    manifest_hash: hash,
    asset: m.asset,
    funding_source: m.funding_source,
    total_minor: total.toString(),
    transfers,
    signatures: envelope.signatures,
  };
  if (m.schema === REF_MANIFEST_V2) {
    const intentKey = refIntentKey(tenant, runKey);
    const intent = {
      schema: "svc-rewarder.intent.v2",
      intent_key: intentKey,
      header: refManifestHeader(m),
      ...common,
    };
    return { intent, body: refCanonicalJson(intent), idempotencyKey: intentKey };
  }
  const intent = { schema: "svc-rewarder.intent.v1", ...common };
  return { intent, body: refCanonicalJson(intent), idempotencyKey: runKey };
}
