/**
 * Structure-aware mutation for the fuzz targets: a valid seed document is mutated at the
 * JSON-value level (delete/replace/add/retype a node, with hostile values) and then at the
 * text level (hostile fragments, truncation, duplicated spans, bad UTF-8), so generated
 * inputs stay close to what the parsers accept and reach their deep branches.
 *
 * Every mutation is a plain record of numbers and strings, so fast-check shrinks them.
 *
 * @module
 */
import fc from "fast-check";

/** Most nodes visited when listing mutation sites in a document. */
const SITES_MAX = 4_096;
/** Longest hostile string generated (chars): long enough to cross every length cap. */
export const HOSTILE_STRING_CHARS_MAX = 70_000;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values chosen to break parsers: boundaries, wrong types, prototype keys, long strings. */
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    -0.0,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    -1e308,
    "",
    "0",
    "-1",
    "01",
    "1e3",
    " 1",
    "1".repeat(39),
    "1".repeat(40),
    "340282366920938463463374607431768211456",
    "9".repeat(400),
    "__proto__",
    "constructor",
    "\u0000",
    "\ud800",
    "b3:",
    "b3:" + "0".repeat(64),
    "b3:" + "G".repeat(64),
    [],
    {},
    [[[[[[[[[[]]]]]]]]]],
    { __proto__: null } as unknown as Json,
  ),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.nat({ max: HOSTILE_STRING_CHARS_MAX }).map((n) => "a".repeat(n)),
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
);

/** Keys to add: unknown, prototype-polluting, near-miss spellings. */
export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "schema", "x", "", "entries", "policy"),
  fc.string({ maxLength: 12 }),
);

/** One value-level mutation; `at` picks the site modulo the number of sites. */
export interface ValueOp {
  kind: "delete" | "replace" | "add_key" | "wrap_array" | "dup_element" | "stringify";
  at: number;
  key: string;
  value: Json;
}

/** Text fragments no `JSON.stringify` produces. */
const TEXT_FRAGMENTS = [
  "1e400",
  "-1e-400",
  "-0",
  "1.0",
  "00",
  "NaN",
  '"\\ud800"',
  '"\\u0000"',
  "[".repeat(64),
  "]",
  "{",
  '"a":1,"a":2,',
  ",",
  "\u00ff",
  "\ufeff",
  "9".repeat(1000),
] as const;

/** One text-level mutation. */
export interface TextOp {
  kind: "truncate" | "insert" | "dup_span" | "delete_span" | "bad_utf8";
  at: number;
  len: number;
  fragment: number;
}

/** Arbitrary value-level mutation. */
export const valueOp: fc.Arbitrary<ValueOp> = fc.record({
  kind: fc.constantFrom<ValueOp["kind"]>(
    "delete",
    "replace",
    "add_key",
    "wrap_array",
    "dup_element",
    "stringify",
  ),
  at: fc.nat(),
  key: hostileKey,
  value: hostileValue,
});

/** Arbitrary text-level mutation. */
export const textOp: fc.Arbitrary<TextOp> = fc.record({
  kind: fc.constantFrom<TextOp["kind"]>(
    "truncate",
    "insert",
    "dup_span",
    "delete_span",
    "bad_utf8",
  ),
  at: fc.nat(),
  len: fc.nat({ max: 64 }),
  fragment: fc.nat({ max: TEXT_FRAGMENTS.length - 1 }),
});

type Site = { parent: Json[] | { [k: string]: Json }; key: string | number };

function sitesOf(root: { v: Json }): Site[] {
  const out: Site[] = [{ parent: root as unknown as { [k: string]: Json }, key: "v" }];
  const queue: Json[] = [root.v];
  while (queue.length > 0 && out.length < SITES_MAX) {
    const node = queue.shift()!;
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        out.push({ parent: node, key: i });
        queue.push(child);
      });
    } else if (node !== null && typeof node === "object") {
      for (const k of Object.keys(node)) {
        out.push({ parent: node, key: k });
        queue.push(node[k]!);
      }
    }
  }
  return out;
}

/** Applies value-level mutations to a deep copy of `seed`. */
export function applyValueOps(seed: unknown, ops: readonly ValueOp[]): unknown {
  const root = { v: structuredClone(seed) as Json };
  for (const op of ops) {
    const sites = sitesOf(root);
    const site = sites[op.at % sites.length]!;
    const parent = site.parent as Record<string | number, Json>;
    const current = parent[site.key]!;
    switch (op.kind) {
      case "delete":
        if (Array.isArray(site.parent)) site.parent.splice(site.key as number, 1);
        else if (site.parent !== (root as unknown)) delete parent[site.key];
        break;
      case "replace":
        parent[site.key] = structuredClone(op.value);
        break;
      case "add_key":
        if (current !== null && typeof current === "object" && !Array.isArray(current)) {
          Object.defineProperty(current, op.key, {
            value: structuredClone(op.value),
            enumerable: true,
            configurable: true,
            writable: true,
          });
        } else if (Array.isArray(current)) current.push(structuredClone(op.value));
        break;
      case "wrap_array":
        parent[site.key] = [current];
        break;
      case "dup_element":
        if (Array.isArray(current) && current.length > 0) {
          current.push(structuredClone(current[0]!));
        }
        break;
      case "stringify":
        parent[site.key] = typeof current === "string" ? current : JSON.stringify(current) ?? "";
        break;
    }
  }
  return root.v;
}

/** Applies text-level mutations to `text`. */
export function applyTextOps(text: string, ops: readonly TextOp[]): string {
  let s = text;
  for (const op of ops) {
    const at = s.length === 0 ? 0 : op.at % (s.length + 1);
    switch (op.kind) {
      case "truncate":
        s = s.slice(0, at);
        break;
      case "insert":
        s = s.slice(0, at) + TEXT_FRAGMENTS[op.fragment] + s.slice(at);
        break;
      case "dup_span":
        s = s.slice(0, at + op.len) + s.slice(at, at + op.len) + s.slice(at + op.len);
        break;
      case "delete_span":
        s = s.slice(0, at) + s.slice(at + op.len);
        break;
      case "bad_utf8":
        s = s.slice(0, at) + "\udc00" + s.slice(at); // lone surrogate: encodes as U+FFFD
        break;
    }
  }
  return s;
}

/** A mutated document: the seed index, value ops, and text ops (all shrinkable). */
export function mutatedJsonText(seeds: readonly unknown[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: mutation(seeds) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  );
}

function mutation(seeds: readonly unknown[]): fc.Arbitrary<string> {
  return fc.record({
    seed: fc.nat({ max: seeds.length - 1 }),
    values: fc.array(valueOp, { maxLength: 4 }),
    texts: fc.array(textOp, { maxLength: 3 }),
  }).map(({ seed, values, texts }) =>
    applyTextOps(JSON.stringify(applyValueOps(seeds[seed], values)) ?? "", texts)
  );
}

/** One byte-level mutation. */
export interface ByteOp {
  kind: "flip" | "set" | "insert" | "delete" | "truncate" | "dup";
  at: number;
  byte: number;
  len: number;
}

/** Arbitrary byte-level mutation. */
export const byteOp: fc.Arbitrary<ByteOp> = fc.record({
  kind: fc.constantFrom<ByteOp["kind"]>("flip", "set", "insert", "delete", "truncate", "dup"),
  at: fc.nat(),
  byte: fc.nat({ max: 255 }),
  len: fc.integer({ min: 1, max: 16 }),
});

/** Applies byte-level mutations (copies only what changes; big buffers stay cheap). */
export function applyByteOps(bytes: Uint8Array, ops: readonly ByteOp[]): Uint8Array {
  let b = bytes;
  for (const op of ops) {
    const at = b.length === 0 ? 0 : op.at % (b.length + 1);
    switch (op.kind) {
      case "flip":
        if (at < b.length) {
          b = b.slice();
          b[at] = b[at]! ^ (1 << (op.byte % 8));
        }
        break;
      case "set":
        if (at < b.length) {
          b = b.slice();
          b[at] = op.byte;
        }
        break;
      case "insert":
        b = concat(b.subarray(0, at), new Uint8Array(op.len).fill(op.byte), b.subarray(at));
        break;
      case "delete":
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + op.len)));
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
      case "dup":
        b = concat(b.subarray(0, at), b.subarray(at, at + op.len), b.subarray(at));
        break;
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
