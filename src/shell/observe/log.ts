/**
 * Structured JSON logs (docs/RUNBOOK.md) on `@logtape/logtape`, with redaction enforced at the sink.
 *
 * Every record becomes one JSON line: `ts, level, service, category, message`, then the
 * fields `tenant, corr_id, run_key, policy_hash, inputs_cid, reason, scope, peer_addr` (null
 * when absent), then any other properties. Every property and every rendered message goes
 * through {@link redact} first: call sites cannot opt out.
 *
 * What is a secret here: `Authorization`/`Cookie` headers, macaroons and bearer tokens, key
 * material (signing/root/master/private keys, caps key epochs, salts, passwords). What is not:
 * Ed25519 signatures, public keys, kids, CIDs, run keys and macaroon identifiers — they are
 * public by design (contract §3, §6, §9) and operators need them in logs.
 *
 * LogTape's configuration is process-global: {@link configureLogging} replaces it.
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * await configureLogging({ level: "info", sink: (line) => lines.push(line) });
 * getLogger("http").info("request rejected", { corr_id: "c1", reason: "oversize" });
 * ```
 *
 * @module
 */
import {
  configure,
  getLogger as logtapeLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
} from "@logtape/logtape";
import process from "node:process";

/** The `service` field of every line. */
export const SERVICE_NAME = "svc-rewarder";
/** The log fields, in output order (docs/RUNBOOK.md). */
export const LOG_FIELDS = [
  "tenant",
  "corr_id",
  "run_key",
  "policy_hash",
  "inputs_cid",
  "reason",
  "scope",
  "peer_addr",
] as const;

/** Where finished JSON lines go (without trailing newline). */
export type LineSink = (line: string) => void;

/** Writes each line to stdout (works on Deno, Bun and Node through `node:process`). */
export function stdoutSink(line: string): void {
  process.stdout.write(line + "\n");
}

/** An in-memory sink for tests: `lines` fills as records are logged. */
export function createArraySink(): { sink: LineSink; lines: string[] } {
  const lines: string[] = [];
  return { sink: (line) => void lines.push(line), lines };
}

/** Formats one LogTape record as a redacted JSON line. */
export function formatRecord(record: LogRecord): string {
  return formatAccessRecord(record) ?? formatAnyRecord(record);
}

/** The access log's message and properties, in its order (middleware/access_log.ts). */
const ACCESS_MESSAGE = "{method} {route} {status}";
const ACCESS_KEYS = [
  "method",
  "route",
  "status",
  "duration_ms",
  "tenant",
  "corr_id",
  "scope",
  "peer_addr",
] as const;

/**
 * The line {@link formatAnyRecord} writes for an access record (the access log's message, its
 * eight properties in order, each a string, a number or null), built directly: the same
 * redaction of every string, the same fields in the same order, without the generic walk
 * (most of the access log's flush, docs/PROFILE.md). Any other record: undefined.
 */
function formatAccessRecord(record: LogRecord): string | undefined {
  if (record.rawMessage !== ACCESS_MESSAGE) return undefined;
  const p = record.properties as Record<string, unknown>;
  let i = 0;
  for (const key in p) {
    const v = p[key];
    if (key !== ACCESS_KEYS[i] || (v !== null && typeof v !== "string" && typeof v !== "number")) {
      return undefined;
    }
    i += 1;
  }
  if (i !== ACCESS_KEYS.length) return undefined;
  const json = (v: unknown) => typeof v === "string" ? accessString(v).json : JSON.stringify(v);
  const show = (v: unknown) => typeof v === "string" ? accessString(v).text : JSON.stringify(v);
  const message = `${show(p.method)} ${show(p.route)} ${show(p.status)}`;
  const corrId = typeof p.corr_id === "string" // unique per request: never remembered
    ? JSON.stringify(redactString(p.corr_id))
    : JSON.stringify(p.corr_id);
  return `{"ts":"${new Date(record.timestamp).toISOString()}","level":${
    JSON.stringify(record.level)
  },"service":${JSON.stringify(SERVICE_NAME)},"category":${
    JSON.stringify(record.category.join("."))
  },"message":${accessString(message).json},"tenant":${
    json(p.tenant)
  },"corr_id":${corrId},"run_key":null,"policy_hash":null,"inputs_cid":null,"reason":null,"scope":${
    json(p.scope)
  },"peer_addr":${json(p.peer_addr)},"method":${json(p.method)},"route":${json(p.route)},"status":${
    json(p.status)
  },"duration_ms":${json(p.duration_ms)}}`;
}

/** Redacted access-record strings remembered (route patterns, methods, tenants, scopes, peers). */
const ACCESS_STRINGS_REMEMBERED_MAX = 4096;
/** Longest access-record string remembered, chars. */
const ACCESS_STRING_REMEMBERED_CHARS_MAX = 256;
const accessStrings = new Map<string, { text: string; json: string }>();

/**
 * A string of an access record, redacted and as JSON: remembered (both are functions of the
 * string) while the memo has room, the same few values recurring line after line.
 */
function accessString(v: string): { text: string; json: string } {
  const known = accessStrings.get(v);
  if (known !== undefined) return known;
  const text = redactString(v);
  const made = { text, json: JSON.stringify(text) };
  if (
    v.length <= ACCESS_STRING_REMEMBERED_CHARS_MAX &&
    accessStrings.size < ACCESS_STRINGS_REMEMBERED_MAX
  ) accessStrings.set(v, made);
  return made;
}

/** {@link formatRecord} for any record: the generic redacting walk. */
export function formatAnyRecord(record: LogRecord): string {
  const props = redact(record.properties) as Record<string, unknown>;
  const out: Record<string, unknown> = {
    ts: new Date(record.timestamp).toISOString(),
    level: record.level,
    service: SERVICE_NAME,
    category: record.category.join("."),
    message: renderMessage(record, props),
  };
  for (const field of LOG_FIELDS) out[field] = props[field] ?? null;
  for (const [k, v] of Object.entries(props)) if (!(k in out)) out[k] = v;
  return JSON.stringify(out);
}

/**
 * Renders the message from the template and the *redacted* properties, never from LogTape's
 * pre-rendered `message` (which substituted raw values). Tagged-template values have no name,
 * so they are redacted by value only.
 */
function renderMessage(record: LogRecord, props: Record<string, unknown>): string {
  const raw = record.rawMessage;
  if (typeof raw !== "string") {
    return record.message
      .map((part, i) => (i % 2 === 0 ? String(part) : show(redact(part))))
      .join("");
  }
  return redactString(
    raw.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (match, key: string | undefined) => {
      if (match === "{{") return "{";
      if (match === "}}") return "}";
      const name = (key ?? "").trim();
      return Object.hasOwn(props, name) ? show(props[name]) : match;
    }),
  );
}

function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
}

/** Options of {@link configureLogging}. */
export interface LoggingOptions {
  /** Lowest level written (default `info`). */
  level?: LogLevel;
  /** Line sink (default {@link stdoutSink}). */
  sink?: LineSink;
}

/** The configured sink and level (none before {@link configureLogging}: nothing is written). */
let configured: { sink: LineSink; level: LogLevel } | undefined;
const LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warning", "error", "fatal"];

/**
 * Writes records formatted by {@link formatRecord} off the logger, in one go: one stdout write
 * for the default sink, for batched writers (the access log's buffer, src/shell/observe/
 * line_buffer.ts). Lines below the configured level, or before any configuration, are not
 * written; answers how many were.
 */
export function writeRecords(records: readonly LogRecord[]): number {
  if (configured === undefined || records.length === 0) return 0;
  const lowest = LEVELS.indexOf(configured.level);
  const lines: string[] = [];
  for (const r of records) if (LEVELS.indexOf(r.level) >= lowest) lines.push(formatRecord(r));
  if (lines.length === 0) return 0;
  if (configured.sink === stdoutSink) process.stdout.write(lines.join("\n") + "\n");
  else for (const line of lines) configured.sink(line);
  return lines.length;
}

/** (Re)configures LogTape: every `svc-rewarder.*` logger writes redacted JSON lines to `sink`. */
export async function configureLogging(options: LoggingOptions = {}): Promise<void> {
  const sink = options.sink ?? stdoutSink;
  configured = { sink, level: options.level ?? "info" };
  await configure({
    reset: true,
    sinks: { json: (record: LogRecord) => sink(formatRecord(record)) },
    loggers: [
      { category: [SERVICE_NAME], sinks: ["json"], lowestLevel: options.level ?? "info" },
      // LogTape's own meta logger: keep its warnings, silence its startup info line.
      { category: ["logtape", "meta"], sinks: ["json"], lowestLevel: "warning" },
    ],
  });
}

/** A logger under the `svc-rewarder` category, e.g. `getLogger("http")`. */
export function getLogger(category: string | readonly string[] = []): Logger {
  const rest = typeof category === "string" ? [category] : [...category];
  return logtapeLogger([SERVICE_NAME, ...rest]);
}

/**
 * The secrets of `secrets` that occur in `output` (empty = no leak). For tests that grep a
 * whole run's log output; secrets shorter than 8 characters are refused as too weak a probe.
 */
export function leakedSecrets(output: string, secrets: readonly string[]): string[] {
  for (const s of secrets) {
    if (s.length < 8) throw new RangeError("Cannot probe for a secret: shorter than 8 chars");
  }
  return secrets.filter((s) => output.includes(s));
}

/** Nesting depth walked by {@link redact}; deeper values become `"[depth]"`. */
export const REDACT_DEPTH_MAX = 8;
/** Array items / object keys kept per level by {@link redact}; the rest are dropped. */
export const REDACT_ITEMS_MAX = 100;
/** Replacement text for a removed secret. */
export const REDACTED = "[REDACTED]";

/**
 * Property names that hold secrets, matched on the lowercased name with `-` read as `_`:
 * headers (`authorization`, `cookie`, `set_cookie`), anything with `token`, `macaroon`,
 * `secret`, `password`, `passwd`, `salt`, `credential`, `session`, `jwt`; key material:
 * `key`/`keys`, `*_key(s)`, `*key` (`apikey`, `rootkey`), `private*`, `master*`, `seed`.
 */
const SECRET_NAME =
  /authorization|cookie|token|macaroon|secret|passw(or)?d|salt|credential|session|jwt|^private|^master|^seed$|(^|_)keys?$|[a-z]key$/;
/**
 * Public by design although they match {@link SECRET_NAME}: run keys and idempotency keys are
 * hashes (contract §5), public keys are published (§10 `/rewarder/keys`), `key_epoch` is an int.
 */
const PUBLIC_NAMES: ReadonlySet<string> = new Set([
  "run_key",
  "idempotency_key",
  "public_key",
  "publickey",
  "pubkey",
  "key_epoch",
]);
/** Names whose values are public opaque blobs (Ed25519/ML-DSA signatures, public keys). */
const PUBLIC_BLOB_NAMES: ReadonlySet<string> = new Set([
  "sig",
  "signature",
  "signatures",
  "public_key",
  "publickey",
  "pubkey",
]);

/** Substrings that are credentials wherever they appear, with their replacement. */
const SECRET_PATTERNS: readonly [RegExp, string][] = [
  // `Authorization: Macaroon <t>`, `Bearer <t>`, `Basic <t>` (contract §9 accepts both schemes).
  [/\b(Bearer|Macaroon|Basic)(\s+)[A-Za-z0-9._~+/=-]+/gi, `$1$2${REDACTED}`],
  // libmacaroons V2 binary starts 0x02 0x01|0x02 → base64url "AgE"/"AgI"; V1 starts "MDA".
  [/\b(Ag[EI]|MDA)[A-Za-z0-9_=+/-]{16,}/g, REDACTED],
  // JWT (header always starts `{"` → "eyJ").
  [/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  // PEM private keys.
  [/-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END[A-Z ]*PRIVATE KEY-----|$)/g, REDACTED],
];
/**
 * Opaque base64url runs of ≥ 40 chars that are not pure hex (hex is our digest/CID format):
 * the shape of a 32-byte secret in base64url (43 chars). Skipped for {@link PUBLIC_BLOB_NAMES}.
 */
const OPAQUE_RUN = /[A-Za-z0-9_-]{40,}/g;

/** The case-folded words of the first {@link SECRET_PATTERNS} entry. */
const AUTH_SCHEME_WORD = /bearer|macaroon|basic/i;
/** Length of an {@link OPAQUE_RUN}. */
const OPAQUE_RUN_CHARS_MIN = 40;

/** True for `[A-Za-z0-9_-]`, the characters of an {@link OPAQUE_RUN}. */
function isRunChar(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) || code === 0x2d || code === 0x5f;
}

/**
 * False when none of {@link SECRET_PATTERNS} nor {@link OPAQUE_RUN} can match `text`: each
 * needs its fixed start (an auth scheme's word in any case, `AgE`, `AgI`, `MDA`, `eyJ`,
 * `-----BEGIN`) or a 40-character run, so this is a superset of what they match. Most logged
 * strings (routes, tenants, corr ids, peers) fail it and are kept without the five
 * replacements (the access log's flush, docs/PROFILE.md).
 */
function mayHoldSecret(text: string): boolean {
  if (text.length >= OPAQUE_RUN_CHARS_MIN) {
    let run = 0;
    for (let i = 0; i < text.length; i++) {
      if (!isRunChar(text.charCodeAt(i))) run = 0;
      else if (++run >= OPAQUE_RUN_CHARS_MIN) return true;
    }
  }
  return text.includes("AgE") || text.includes("AgI") || text.includes("MDA") ||
    text.includes("eyJ") || text.includes("-----BEGIN") || AUTH_SCHEME_WORD.test(text);
}

/** Masks credentials inside a free-text string (see {@link SECRET_PATTERNS}). */
export function redactString(text: string, allowOpaque = false): string {
  return mayHoldSecret(text) ? replaceSecrets(text, allowOpaque) : text;
}

/**
 * Every replacement of {@link redactString}, without its pre-test (exported for the test that
 * checks the pre-test never changes an answer).
 */
export function replaceSecrets(text: string, allowOpaque: boolean): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  if (allowOpaque) return out;
  return out.replace(OPAQUE_RUN, (run) => (/^[0-9a-f]+$/i.test(run) ? run : REDACTED));
}

/** Names already judged by {@link isSecretName}, at most {@link SECRET_NAME_MEMO_MAX}. */
const secretNameMemo = new Map<string, boolean>();
/** Property names remembered (the logged names are the code's own: a few dozen). */
const SECRET_NAME_MEMO_MAX = 1024;

/** True when a property named `name` must never be logged. */
export function isSecretName(name: string): boolean {
  const known = secretNameMemo.get(name);
  if (known !== undefined) return known;
  const n = name.toLowerCase().replaceAll("-", "_");
  const secret = !PUBLIC_NAMES.has(n) && SECRET_NAME.test(n);
  if (secretNameMemo.size < SECRET_NAME_MEMO_MAX) secretNameMemo.set(name, secret);
  return secret;
}

/**
 * A JSON-safe, redacted copy of `value`: secret-named properties become {@link REDACTED},
 * strings are scrubbed by {@link redactString}, bytes are never logged, `Headers`/`Map` are
 * walked as objects, macaroon JSON objects (`{v, s64|s, i|i64}`) are removed whole, bigint
 * becomes a decimal string, errors keep name/message/code/reason. Bounded in depth and width.
 */
export function redact(value: unknown, name = "", depth = 0): unknown {
  if (name !== "" && isSecretName(name)) return REDACTED;
  if (typeof value === "string") return redactString(value, PUBLIC_BLOB_NAMES.has(name));
  if (typeof value === "bigint") return value.toString();
  if (value === null || typeof value !== "object") {
    return typeof value === "function" || typeof value === "symbol" ? String(typeof value) : value;
  }
  if (depth >= REDACT_DEPTH_MAX) return "[depth]";
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return "[bytes]";
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    return value.slice(0, REDACT_ITEMS_MAX).map((v) => redact(v, name, depth + 1));
  }
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; reason?: unknown };
    return redact({ name: e.name, message: e.message, code: e.code, reason: e.reason }, "", depth);
  }
  const entries: [string, unknown][] = value instanceof Headers || value instanceof Map
    ? [...(value as Map<string, unknown>).entries()]
    : Object.entries(value);
  const keys = new Set(entries.map(([k]) => k));
  if (keys.has("v") && (keys.has("s64") || keys.has("s")) && (keys.has("i") || keys.has("i64"))) {
    return REDACTED; // a JSON-serialized macaroon: its signature is the bearer secret
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries.slice(0, REDACT_ITEMS_MAX)) out[k] = redact(v, k, depth + 1);
  return out;
}

/** What {@link failureStreakLog} answers: report each outcome of a repeating background step. */
export interface FailureStreakLog {
  /** A failed run of the step: logged (error) when it starts a streak, counted otherwise. */
  failed(err: unknown): void;
  /** A successful run: ends a streak with one `recovered` line (warn) naming its length. */
  succeeded(): void;
}

/**
 * Logs a background loop's failures without flooding: the first failure of a streak is one
 * error line (with its reason), later ones are counted, and the first success after a streak
 * is one line saying how many runs failed. A loop that fails every second during an outage
 * writes two lines, not thousands — and never fails silently.
 *
 * @example
 * ```ts
 * const sweepLog = failureStreakLog(getLogger("service"), "retention sweep");
 * sweep().then(() => sweepLog.succeeded(), (err) => sweepLog.failed(err));
 * ```
 */
export function failureStreakLog(log: Logger, what: string): FailureStreakLog {
  let streak = 0;
  return {
    failed(err) {
      streak += 1;
      if (streak === 1) {
        log.error(`${what} failed`, {
          reason: String((err as { message?: unknown })?.message ?? err),
        });
      }
    },
    succeeded() {
      if (streak === 0) return;
      log.warn(`${what} recovered`, { reason: `after ${streak} failed runs` });
      streak = 0;
    },
  };
}
