/**
 * The one strict JSON reader (contract §1: every JSON text read is I-JSON, RFC 7493): a pass
 * over the bytes before `JSON.parse` refuses what `JSON.parse` would accept silently and other
 * parsers would read differently — duplicate member names (JSON.parse keeps the last), a
 * byte-order mark (TextDecoder strips it), nesting deeper than a bound, lone surrogates and
 * noncharacters, escaped (`"\ud800"`, `"\uffff"`) or raw (RFC 7493 §2.1) — and the decode
 * refuses invalid UTF-8 (which is also how a raw lone surrogate, ED A0..ED BF, is refused).
 * Two implementations must never read one CID differently.
 *
 * Keys are compared after unescaping (`"a"` and `"\u0061"` are the same key), as RFC 8259
 * §4 names them. Runs in one pass over the bytes without allocating per value. It also notes
 * the first number literal that is not a plain integer (digits only), which a value read by
 * `JSON.parse` can no longer show (`1e2` and `100` are the same number): compat inputs
 * (contract §2) refuse such literals.
 *
 * @module
 */
import { type Checkpoint, CHECKPOINT_HASH_BYTES, NEVER_CANCELLED } from "./checkpoint.ts";

/** Deepest nesting of objects and arrays accepted (our documents nest at most 4 deep). */
export const JSON_DEPTH_MAX = 64;

/**
 * Why a document is refused: a BOM, a duplicate member name, nesting > {@link JSON_DEPTH_MAX},
 * a lone surrogate, a noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF), invalid UTF-8, or
 * any other syntax error. Callers map every problem to 400 reason `json` (CLI exit 2).
 */
export type StrictJsonProblem =
  | "bom"
  | "duplicate_key"
  | "depth"
  | "surrogate"
  | "noncharacter"
  | "utf8"
  | "syntax";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LETTER_U = 0x75;

/** What one scan found: a problem, or null and the offset of a non-integer number literal. */
interface ScanResult {
  problem: StrictJsonProblem | null;
  /** Byte offset of the first number literal with a sign, fraction or exponent; -1: none. */
  nonIntegerAt: number;
}

/**
 * Checks `bytes` (UTF-8 JSON); returns null when strict, else the problem. Syntax errors it
 * happens to notice are reported as `syntax`; others (and invalid UTF-8) are left to
 * {@link parseStrictJson}.
 */
export function strictJsonProblem(bytes: Uint8Array): StrictJsonProblem | null {
  return scan(bytes).problem;
}

function scan(bytes: Uint8Array, checkpoint: Checkpoint = NEVER_CANCELLED): ScanResult {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return { problem: "bom", nonIntegerAt: -1 };
  }
  // Open containers: for objects, the keys seen so far as (start, end, escaped) triples of
  // byte offsets; null for arrays. Keys are compared as bytes, decoded only when escaped.
  const stack: (number[] | null)[] = [];
  let expectKey = false;
  let nonIntegerAt = -1;
  const n = bytes.length;
  let checkAt = CHECKPOINT_HASH_BYTES;
  for (let i = 0; i < n; i++) {
    if (i >= checkAt) {
      checkpoint();
      checkAt = i + CHECKPOINT_HASH_BYTES;
    }
    const b = bytes[i]!;
    if (b === QUOTE) {
      const start = i + 1;
      const end = stringEnd(bytes, start);
      if (end < 0) return { problem: end === -1 ? "syntax" : PROBLEM_OF[-end - 2]!, nonIntegerAt };
      i = end;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const escaped = hasBackslash(bytes, start, end) ? 1 : 0;
        for (let k = 0; k < top.length; k += 3) {
          if (sameKey(bytes, top[k]!, top[k + 1]!, top[k + 2]!, start, i, escaped)) {
            return { problem: "duplicate_key", nonIntegerAt };
          }
        }
        top.push(start, i, escaped);
        expectKey = false;
      }
    } else if (b === OPEN_OBJECT) {
      if (stack.length >= JSON_DEPTH_MAX) return { problem: "depth", nonIntegerAt };
      stack.push([]);
      expectKey = true;
    } else if (b === OPEN_ARRAY) {
      if (stack.length >= JSON_DEPTH_MAX) return { problem: "depth", nonIntegerAt };
      stack.push(null);
      expectKey = false;
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      stack.pop();
      expectKey = false;
    } else if (b === COMMA) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
    } else if (b === COLON) {
      expectKey = false;
    } else if (b === MINUS || (b >= DIGIT_0 && b <= DIGIT_9)) {
      // A number literal: digits, or anything else of the JSON number grammar (- . e E +).
      let j = i;
      let plain = b !== MINUS;
      while (j + 1 < n && isNumberByte(bytes[j + 1]!)) {
        j++;
        if (bytes[j]! < DIGIT_0 || bytes[j]! > DIGIT_9) plain = false;
      }
      if (!plain && nonIntegerAt < 0) nonIntegerAt = i;
      i = j;
    }
  }
  return { problem: null, nonIntegerAt };
}

function isNumberByte(c: number): boolean {
  return (c >= DIGIT_0 && c <= DIGIT_9) || c === 0x2e || c === 0x65 || c === 0x45 ||
    c === 0x2b || c === MINUS;
}

/** Problems {@link stringEnd} reports, by code -2 - index. */
const PROBLEM_OF: readonly StrictJsonProblem[] = ["surrogate", "noncharacter", "syntax"];
const END_SURROGATE = -2;
const END_NONCHARACTER = -3;
const END_SYNTAX = -4;

/**
 * The offset of the closing quote of the string starting at `start`, or -1 when unterminated,
 * or a negative code from {@link PROBLEM_OF}. Escapes `\uXXXX` are decoded to check for lone
 * surrogates and noncharacters; raw noncharacters are recognised in their UTF-8 form.
 */
function stringEnd(bytes: Uint8Array, start: number): number {
  const n = bytes.length;
  let i = start;
  while (i < n) {
    const c = bytes[i]!;
    if (c === QUOTE) return i;
    if (c === BACKSLASH) {
      if (bytes[i + 1] !== LETTER_U) {
        i += 2;
        continue;
      }
      const unit = hex4(bytes, i + 2);
      if (unit < 0) return END_SYNTAX;
      if (unit >= 0xdc00 && unit <= 0xdfff) return END_SURROGATE;
      if (unit >= 0xd800 && unit <= 0xdbff) {
        // A high surrogate escape must be followed by a low surrogate escape (RFC 8259 §7).
        const low = bytes[i + 6] === BACKSLASH && bytes[i + 7] === LETTER_U
          ? hex4(bytes, i + 8)
          : -1;
        if (low < 0xdc00 || low > 0xdfff) return END_SURROGATE;
        const cp = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
        if ((cp & 0xfffe) === 0xfffe) return END_NONCHARACTER;
        i += 12;
        continue;
      }
      if (isNoncharacter(unit)) return END_NONCHARACTER;
      i += 6;
      continue;
    }
    if (c >= 0xef) {
      // Raw noncharacters: U+FDD0..FDEF and U+FFFE/FFFF are EF B7 90..AF and EF BF BE/BF;
      // U+xFFFE/xFFFF of planes 1..16 are 4-byte forms ending in BF BE/BF.
      if (c === 0xef && i + 2 < n) {
        const cp = ((bytes[i + 1]! & 0x3f) << 6) | (bytes[i + 2]! & 0x3f) | 0xf000;
        if (isNoncharacter(cp)) return END_NONCHARACTER;
      } else if (c >= 0xf0 && c <= 0xf4 && i + 3 < n) {
        const cp = ((c & 0x07) << 18) | ((bytes[i + 1]! & 0x3f) << 12) |
          ((bytes[i + 2]! & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
        if ((cp & 0xfffe) === 0xfffe) return END_NONCHARACTER;
      }
    }
    i++;
  }
  return -1;
}

/** BMP noncharacters (Unicode §23.7): U+FDD0..U+FDEF, U+FFFE, U+FFFF. */
function isNoncharacter(unit: number): boolean {
  return (unit >= 0xfdd0 && unit <= 0xfdef) || unit === 0xfffe || unit === 0xffff;
}

/** The value of four hex digits at `at`, or -1. */
function hex4(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let k = 0; k < 4; k++) {
    const c = bytes[at + k];
    if (c === undefined) return -1;
    const d = c >= 0x30 && c <= 0x39
      ? c - 0x30
      : c >= 0x61 && c <= 0x66
      ? c - 0x57
      : c >= 0x41 && c <= 0x46
      ? c - 0x37
      : -1;
    if (d < 0) return -1;
    value = (value << 4) | d;
  }
  return value;
}

function hasBackslash(bytes: Uint8Array, start: number, end: number): boolean {
  for (let k = start; k < end; k++) if (bytes[k] === BACKSLASH) return true;
  return false;
}

function sameKey(
  bytes: Uint8Array,
  aStart: number,
  aEnd: number,
  aEscaped: number,
  bStart: number,
  bEnd: number,
  bEscaped: number,
): boolean {
  if (aEscaped === 0 && bEscaped === 0) {
    if (aEnd - aStart !== bEnd - bStart) return false;
    for (let k = 0; k < aEnd - aStart; k++) {
      if (bytes[aStart + k] !== bytes[bStart + k]) return false;
    }
    return true;
  }
  return decodeKey(bytes, aStart, aEnd) === decodeKey(bytes, bStart, bEnd);
}

function decodeKey(bytes: Uint8Array, start: number, end: number): string | symbol {
  try {
    return JSON.parse(`"${new TextDecoder().decode(bytes.subarray(start, end))}"`);
  } catch {
    return Symbol("malformed"); // never equal: JSON.parse reports the syntax error later
  }
}

/** A strictly parsed document. */
export interface StrictJson {
  value: unknown;
  /**
   * Byte offset of the first number literal that is not a plain integer (has a sign,
   * fraction or exponent), or -1. Feed it to {@link jsonPathAt} to name the field.
   */
  nonIntegerAt: number;
}

/**
 * Parses UTF-8 JSON strictly (contract §1, I-JSON): invalid UTF-8, a BOM, duplicate keys,
 * excessive depth, lone surrogates and noncharacters are refused, as is anything
 * `JSON.parse` refuses. Every problem maps to 400 reason `json` (CLI exit 2). `checkpoint`
 * is called every CHECKPOINT_HASH_BYTES scanned and before the decode and the parse (which
 * cannot be interrupted); it throws to abandon the parse (src/core/checkpoint.ts).
 *
 * @example
 * ```ts
 * const parsed = parseStrictJson(bytes);
 * if (!parsed.ok) throw badRequest("json", "inputs");
 * ```
 */
export function parseStrictJson(
  input: Uint8Array | string,
  checkpoint: Checkpoint = NEVER_CANCELLED,
): { ok: true; value: unknown; nonIntegerAt: number } | { ok: false; problem: StrictJsonProblem } {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const scanned = scan(bytes, checkpoint);
  if (scanned.problem !== null) return { ok: false, problem: scanned.problem };
  checkpoint();
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return { ok: false, problem: "utf8" };
  }
  checkpoint();
  try {
    return { ok: true, value: JSON.parse(text), nonIntegerAt: scanned.nonIntegerAt };
  } catch {
    return { ok: false, problem: "syntax" };
  }
}

/**
 * The field path (`a.b[3].c`, members by name, 0-based indexes, `""` at the top) of the
 * value starting at byte `offset` of a well-formed JSON text. Walks the text once; meant for
 * error messages, after the document was parsed.
 */
export function jsonPathAt(bytes: Uint8Array, offset: number): string {
  const stack: { array: boolean; index: number; key: string }[] = [];
  let expectKey = false;
  for (let i = 0; i < offset && i < bytes.length; i++) {
    const b = bytes[i]!;
    const top = stack[stack.length - 1];
    if (b === QUOTE) {
      const end = stringEnd(bytes, i + 1);
      if (end < 0) break;
      if (expectKey && top && !top.array) {
        top.key = JSON.parse(new TextDecoder().decode(bytes.subarray(i, end + 1)));
        expectKey = false;
      }
      i = end;
    } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
      stack.push({ array: b === OPEN_ARRAY, index: 0, key: "" });
      expectKey = b === OPEN_OBJECT;
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      stack.pop();
    } else if (b === COMMA && top) {
      if (top.array) top.index++;
      else expectKey = true;
    }
  }
  let path = "";
  for (const level of stack) {
    path += level.array ? `[${level.index}]` : `${path === "" ? "" : "."}${level.key}`;
  }
  return path;
}
