/**
 * What a ledger checks before applying an intent (contract §7), and what it holds an egress
 * token to (§9, last paragraph). Used by the dev ledger (tools/dev_ledger.ts) so that the
 * service is tested against a ledger that checks what a real one does.
 *
 * - v2 (`svc-rewarder.intent.v2`): exact members; `Idempotency-Key` = `intent_key` =
 *   intentKeyOf(tenant, run_key); the header's run key, epoch, asset and funding source are the
 *   intent's; BLAKE3(JCS(header)) = `manifest_hash`; the transfers other than the trailing fee
 *   transfer rebuild `header.payouts_root` and number `header.totals.recipients`; Σ transfers
 *   = `total_minor`; the signature rule holds over the v2 statement with the published keys.
 * - v1 (`svc-rewarder.intent.v1`, a pending intent queued before the upgrade): exact members;
 *   `Idempotency-Key` = `run_key`; Σ transfers = `total_minor`; the signature rule over the v1
 *   statement (a v1 intent carries no header, so its payouts cannot be checked).
 *
 * @module
 */
import { canonicalJson } from "../../core/canonical_json.ts";
import { leafHash, merkleRoot, toHex } from "../../core/merkle.ts";
import {
  checkSignatureRule,
  MANIFEST_SIG_DOMAIN_V1,
  MANIFEST_SIG_DOMAIN_V2,
  type VerifyKey,
} from "../../core/seal.ts";
import { parseCaveat } from "../caps/caveat.ts";
import { pathPrefixHolds } from "../caps/authorize.ts";
import { cidOf, intentKeyOf, isCid } from "../../core/mod.ts";

/** Why a ledger refuses an intent (stable snake_case; never echoes a value). */
export type IntentProblem =
  | "schema"
  | "idempotency_key"
  | "intent_key"
  | "header"
  | "manifest_hash"
  | "payouts_root"
  | "transfers"
  | "conservation"
  | "signatures";

/** A checked intent: the members the ledger scopes and reports by. */
export interface CheckedIntent {
  schema: "svc-rewarder.intent.v1" | "svc-rewarder.intent.v2";
  tenant: string;
  runKey: string;
  intentKey: string | null;
  manifestHash: string;
}

const MONEY_RE = /^(0|[1-9][0-9]{0,38})$/;
const V1_KEYS =
  "asset,epoch_id,funding_source,manifest_hash,run_key,schema,signatures,tenant,total_minor,transfers";
const V2_KEYS =
  "asset,epoch_id,funding_source,header,intent_key,manifest_hash,run_key,schema,signatures,tenant,total_minor,transfers";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const keysOf = (o: Obj) => Object.keys(o).sort().join(",");

/**
 * Checks an intent body against its `Idempotency-Key` and the published manifest keys.
 * Answers the checked members or the first problem found.
 */
export function checkLedgerIntent(
  body: unknown,
  idempotencyKey: string,
  keys: readonly VerifyKey[],
): { ok: true; value: CheckedIntent } | { ok: false; problem: IntentProblem } {
  if (!isObj(body)) return { ok: false, problem: "schema" };
  const v2 = body["schema"] === "svc-rewarder.intent.v2";
  if (!v2 && body["schema"] !== "svc-rewarder.intent.v1") return { ok: false, problem: "schema" };
  if (keysOf(body) !== (v2 ? V2_KEYS : V1_KEYS)) return { ok: false, problem: "schema" };
  for (const f of ["tenant", "epoch_id", "asset", "funding_source"]) {
    if (typeof body[f] !== "string" || body[f] === "") return { ok: false, problem: "schema" };
  }
  const tenant = body["tenant"] as string;
  const runKey = body["run_key"];
  const manifestHash = body["manifest_hash"];
  if (!isCid(runKey) || !isCid(manifestHash)) return { ok: false, problem: "schema" };
  let intentKey: string | null = null;
  if (v2) {
    if (!isCid(body["intent_key"])) return { ok: false, problem: "schema" };
    intentKey = body["intent_key"];
    if (intentKey !== intentKeyOf({ tenant, runKey })) return { ok: false, problem: "intent_key" };
  }
  if (idempotencyKey !== (intentKey ?? runKey)) return { ok: false, problem: "idempotency_key" };
  const payouts = transfersOf(body["transfers"], body["total_minor"]);
  if (typeof payouts === "string") return { ok: false, problem: payouts };
  if (v2) {
    const problem = headerProblem(body, payouts);
    if (problem !== undefined) return { ok: false, problem };
  }
  const domain = v2 ? MANIFEST_SIG_DOMAIN_V2 : MANIFEST_SIG_DOMAIN_V1;
  if (!checkSignatureRule(domain, manifestHash, body["signatures"], keys).ok) {
    return { ok: false, problem: "signatures" };
  }
  return {
    ok: true,
    value: {
      schema: v2 ? "svc-rewarder.intent.v2" : "svc-rewarder.intent.v1",
      tenant,
      runKey,
      intentKey,
      manifestHash,
    },
  };
}

/** The transfers as (to, amount) pairs, with Σ = total_minor; or a problem. */
function transfersOf(
  transfers: unknown,
  total: unknown,
): { to: string; amount: string }[] | IntentProblem {
  if (!Array.isArray(transfers) || typeof total !== "string" || !MONEY_RE.test(total)) {
    return "schema";
  }
  let sum = 0n;
  const out: { to: string; amount: string }[] = [];
  for (const t of transfers) {
    if (!isObj(t) || keysOf(t) !== "amount_minor,to") return "transfers";
    const { to, amount_minor: amount } = t;
    if (typeof to !== "string" || typeof amount !== "string" || !MONEY_RE.test(amount)) {
      return "transfers";
    }
    sum += BigInt(amount);
    out.push({ to, amount });
  }
  return sum === BigInt(total) ? out : "conservation";
}

/**
 * The v2 commitment check (contract §7): the header is the manifest's, hashes to
 * `manifest_hash`, and the payout transfers (all but a trailing fee transfer) rebuild its
 * `payouts_root`.
 */
function headerProblem(
  body: Obj,
  transfers: { to: string; amount: string }[],
): IntentProblem | undefined {
  const h = body["header"];
  if (!isObj(h) || h["schema"] !== "svc-rewarder.manifest.v2" || h["status"] !== "sealed") {
    return "header";
  }
  for (const f of ["run_key", "epoch_id", "asset", "funding_source"]) {
    if (h[f] !== body[f]) return "header";
  }
  if (cidOf(canonicalJson(h)) !== body["manifest_hash"]) return "manifest_hash";
  const fee = h["fee"];
  let payouts = transfers;
  if (isObj(fee) && typeof fee["amount_minor"] === "string" && fee["amount_minor"] !== "0") {
    const last = transfers.at(-1);
    if (last === undefined || last.to !== fee["account"] || last.amount !== fee["amount_minor"]) {
      return "transfers";
    }
    payouts = transfers.slice(0, -1);
  }
  const totals = h["totals"];
  if (!isObj(totals) || totals["recipients"] !== payouts.length) return "payouts_root";
  const root = `b3:${toHex(merkleRoot(payouts.map((p) => leafHash(p.to, p.amount))))}`;
  return root === h["payouts_root"] ? undefined : "payouts_root";
}

/** What an egress token's caveats are held against: the request and the intent's members. */
export interface EgressRequest {
  method: string;
  /** The request path (no query). */
  path: string;
  nowMs: number;
  intent: CheckedIntent;
}

/**
 * True when every first-party caveat of the egress token holds for this request and intent
 * (contract §9, last paragraph): `tenant`, `run_key`, `intent_key`, `manifest_hash` equal the
 * intent's members (an `intent_key` caveat fails on a v1 intent, which has none); `scope`
 * lists `ledger.intent.write`; `method`; `path ^=` by whole segments; `aud = ron-ledger`;
 * `time <`/`time >`. Anything else fails closed.
 */
export function egressCaveatsHold(caveats: readonly string[], req: EgressRequest): boolean {
  const i = req.intent;
  return caveats.every((text) => {
    const c = parseCaveat(text);
    switch (c.kind) {
      case "tenant":
        return c.tenant === i.tenant;
      case "run_key":
        return c.runKey === i.runKey;
      case "intent_key":
        return c.intentKey === i.intentKey;
      case "manifest_hash":
        return c.manifestHash === i.manifestHash;
      case "scope":
        return c.scopes.includes("ledger.intent.write");
      case "method":
        return c.methods.includes(req.method);
      case "path":
        return pathPrefixHolds(c.prefix, req.path);
      case "aud":
        return c.audience === "ron-ledger";
      case "time_before":
        return req.nowMs < c.instantMs;
      case "time_after":
        return req.nowMs > c.instantMs;
      default:
        return false;
    }
  });
}
