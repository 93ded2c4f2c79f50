/**
 * A strictness pass over JSON bytes before `JSON.parse`, closing the parser differentials
 * that would let two implementations read one CID differently:
 * duplicate object keys (JSON.parse keeps the last, others keep the first or refuse), a
 * byte-order mark (TextDecoder strips it silently), and nesting deeper than a bound.
 * It validates structure only; `JSON.parse` still builds the value and rejects bad syntax.
 *
 * Keys are compared after unescaping (`"a"` and `"\u0061"` are the same key), as RFC 8259
 * §4 names them. Runs in one pass over the bytes without allocating per value.
 *
 * @module
 */

/** Deepest nesting of objects and arrays accepted (our documents nest at most 4 deep). */
export const JSON_DEPTH_MAX = 64;

/** Why a document is refused. */
export type StrictJsonProblem = "bom" | "duplicate_key" | "depth" | "syntax";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

/**
 * Checks `bytes` (UTF-8 JSON); returns null when strict, else the problem. Syntax errors it
 * happens to notice are reported as `syntax`; others are left to `JSON.parse`.
 */
export function strictJsonProblem(bytes: Uint8Array): StrictJsonProblem | null {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    return "bom";
  }
  // Open containers: for objects, the keys seen so far as (start, end, escaped) triples of
  // byte offsets; null for arrays. Keys are compared as bytes, decoded only when escaped.
  const stack: (number[] | null)[] = [];
  let expectKey = false;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      const start = i + 1;
      let escaped = 0;
      i++;
      while (i < n && bytes[i] !== QUOTE) {
        if (bytes[i] === BACKSLASH) {
          escaped = 1;
          i++;
        }
        i++;
      }
      if (i >= n) return "syntax";
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        for (let k = 0; k < top.length; k += 3) {
          if (sameKey(bytes, top[k]!, top[k + 1]!, top[k + 2]!, start, i, escaped)) {
            return "duplicate_key";
          }
        }
        top.push(start, i, escaped);
        expectKey = false;
      }
    } else if (b === OPEN_OBJECT) {
      if (stack.length >= JSON_DEPTH_MAX) return "depth";
      stack.push([]);
      expectKey = true;
    } else if (b === OPEN_ARRAY) {
      if (stack.length >= JSON_DEPTH_MAX) return "depth";
      stack.push(null);
      expectKey = false;
    } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
      stack.pop();
      expectKey = false;
    } else if (b === COMMA) {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
    } else if (b === COLON) {
      expectKey = false;
    }
  }
  return null;
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

/**
 * Parses UTF-8 JSON strictly: invalid UTF-8, a BOM, duplicate keys or excessive depth are
 * refused (`undefined` is returned as `{ok:false}`), as is anything `JSON.parse` refuses.
 */
export function parseStrictJson(
  input: Uint8Array | string,
): { ok: true; value: unknown } | { ok: false; problem: StrictJsonProblem } {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const problem = strictJsonProblem(bytes);
  if (problem !== null) return { ok: false, problem };
  try {
    return {
      ok: true,
      value: JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes)),
    };
  } catch {
    return { ok: false, problem: "syntax" };
  }
}
