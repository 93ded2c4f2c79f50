/**
 * `rewarder audit-verify --file <path> [--expect-head b3:… | --expect-lines N]`: checks the
 * audit chain written by `src/shell/observe/audit.ts`.
 *
 * Line n (1-based) must be a JSON object with `seq = n`, a known `event` and
 * `prev = b3(line n-1)` (line 1: `b3("")`); a summary line (`event` `summary`) must also name a
 * counted event in `of`, carry string `reason` and `minute`, a whole `count ≥ 1` and at most
 * `min(count, 8)` string `samples`. Decision lines of either format (files written before
 * summaries existed have one `token_rejected` or `run_replayed` line per request) verify. So a deleted, edited, reordered or inserted line
 * makes the chain fail at or right after it (an edit of line k shows at line k+1, where its
 * hash no longer matches). A cut tail or an edited last line is only detectable against an
 * anchor taken earlier: `--expect-head` (the `head` printed by a previous run, or the sink's
 * `head()`) or `--expect-lines`.
 *
 * The file is streamed in chunks; memory stays bounded by the line cap.
 *
 * @module
 */
import { open } from "node:fs/promises";
import {
  AUDIT_COUNTED_EVENTS,
  AUDIT_EVENTS,
  AUDIT_GENESIS_PREV,
  AUDIT_LINE_BYTES_MAX,
  AUDIT_SUMMARY_EVENT,
  auditLineHash,
  isSummaryShape,
} from "../shell/observe/audit.ts";

/** Bytes read per chunk. */
const READ_CHUNK_BYTES = 64 * 1024;

/** Why verification stopped. */
export type AuditProblem =
  | "unreadable"
  | "not_utf8"
  | "not_json"
  | "seq"
  | "event"
  | "summary"
  | "prev"
  | "line_too_long"
  | "torn_tail"
  | "head_mismatch"
  | "line_count";

/** Verification result; `head` is the hash of the last good line (an anchor to keep). */
export interface AuditVerifyResult {
  ok: boolean;
  /** Lines that verified. */
  lines: number;
  head: string;
  /** 1-based line where the chain first fails (absent when ok or for a whole-file problem). */
  firstBadLine?: number;
  problem?: AuditProblem;
}

/** Optional anchors from an earlier verification. */
export interface AuditAnchor {
  expectHead?: string;
  expectLines?: number;
}

/** Verifies the audit file at `path`; never throws for a bad file, only reports. */
export async function auditVerify(
  path: string,
  anchor: AuditAnchor = {},
): Promise<AuditVerifyResult> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch {
    return { ok: false, lines: 0, head: AUDIT_GENESIS_PREV, problem: "unreadable" };
  }
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const buf = new Uint8Array(READ_CHUNK_BYTES);
  let carry = new Uint8Array(0);
  let lines = 0;
  let head = AUDIT_GENESIS_PREV;
  const fail = (problem: AuditProblem): AuditVerifyResult => ({
    ok: false,
    lines,
    head,
    firstBadLine: lines + 1,
    problem,
  });
  try {
    for (let pos = 0;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK_BYTES, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const data = concat(carry, buf.subarray(0, bytesRead));
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl !== -1; nl = data.indexOf(0x0a, start)) {
        let text: string;
        try {
          text = decoder.decode(data.subarray(start, nl));
        } catch {
          return fail("not_utf8");
        }
        const problem = checkLine(text, lines + 1, head);
        if (problem !== null) return fail(problem);
        lines += 1;
        head = auditLineHash(text);
        start = nl + 1;
      }
      carry = data.slice(start);
      if (carry.length > AUDIT_LINE_BYTES_MAX) return fail("line_too_long");
    }
  } finally {
    await fh.close();
  }
  if (carry.length > 0) return fail("torn_tail");
  if (anchor.expectLines !== undefined && lines < anchor.expectLines) {
    return { ok: false, lines, head, problem: "line_count" };
  }
  if (anchor.expectHead !== undefined && anchor.expectHead !== head) {
    return { ok: false, lines, head, problem: "head_mismatch" };
  }
  return { ok: true, lines, head };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The problem with line `seq` given the previous line's hash, or null when it chains. */
function checkLine(text: string, seq: number, prev: string): AuditProblem | null {
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch {
    return "not_json";
  }
  if (typeof rec !== "object" || rec === null || Array.isArray(rec)) return "not_json";
  const r = rec as Record<string, unknown>;
  if (r.seq !== seq) return "seq";
  if (!(AUDIT_EVENTS as readonly unknown[]).includes(r.event)) return "event";
  if (r.event === AUDIT_SUMMARY_EVENT && !isSummary(r)) return "summary";
  if (r.prev !== prev) return "prev";
  return null;
}

function isSummary(r: Record<string, unknown>): boolean {
  return (AUDIT_COUNTED_EVENTS as readonly unknown[]).includes(r.of) &&
    typeof r.reason === "string" && typeof r.minute === "string" &&
    isSummaryShape(r.count, r.samples);
}

/** Output channels of the CLI entry. */
export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

/** One usage error line (the CLI's style: `error: <option>: <what>`). */
function usage(io: CliIo, subject: string, what: string): number {
  io.stderr(`error: ${subject}: ${what} (see rewarder audit-verify --help)\n`);
  return 2;
}

/**
 * CLI entry: prints the result as one JSON line on stdout. Exit code 0 = chain valid,
 * 1 = chain broken or unreadable, 2 = usage error (one line on stderr).
 */
export async function runAuditVerify(args: readonly string[], io: CliIo): Promise<number> {
  const opts: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i]!;
    const value = args[i + 1];
    if (flag !== "--file" && flag !== "--expect-head" && flag !== "--expect-lines") {
      return usage(io, flag.slice(0, 40), "unknown argument");
    }
    if (value === undefined) return usage(io, flag, "needs a value");
    opts[flag] = value;
  }
  const file = opts["--file"];
  const lines = opts["--expect-lines"];
  const head = opts["--expect-head"];
  if (file === undefined) return usage(io, "--file", "is required");
  if (lines !== undefined && !/^[0-9]{1,15}$/.test(lines)) {
    return usage(io, "--expect-lines", "is a whole number");
  }
  if (head !== undefined && !/^b3:[0-9a-f]{64}$/.test(head)) {
    return usage(io, "--expect-head", "is b3: and 64 lowercase hex digits");
  }
  const anchor: AuditAnchor = {};
  if (head !== undefined) anchor.expectHead = head;
  if (lines !== undefined) anchor.expectLines = Number(lines);
  const result = await auditVerify(file, anchor);
  io.stdout(JSON.stringify(result) + "\n");
  return result.ok ? 0 : 1;
}
