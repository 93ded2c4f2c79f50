/**
 * The one vocabulary of rejection reasons (contract §8): reason → error code → HTTP status →
 * metric label. Everything else derives from this table: {@link statusOfReason} (the status
 * of an error answer), the `rejected_total{reason}` label set ({@link REJECT_LABELS}), the
 * reasons the OpenAPI document lists, and the type {@link Reason} that `RewarderError` takes,
 * so a reason that is not in the table does not compile.
 *
 * Reasons are stable rule names, never reused for another meaning. A fault of the server's
 * own data (a corrupt object in its own store) is never reported with the client's reasons
 * (`cid_mismatch`, `oversize`): it has its own reason and answers 500.
 *
 * @example
 * ```ts
 * statusOfReason("oversize"); // 413
 * REASONS.inputs_settled.code; // "CONFLICT"
 * ```
 *
 * @module
 */

/** The contract's error codes (§8). */
export type ErrorCode =
  | "UNAUTHENTICATED"
  | "UNAUTHORIZED"
  | "BAD_REQUEST"
  | "NOT_FOUND"
  | "CONFLICT"
  | "QUARANTINED"
  | "RATE_LIMITED"
  | "OVERLOADED"
  | "TIMEOUT"
  | "DEPENDENCY_UNAVAILABLE"
  | "INTERNAL";

/** Status of each code (contract §8); a reason may narrow BAD_REQUEST to 413 or 415. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  UNAUTHORIZED: 403,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  QUARANTINED: 409,
  RATE_LIMITED: 429,
  OVERLOADED: 503,
  TIMEOUT: 503,
  DEPENDENCY_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/**
 * The bounded label set of `rejected_total{reason}`: a label never carries user input, and
 * families of reasons share one (every 401/403 is `unauth`, every server fault `internal`).
 */
export const REJECT_LABELS = [
  "unauth",
  "json",
  "path",
  "schema",
  "oversize",
  "decompress_cap",
  "media_type",
  "encoding",
  "stale",
  "asset",
  "duplicate_account",
  "pool_missing",
  "cid_mismatch",
  "cost_cap",
  "policy_signature",
  "policy_hash",
  "policy_threshold",
  "policy_mismatch",
  "unknown_kid",
  "unknown_cid",
  "unknown_policy",
  "not_found",
  "epoch_committed",
  "inputs_settled",
  "invariant",
  "rate_limited",
  "overloaded",
  "engine_queue",
  "preauth_budget",
  "timeout",
  "dependency",
  "internal",
] as const;

/** One label of {@link REJECT_LABELS}. */
export type RejectLabel = (typeof REJECT_LABELS)[number];

/** One row of the table. */
export interface ReasonSpec<C extends ErrorCode = ErrorCode> {
  code: C;
  /** HTTP status of an answer with this reason (from the code unless narrowed, §8). */
  status: number;
  /** `rejected_total{reason}` label. */
  label: RejectLabel;
}

function row<C extends ErrorCode>(code: C, label: RejectLabel, status?: number): ReasonSpec<C> {
  return { code, label, status: status ?? STATUS_BY_CODE[code] };
}

const bad = (label: RejectLabel, status?: number) => row("BAD_REQUEST", label, status);
const unauthenticated = () => row("UNAUTHENTICATED", "unauth");
const unauthorized = () => row("UNAUTHORIZED", "unauth");
const notFound = (label: RejectLabel = "not_found") => row("NOT_FOUND", label);
const internal = () => row("INTERNAL", "internal");
const dependency = () => row("DEPENDENCY_UNAVAILABLE", "dependency");
const overloaded = (label: RejectLabel = "overloaded") => row("OVERLOADED", label);

/** The table (contract §8 codes; reasons named in the contract where it names them). */
export const REASONS = {
  // --- 400: the request's syntax and the documents it names (§1-§3, §10)
  json: bad("json"),
  path: bad("path"),
  schema: bad("schema"),
  cursor: bad("schema"),
  content_length: bad("oversize"),
  stale: bad("stale"),
  asset: bad("asset"),
  duplicate_account: bad("duplicate_account"),
  pool_missing: bad("pool_missing"),
  cid_mismatch: bad("cid_mismatch"),
  cost_cap: bad("cost_cap"),
  policy_signature: bad("policy_signature"),
  policy_hash: bad("policy_hash"),
  policy_threshold: bad("policy_threshold"),
  policy_mismatch: bad("policy_mismatch"),
  unknown_kid: bad("unknown_kid"),
  // envelope verification (CLI `verify`, store loads)
  manifest_hash: bad("schema"),
  arithmetic: bad("schema"),
  revoked_kid: bad("schema"),
  bad_signature: bad("schema"),
  no_signature: bad("schema"),
  payouts_root: bad("schema"),
  // proof document verification (CLI `verify-proof`, §6)
  index: bad("schema"),
  leaf: bad("schema"),
  pq_required: bad("schema"),
  // operator chores refused by rule
  rekey_same_key: bad("schema"),
  rekey_marker_mismatch: bad("schema"),
  // --- 413 / 415 (§8)
  oversize: bad("oversize", 413),
  decompress_cap: bad("decompress_cap", 413),
  media_type: bad("media_type", 415),
  encoding: bad("encoding", 415),
  // --- 401 (§9)
  unauth: unauthenticated(),
  token_missing: unauthenticated(),
  token_malformed: unauthenticated(),
  token_oversize: unauthenticated(),
  too_many_caveats: unauthenticated(),
  identifier: unauthenticated(),
  key_epoch: unauthenticated(),
  signature: unauthenticated(),
  jwt_oversize: unauthenticated(),
  jwt_malformed: unauthenticated(),
  jwt_header: unauthenticated(),
  jwt_alg: unauthenticated(),
  jwt_kid: unauthenticated(),
  jwt_signature: unauthenticated(),
  jwt_claims: unauthenticated(),
  jwt_issuer: unauthenticated(),
  jwt_audience: unauthenticated(),
  jwt_expired: unauthenticated(),
  jwt_not_yet_valid: unauthenticated(),
  jwt_tenant_missing: unauthenticated(),
  jwt_tenant_malformed: unauthenticated(),
  jwt_scope: unauthenticated(),
  // --- 403 (§9)
  third_party_caveat: unauthorized(),
  scope: unauthorized(),
  scope_missing: unauthorized(),
  caveat: unauthorized(),
  caveat_unknown: unauthorized(),
  caveat_malformed: unauthorized(),
  caveat_scope: unauthorized(),
  caveat_tenant: unauthorized(),
  caveat_epoch_id: unauthorized(),
  caveat_method: unauthorized(),
  caveat_path: unauthorized(),
  caveat_time: unauthorized(),
  caveat_ip: unauthorized(),
  caveat_max_runs: unauthorized(),
  caveat_account: unauthorized(),
  caveat_aud: unauthorized(),
  operator_scope: unauthorized(),
  // --- 404
  no_route: notFound(),
  unknown_epoch: notFound(),
  unknown_run: notFound(),
  unknown_account: notFound(),
  no_payout: notFound(),
  run: notFound(),
  unknown_cid: notFound("unknown_cid"),
  unknown_policy: notFound("unknown_policy"),
  // --- 409 (§5, §10)
  epoch_committed: row("CONFLICT", "epoch_committed"),
  inputs_settled: row("CONFLICT", "inputs_settled"),
  overflow: row("QUARANTINED", "invariant"),
  conservation: row("QUARANTINED", "invariant"),
  negative: row("QUARANTINED", "invariant"),
  quarantined: row("QUARANTINED", "invariant"),
  // --- 429 / 503
  rate_limited: row("RATE_LIMITED", "rate_limited"),
  overloaded: overloaded(),
  outbox_full: overloaded(),
  lock_table_full: overloaded(),
  max_runs_counter_full: overloaded(),
  audit_backlog: overloaded(),
  engine_queue: overloaded("engine_queue"),
  engine_tenant_queue: overloaded("engine_queue"),
  // the global budget of bytes held by unauthenticated requests is spent (docs/RUNBOOK.md)
  preauth_budget: overloaded("preauth_budget"),
  timeout: row("TIMEOUT", "timeout"),
  client_gone: row("TIMEOUT", "timeout"),
  ledger: dependency(),
  source_unreachable: dependency(),
  source_status: dependency(),
  source_oversize: dependency(),
  source_malformed: dependency(),
  source_integrity: dependency(),
  origin_integrity: dependency(),
  // the audit sink cannot write: decisions fail closed (docs/RUNBOOK.md, AuditSinkFailing)
  audit: dependency(),
  // --- 500: the server's own faults, never the client's reasons
  internal: internal(),
  engine: internal(),
  store_corrupt: internal(),
  store_undecryptable: internal(),
  at_rest_unreadable: internal(),
  at_rest_rotation_in_progress: internal(),
  key_file_unreadable: internal(),
  key_file_mode: internal(),
  key_file_format: internal(),
  rekey_layout: internal(),
  rekey_too_many: internal(),
  rekey_journal: internal(),
  rekey_marker: internal(),
} as const satisfies Record<string, ReasonSpec>;

/** Every reason the service can answer with (a key of {@link REASONS}). */
export type Reason = keyof typeof REASONS;

/** The error code a reason belongs to. */
export type CodeOf<R extends Reason> = (typeof REASONS)[R]["code"];

/** True when `value` names a reason of the table (for values crossing a boundary). */
export function isReason(value: string): value is Reason {
  return Object.hasOwn(REASONS, value);
}

/** The HTTP status of an answer with `reason` (contract §8). */
export function statusOfReason(reason: Reason): number {
  return REASONS[reason].status;
}

/** The `rejected_total{reason}` label of `reason`. */
export function labelOfReason(reason: Reason): RejectLabel {
  return REASONS[reason].label;
}

/** Reasons answered with `code`, sorted (the OpenAPI document lists them per status). */
export function reasonsOfStatus(status: number): Reason[] {
  return (Object.keys(REASONS) as Reason[]).filter((r) => REASONS[r].status === status).sort();
}
