/**
 * A deliberately tiny YAML reader for the subset our ops files use (no YAML library is installed
 * and none is added for one test): block mappings (`key: value`, `key:` + indented block), block
 * sequences (`- item`, `- key: value` mappings), flow sequences of scalars (`[a, "b"]`), `{}`,
 * comments, and plain/single/double-quoted scalars. Anything else (tabs, anchors, multi-line
 * strings, odd indentation) is rejected with an error rather than guessed.
 *
 * @module
 */

/** A parsed YAML value of the subset. */
export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

/** Bound on nesting, so a malformed file cannot recurse without end. */
export const YAML_DEPTH_MAX = 32;

interface Line {
  indent: number;
  text: string;
  no: number;
}

function stripComment(raw: string): string {
  let quote: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === "#" && (i === 0 || raw[i - 1] === " ")) return raw.slice(0, i);
  }
  return raw;
}

function scalar(text: string, no: number): YamlValue {
  const t = text.trim();
  if (t === "{}") return {};
  if (t.startsWith("[")) {
    if (!t.endsWith("]")) throw new Error(`Cannot parse line ${no}: unclosed flow sequence`);
    const inner = t.slice(1, -1).trim();
    return inner === "" ? [] : inner.split(",").map((s) => scalar(s, no));
  }
  if (/^[&*!|>]/.test(t)) throw new Error(`Cannot parse line ${no}: unsupported YAML feature`);
  const q = t[0];
  if (q === '"' || q === "'") {
    if (t.length < 2 || t[t.length - 1] !== q) {
      throw new Error(`Cannot parse line ${no}: unclosed quoted scalar`);
    }
    return t.slice(1, -1);
  }
  return t;
}

function splitKey(text: string, no: number): [string, string] | undefined {
  const m = /^([A-Za-z0-9_.\-]+):(?:\s+(.*))?$/.exec(text);
  if (m === null) return undefined;
  if (m[1] === undefined) throw new Error(`Cannot parse line ${no}: empty key`);
  return [m[1], m[2] ?? ""];
}

/** Parses the subset described in the module doc; throws `Error` on anything outside it. */
export function parseYamlSubset(source: string): YamlValue {
  const lines: Line[] = [];
  source.split("\n").forEach((raw, i) => {
    if (raw.includes("\t")) throw new Error(`Cannot parse line ${i + 1}: tab character`);
    const body = stripComment(raw).trimEnd();
    if (body.trim() === "") return;
    const indent = body.length - body.trimStart().length;
    if (indent % 2 !== 0) throw new Error(`Cannot parse line ${i + 1}: odd indentation`);
    lines.push({ indent, text: body.trim(), no: i + 1 });
  });
  let pos = 0;

  function block(indent: number, depth: number): YamlValue {
    if (depth > YAML_DEPTH_MAX) throw new Error("Cannot parse YAML: nesting too deep");
    const first = lines[pos];
    if (first === undefined || first.indent !== indent) {
      throw new Error(`Cannot parse line ${first?.no ?? "end"}: expected indent ${indent}`);
    }
    if (first.text.startsWith("- ") || first.text === "-") return sequence(indent, depth);
    return mapping(indent, depth);
  }

  function mapping(indent: number, depth: number): YamlValue {
    const out: { [key: string]: YamlValue } = {};
    while (pos < lines.length) {
      const line = lines[pos] as Line;
      if (line.indent < indent) break;
      if (line.indent > indent) throw new Error(`Cannot parse line ${line.no}: bad indentation`);
      const kv = splitKey(line.text, line.no);
      if (kv === undefined) throw new Error(`Cannot parse line ${line.no}: expected key: value`);
      if (Object.hasOwn(out, kv[0])) throw new Error(`Cannot parse line ${line.no}: duplicate key`);
      pos++;
      out[kv[0]] = kv[1] !== "" ? scalar(kv[1], line.no) : nested(indent, depth);
    }
    return out;
  }

  function nested(indent: number, depth: number): YamlValue {
    const next = lines[pos];
    if (next === undefined || next.indent < indent) return "";
    // A sequence may sit at the same indent as its key (`key:\n- a`), else it is deeper.
    if (next.indent === indent && next.text.startsWith("-")) return sequence(indent, depth + 1);
    if (next.indent <= indent) return "";
    return block(next.indent, depth + 1);
  }

  function sequence(indent: number, depth: number): YamlValue {
    const out: YamlValue[] = [];
    while (pos < lines.length) {
      const line = lines[pos] as Line;
      if (line.indent !== indent || !line.text.startsWith("-")) break;
      const rest = line.text.slice(1).trim();
      const kv = rest === "" ? undefined : splitKey(rest, line.no);
      if (rest === "") {
        pos++;
        out.push(nested(indent, depth));
      } else if (kv !== undefined && !/^["'\[]/.test(rest)) {
        // `- key: value` opens a mapping whose other keys sit at indent + 2.
        line.indent = indent + 2;
        line.text = rest;
        out.push(mapping(indent + 2, depth + 1));
      } else {
        pos++;
        out.push(scalar(rest, line.no));
      }
    }
    return out;
  }

  if (lines.length === 0) return {};
  const value = block(0, 0);
  const left = lines[pos];
  if (left !== undefined) throw new Error(`Cannot parse line ${left.no}: unexpected content`);
  return value;
}
