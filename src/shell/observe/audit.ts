/**
 * Append-only, hash-chained audit sink: one JSON line per decision (docs/RUNBOOK.md, Verify the audit log).
 *
 * Line format (fixed key order, UTF-8, `\n`-terminated):
 * `{"seq":1,"ts":"…Z","event":"run_computed","tenant":"acme","corr_id":"…","run_key":"b3:…",
 * "policy_hash":"b3:…","inputs_cid":"b3:…","manifest_hash":"b3:…","outcome":"sealed",
 * "reason":null,"prev":"b3:…"}`
 *
 * - `seq` starts at 1 and increases by 1 per line.
 * - `prev` = `b3:` + BLAKE3 hex of the previous line's exact bytes (without its `\n`). The first
 *   line's `prev` is {@link AUDIT_GENESIS_PREV}, the BLAKE3 of the empty string, so every line
 *   has the same shape and a verifier needs no special case.
 * - Deleting, editing or reordering any line but the last breaks the chain at the next line.
 *   Cutting the tail or editing the last line cannot be seen from the file alone: anchor the
 *   head (`head()` / `audit-verify` prints it) somewhere else and verify against it.
 * - One writer per file: two processes appending to the same file fork the chain.
 *
 * File mode appends with group commit: lines queued while a write is in flight go out in one
 * `write` + `datasync` (at most {@link AUDIT_BATCH_LINES_MAX} lines); `append()` resolves only
 * once its line is durable. A failed write poisons the sink (fail closed: later lines would
 * chain to a line that is not on disk). On open the chain resumes from the file's last line.
 * Stdout mode (amnesia) keeps the same chain in memory and writes nothing to disk.
 *
 * @module
 */
import { open, stat } from "node:fs/promises";
import process from "node:process";
import { blake3Hex } from "../../core/blake3.ts";
import { RewarderError } from "../../core/errors.ts";

/** The decisions that are audited. */
export const AUDIT_EVENTS = [
  "run_computed",
  "run_replayed",
  "run_conflicted",
  "run_quarantined",
  "intent_acknowledged",
  "token_rejected",
  "quarantine_mode_changed",
] as const;
/** One of {@link AUDIT_EVENTS}. */
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

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

/** What the caller records; ids are null when the decision has none (e.g. token_rejected). */
export interface AuditEntry {
  event: AuditEvent;
  tenant: string | null;
  corr_id: string | null;
  run_key?: string | null;
  policy_hash?: string | null;
  inputs_cid?: string | null;
  manifest_hash?: string | null;
  /** Short outcome word: `sealed`, `quarantined`, `accepted`, `duplicate`, `on`, `rejected`… */
  outcome: string;
  /** Stable reason code when there is one (`unauth`, `conservation`…); never user input. */
  reason?: string | null;
}

/** A written line, as parsed back. */
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

/** The chain position after the last line: its `seq` and `b3:` hash (genesis: 0, b3("")). */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** An audit sink; `append` resolves once the line is written (durably in file mode). */
export interface AuditSink {
  append(entry: AuditEntry): Promise<AuditLine>;
  head(): AuditHead;
  close(): Promise<void>;
}

/** `b3:` + BLAKE3 hex of one line's text (UTF-8, without its newline). */
export function auditLineHash(line: string): string {
  return "b3:" + blake3Hex(line);
}

/** Builds line `seq` of the chain; throws a TypeError on an unknown event or oversized field. */
export function buildAuditLine(
  entry: AuditEntry,
  chain: { seq: number; ts: string; prev: string },
): { line: string; record: AuditLine } {
  if (!(AUDIT_EVENTS as readonly string[]).includes(entry.event)) {
    throw new TypeError("Cannot audit event: not one of AUDIT_EVENTS");
  }
  const record: AuditLine = {
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
  const line = JSON.stringify(record);
  if (new TextEncoder().encode(line).length > AUDIT_LINE_BYTES_MAX) {
    throw new TypeError(`Cannot audit line: longer than ${AUDIT_LINE_BYTES_MAX} bytes`);
  }
  return { line, record };
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
    next(entry: AuditEntry) {
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
  return {
    append: function appendAudit(entry) {
      try {
        const { line, record } = chain.next(entry);
        write(line);
        return Promise.resolve(record);
      } catch (err) {
        return Promise.reject(err);
      }
    },
    head: chain.head,
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
  record: AuditLine;
  ok: (l: AuditLine) => void;
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
        for (const p of [...batch, ...queue.splice(0)]) p.ko(err);
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
    append: function appendAudit(entry) {
      if (failure !== null || closed) {
        return Promise.reject(new RewarderError("INTERNAL", "audit_unavailable"));
      }
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
      const done = new Promise<AuditLine>((ok, ko) => queue.push({ line, record, ok, ko }));
      kick();
      return done;
    },
    head: chain.head,
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
