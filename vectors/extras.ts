/**
 * Contract v2 vectors beside the compute cases (`cases.ts`), as data: the run-key and
 * intent-key examples, the two-tenant pair, header-only proofs, and refusals of ill-formed
 * JSON. What is known independently of the code (the contract's run key, the refusals'
 * outcomes) is written here by hand; `make_vectors.ts` pins the rest in `vectors/v2/`, and
 * `tests/vectors_test.ts` checks both.
 *
 * @module
 */

/** Contract §5's run-key example. */
export const RUN_KEY_EXAMPLE = {
  salt: "svc-rewarder|v1",
  epoch_id: "interop-epoch-1",
  policy_hash: "b3:" + "b".repeat(64),
  inputs_cid: "b3:81d428e1df7c29a8443467db8ed59ee2628ac43acd47c692fbc3c23ee495606d",
  run_key: "b3:ffd1e7465fb118c067fd14c30a36e2e12ba27f1e1fca34c4b7edcac919dd9bb9",
} as const;

/** Intent-key examples (contract §5): one run key, two tenants, two keys. */
export const INTENT_KEY_TENANTS = ["acme", "globex"] as const;

/** The two-tenant pair: the same compute case settled by two tenants (contract §5, §7). */
export const TWO_TENANT = {
  case: "fee-cap-min-payout",
  tenants: ["tenant-a", "tenant-b"],
} as const;

/** Header-only proofs (contract §6): case, account, and why that position. */
export const PROOF_VECTORS = [
  { case: "rustyonions-interop", account: "acct_a", why: "two leaves: one step" },
  { case: "hamilton-10-largest-remainder", account: "party-e", why: "last of 5: promoted" },
  { case: "fee-cap-min-payout", account: "b", why: "middle of 3" },
] as const;

/** A tampering of a valid proof and the reason `verify-proof` gives (hand-known). */
export const PROOF_TAMPERINGS = [
  {
    name: "other-index",
    why: "same path, claimed at another index (0, or 1 for index 0): its sides do not fit " +
      "(index, recipients)",
    reason: "path",
  },
  {
    name: "header-changed",
    why: "one header member changed: BLAKE3(JCS(header)) no longer equals manifest_hash",
    reason: "manifest_hash",
  },
  {
    name: "extra-member",
    why: "the proof document has a fixed member set",
    reason: "schema",
  },
] as const;

/**
 * Refusals of ill-formed JSON (contract §1). `text` is a JSON text as a JS string, `hex` raw
 * bytes; `jcs` cases are read leniently (JSON.parse) and must then be refused by JCS.
 */
export const REFUSALS = [
  {
    name: "jcs-lone-surrogate-value",
    why: "RFC 8785 §3.2.2.2: a lone surrogate in a string is an error, never written",
    kind: "jcs",
    text: '{"account":"x\\ud800"}',
    expect: "Cannot canonicalize JSON: lone surrogate at $.account",
  },
  {
    name: "jcs-lone-surrogate-key",
    why: "the same for a member name",
    kind: "jcs",
    text: '{"a":{"\\udc00":1}}',
    expect: "Cannot canonicalize JSON: lone surrogate at $.a (a member name)",
  },
  {
    name: "jcs-surrogate-pair-ok",
    why: "a well-formed pair (U+1F600) is written raw, as JSON.stringify does",
    kind: "jcs",
    text: '{"a":"\\ud83d\\ude00"}',
    expect: '{"a":"\u{1F600}"}',
  },
  {
    name: "ijson-escaped-lone-surrogate",
    why: "I-JSON (RFC 7493 §2.1): an escaped lone surrogate is refused",
    kind: "ijson",
    text: '["\\ud800"]',
    expect: "surrogate",
  },
  {
    name: "ijson-raw-surrogate-bytes",
    why: "ED A0 80 (a surrogate encoded as UTF-8) is not UTF-8: refused",
    kind: "ijson",
    hex: "5b22eda080225d",
    expect: "utf8",
  },
  {
    name: "ijson-noncharacter",
    why: "noncharacters (U+FFFF here, escaped) are refused",
    kind: "ijson",
    text: '["\\uffff"]',
    expect: "noncharacter",
  },
  {
    name: "ijson-raw-noncharacter",
    why: "raw U+FDD0 (EF B7 90) is refused too",
    kind: "ijson",
    hex: "5b22efb790225d",
    expect: "noncharacter",
  },
  {
    name: "compat-1e2",
    why: "contract §2: compat counters are integer literals; 1e2 is refused",
    kind: "inputs",
    text: '{"produced_at_millis":1,"pool_minor_units":"1000","contributions":[' +
      '{"account":"acct_a","bytes_stored":1e2,"bytes_served":50,"uptime_seconds":10}]}',
    expect: "schema inputs.contributions[0].bytes_stored",
  },
] as const;
