/**
 * Append-only, hash-chained audit sink (docs/RUNBOOK.md, "Audit log"): one JSON line per
 * decision, and one summary line per (minute, counted event, reason).
 *
 * Decision line (fixed key order, UTF-8, `\n`-terminated; the v1 format, unchanged):
 * `{"seq":1,"ts":"…Z","event":"run_computed","tenant":"acme","corr_id":"…","run_key":"b3:…",
 * "policy_hash":"b3:…","inputs_cid":"b3:…","manifest_hash":"b3:…","outcome":"pending",
 * "reason":null,"prev":"b3:…"}`
 *
 * Summary line (high-volume events counted, see `audit_trail.ts`):
 * `{"seq":2,"ts":"…Z","event":"summary","of":"token_rejected","reason":"signature",
 * "minute":"2026-11-27T00:03:00.000Z","count":10000,"samples":["corr-1",…],"prev":"b3:…"}`
 * with `1 ≤ count`, at most {@link AUDIT_SAMPLES_MAX} samples (the first corr ids of the
 * minute) and never more samples than `count`.
 *
 * - `seq` starts at 1 and increases by 1 per line.
 * - `prev` = `b3:` + BLAKE3 hex of the previous line's exact bytes (without its `\n`). The first
 *   line's `prev` is {@link AUDIT_GENESIS_PREV}, the BLAKE3 of the empty string, so every line
 *   has the same shape and a verifier needs no special case.
 * - Deleting, editing or reordering any line but the last breaks the chain at the next line.
 *   Cutting the tail or editing the last line cannot be seen from the file alone: anchor the
 *   head (`head()` / `audit-verify` prints it) somewhere else and verify against it.
 * - One writer per file: two processes appending to the same file fork the chain.
 * - Files written before summaries existed hold `token_rejected` and `run_replayed` as decision
 *   lines (one per request); they stay valid ({@link AUDIT_EVENTS} lists them).
 *
 * File mode appends with group commit: lines queued while a write is in flight go out in one
 * `write` + `datasync` (at most {@link AUDIT_BATCH_LINES_MAX} lines); `append()` resolves only
 * once its line is durable. A failed write poisons the sink (fail closed: later lines would
 * chain to a line that is not on disk): `status()` reads `failed` and every later append is
 * refused with DEPENDENCY_UNAVAILABLE `audit` until a restart. On open the chain resumes from
 * the file's last line. Stdout mode (amnesia) keeps the same chain in memory and writes
 * nothing to disk.
 *
 * @module
 */
import { open, stat } from "node:fs/promises";
import process from "node:process";
import { blake3Hex } from "../../core/blake3.ts";
import { RewarderError } from "../../core/errors.ts";

/** The decisions written one line each, durably before the answer that reports them. */
export const AUDIT_DECISION_EVENTS = [
  "run_computed",
  "run_committed",
  "run_conflicted",
  "run_quarantined",
  "intent_acknowledged",
  "quarantine_mode_changed",
  "key_epoch_changed",
] as const;
/** One of {@link AUDIT_DECISION_EVENTS}. */
export type AuditEvent = (typeof AUDIT_DECISION_EVENTS)[number];

/** High-volume events: counted per minute and reason, written as summary lines. */
export const AUDIT_COUNTED_EVENTS = ["token_rejected", "run_replayed"] as const;
/** One of {@link AUDIT_COUNTED_EVENTS}. */
export type AuditCountedEvent = (typeof AUDIT_COUNTED_EVENTS)[number];

/** The `event` of a summary line. */
export const AUDIT_SUMMARY_EVENT = "summary";

/**
 * Every `event` a valid line may carry: decisions, summaries, and the counted events, which
 * files written before summaries existed hold one line per request.
 */
export const AUDIT_EVENTS: readonly string[] = [
  ...AUDIT_DECISION_EVENTS,
  ...AUDIT_COUNTED_EVENTS,
  AUDIT_SUMMARY_EVENT,
];

/** `prev` of line 1: `b3:` + BLAKE3("") (the chain's genesis). */
export const AUDIT_GENESIS_PREV = "b3:" + blake3Hex("");
/** Longest audit line in bytes; fields are ids and hashes, so 16 KiB is generous. */
export const AUDIT_LINE_BYTES_MAX = 16 * 1024;
/** Longest string field in characters (ids ≤ 160 chars, hashes 67, reasons short). */
export const AUDIT_FIELD_CHARS_MAX = 256;
/** Lines written and synced together at most (group commit). */
export const AUDIT_BATCH_LINES_MAX = 256;
/** Lines waiting for the disk at most; beyond that `append` fails with OVERLOADED. */
export const AUDIT_PENDING_LINES_MAX = 4096;
/** Corr ids kept per summary line at most (the first ones of the minute). */
export const AUDIT_SAMPLES_MAX = 8;

/** A decision to record; ids are null when the decision has none. */
export interface AuditEntry {
  event: AuditEvent;
  tenant: string | null;
  corr_id: string | null;
  run_key?: string | null;
  policy_hash?: string | null;
  inputs_cid?: string | null;
  manifest_hash?: string | null;
  /** Short outcome word: `pending`, `dry_run`, `accepted`, `duplicate`, `on`, `current`… */
  outcome: string;
  /** Stable reason code when there is one (`epoch_committed`, `conservation`…); never user input. */
  reason?: string | null;
}

/** One minute of one counted event and reason, to record as a summary line. */
export interface AuditSummaryEntry {
  event: typeof AUDIT_SUMMARY_EVENT;
  of: AuditCountedEvent;
  /** A reason of a closed set (the reasons table, emissions) or `other`. */
  reason: string;
  /** Start of the minute, RFC 3339 UTC (`…:00.000Z`). */
  minute: string;
  count: number;
  samples: readonly string[];
}

/** A written decision line, as parsed back. */
export interface AuditLine {
  seq: number;
  ts: string;
  event: AuditEvent;
  tenant: string | null;
  corr_id: string | null;
  run_key: string | null;
  policy_hash: string | null;
  inputs_cid: string | null;
  manifest_hash: string | null;
  outcome: string;
  reason: string | null;
  prev: string;
}

/** A written summary line, as parsed back. */
export interface AuditSummaryLine {
  seq: number;
  ts: string;
  event: typeof AUDIT_SUMMARY_EVENT;
  of: AuditCountedEvent;
  reason: string;
  minute: string;
  count: number;
  samples: string[];
  prev: string;
}

/** The chain position after the last line: its `seq` and `b3:` hash (genesis: 0, b3("")). */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** An audit sink; `append` resolves once the line is written (durably in file mode). */
export interface AuditSink {
  append(entry: AuditEntry): Promise<AuditLine>;
  append(entry: AuditSummaryEntry): Promise<AuditSummaryLine>;
  append(entry: AuditEntry | AuditSummaryEntry): Promise<AuditLine | AuditSummaryLine>;
  head(): AuditHead;
  /** `failed` once a write failed: the sink refuses every later line (fail closed). */
  status(): "ok" | "failed";
  close(): Promise<void>;
}

/** `b3:` + BLAKE3 hex of one line's text (UTF-8, without its newline). */
export function auditLineHash(line: string): string {
  return "b3:" + blake3Hex(line);
}

/** The error of a sink that cannot write (contract §8: 503 DEPENDENCY_UNAVAILABLE). */
export function auditUnavailable(cause?: unknown): RewarderError {
  return new RewarderError("DEPENDENCY_UNAVAILABLE", "audit", { retryAfterS: 5, cause });
}

/** Builds line `seq` of the chain; throws a TypeError on an unknown event or oversized field. */
export function buildAuditLine(
  entry: AuditEntry | AuditSummaryEntry,
  chain: { seq: number; ts: string; prev: string },
): { line: string; record: AuditLine | AuditSummaryLine } {
  const record = entry.event === AUDIT_SUMMARY_EVENT
    ? summaryRecord(entry, chain)
    : decisionRecord(entry, chain);
  const line = JSON.stringify(record);
  if (new TextEncoder().encode(line).length > AUDIT_LINE_BYTES_MAX) {
    throw new TypeError(`Cannot audit line: longer than ${AUDIT_LINE_BYTES_MAX} bytes`);
  }
  return { line, record };
}

function decisionRecord(
  entry: AuditEntry,
  chain: { seq: number; ts: string; prev: string },
): AuditLine {
  if (!(AUDIT_DECISION_EVENTS as readonly string[]).includes(entry.event)) {
    throw new TypeError("Cannot audit event: not one of AUDIT_DECISION_EVENTS");
  }
  return {
    seq: chain.seq,
    ts: chain.ts,
    event: entry.event,
    tenant: field(entry.tenant),
    corr_id: field(entry.corr_id),
    run_key: field(entry.run_key),
    policy_hash: field(entry.policy_hash),
    inputs_cid: field(entry.inputs_cid),
    manifest_hash: field(entry.manifest_hash),
    outcome: field(entry.outcome) ?? "",
    reason: field(entry.reason),
    prev: chain.prev,
  };
}

function summaryRecord(
  entry: AuditSummaryEntry,
  chain: { seq: number; ts: string; prev: string },
): AuditSummaryLine {
  if (!(AUDIT_COUNTED_EVENTS as readonly string[]).includes(entry.of)) {
    throw new TypeError("Cannot audit summary: not one of AUDIT_COUNTED_EVENTS");
  }
  if (!isSummaryShape(entry.count, entry.samples)) {
    throw new TypeError(
      `Cannot audit summary: count must be ≥ 1 and samples ≤ min(count, ${AUDIT_SAMPLES_MAX})`,
    );
  }
  return {
    seq: chain.seq,
    ts: chain.ts,
    event: AUDIT_SUMMARY_EVENT,
    of: entry.of,
    reason: field(entry.reason) ?? "",
    minute: field(entry.minute) ?? "",
    count: entry.count,
    samples: entry.samples.map((s) => field(s) ?? ""),
    prev: chain.prev,
  };
}

/** The bounds of a summary line's `count` and `samples` (the writer's and the verifier's). */
export function isSummaryShape(count: unknown, samples: unknown): boolean {
  return typeof count === "number" && Number.isSafeInteger(count) && count >= 1 &&
    Array.isArray(samples) && samples.length <= Math.min(count, AUDIT_SAMPLES_MAX) &&
    samples.every((s) => typeof s === "string");
}

function field(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || value.length > AUDIT_FIELD_CHARS_MAX) {
    throw new TypeError(`Cannot audit field: not a string of ≤ ${AUDIT_FIELD_CHARS_MAX} chars`);
  }
  return value;
}

/** Options shared by both sinks: the injected clock (ms since the Unix epoch). */
export interface AuditClock {
  nowMs: () => number;
}

/** Chain state + line builder shared by both modes. */
function createChain(start: AuditHead, clock: AuditClock) {
  let head = start;
  return {
    head: () => head,
    next(entry: AuditEntry | AuditSummaryEntry) {
      const ts = new Date(clock.nowMs()).toISOString();
      const built = buildAuditLine(entry, { seq: head.seq + 1, ts, prev: head.hash });
      head = { seq: head.seq + 1, hash: auditLineHash(built.line) };
      return built;
    },
  };
}

/** Stdout (amnesia) mode: the chain lives in memory; `write` defaults to process stdout. */
export function createStdoutAuditSink(
  options: AuditClock & { write?: (line: string) => void },
): AuditSink {
  const write = options.write ?? ((line: string) => void process.stdout.write(line + "\n"));
  const chain = createChain({ seq: 0, hash: AUDIT_GENESIS_PREV }, options);
  let failed = false;
  return {
    append: function appendAudit(entry: AuditEntry | AuditSummaryEntry) {
      if (failed) return Promise.reject(auditUnavailable());
      let built;
      try {
        built = chain.next(entry);
      } catch (err) {
        return Promise.reject(err);
      }
      try {
        write(built.line);
      } catch (err) {
        failed = true; // the chain moved past a line nobody received: fail closed
        return Promise.reject(auditUnavailable(err));
      }
      return Promise.resolve(built.record);
    } as AuditSink["append"],
    head: chain.head,
    status: () => (failed ? "failed" : "ok"),
    close: () => Promise.resolve(),
  };
}

/**
 * Reads the chain head from the file's last line (genesis for a missing or empty file).
 * Throws when the file does not end in `\n` (a torn write: run `audit-verify`, then repair).
 */
export async function readAuditHead(path: string): Promise<AuditHead> {
  const size = await stat(path).then((s) => s.size, (err) => {
    if ((err as { code?: string }).code === "ENOENT") return 0;
    throw err;
  });
  if (size === 0) return { seq: 0, hash: AUDIT_GENESIS_PREV };
  const windowBytes = Math.min(size, AUDIT_LINE_BYTES_MAX + 1);
  const buf = new Uint8Array(windowBytes);
  const fh = await open(path, "r");
  try {
    await fh.read(buf, 0, windowBytes, size - windowBytes);
  } finally {
    await fh.close();
  }
  if (buf[windowBytes - 1] !== 0x0a) throw new Error("Cannot resume audit chain: torn last line");
  const start = buf.lastIndexOf(0x0a, windowBytes - 2) + 1;
  if (start === 0 && windowBytes < size) {
    throw new Error(`Cannot resume audit chain: last line exceeds ${AUDIT_LINE_BYTES_MAX} bytes`);
  }
  const line = new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(start, -1));
  const seq = (JSON.parse(line) as { seq?: unknown }).seq;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
    throw new Error("Cannot resume audit chain: last line has no valid seq");
  }
  return { seq, hash: auditLineHash(line) };
}

type Pending = {
  line: string;
  record: AuditLine | AuditSummaryLine;
  ok: (l: AuditLine | AuditSummaryLine) => void;
  ko: (e: unknown) => void;
};

/** File mode: appends to `path` (created 0600), resuming the chain from its last line. */
export async function openFileAuditSink(
  options: AuditClock & { path: string },
): Promise<AuditSink> {
  const chain = createChain(await readAuditHead(options.path), options);
  const fh = await open(options.path, "a", 0o600);
  const queue: Pending[] = [];
  let inFlight: Promise<void> | null = null;
  let failure: unknown = null;
  let closed = false;

  async function flush(): Promise<void> {
    while (queue.length > 0 && failure === null) {
      const batch = queue.splice(0, AUDIT_BATCH_LINES_MAX);
      try {
        await fh.write(batch.map((p) => p.line + "\n").join(""));
        await fh.datasync();
        for (const p of batch) p.ok(p.record);
      } catch (err) {
        failure = err;
        for (const p of [...batch, ...queue.splice(0)]) p.ko(auditUnavailable(err));
      }
    }
  }
  function kick(): void {
    if (inFlight !== null) return;
    inFlight = flush().finally(() => {
      inFlight = null;
      // Lines appended between the loop's last check and this callback start a new flush.
      if (queue.length > 0 && failure === null) kick();
    });
  }

  return {
    append: function appendAudit(entry: AuditEntry | AuditSummaryEntry) {
      if (failure !== null || closed) return Promise.reject(auditUnavailable(failure));
      if (queue.length >= AUDIT_PENDING_LINES_MAX) {
        return Promise.reject(new RewarderError("OVERLOADED", "audit_backlog", { retryAfterS: 1 }));
      }
      let built;
      try {
        built = chain.next(entry);
      } catch (err) {
        return Promise.reject(err);
      }
      const { line, record } = built;
      const done = new Promise<AuditLine | AuditSummaryLine>((ok, ko) =>
        queue.push({ line, record, ok, ko })
      );
      kick();
      return done;
    } as AuditSink["append"],
    head: chain.head,
    status: () => (failure === null ? "ok" : "failed"),
    close: async function closeAudit() {
      closed = true;
      // Each pass drains ≥ 1 batch and nothing is enqueued after `closed`, so this ends.
      for (let pass = 0; inFlight !== null && pass <= AUDIT_PENDING_LINES_MAX; pass++) {
        await inFlight;
      }
      await fh.close();
    },
  };
}
