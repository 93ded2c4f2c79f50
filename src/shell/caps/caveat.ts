/**
 * First-party caveats of contract §9 as typed values: `name op value`, single spaces,
 * printable ASCII value without spaces. Anything else is `malformed`; an unrecognised
 * name is `unknown`; both fail closed in the verifier.
 *
 * Besides the §9 ingress table we understand the egress caveats the service itself adds:
 * `aud = x` (holds on ingress only when x is `svc-rewarder`), `run_key = b3:…`,
 * `intent_key = b3:…`, `manifest_hash = b3:…` and `cid = b3:…` (meaningful to the ledger /
 * accounting source only; on ingress they are treated like unknown caveats and fail closed).
 *
 * `time` values are written exactly `YYYY-MM-DDTHH:MM:SSZ` (contract §9): a fraction or an
 * offset is malformed. `path ^= P` needs P to start with `/`.
 *
 * @module
 */
import { isCid } from "../../core/cid.ts";
import { TENANT_PATTERN } from "./identifier.ts";
import { type IpRange, parseCidr } from "./ip_range.ts";
import { parseRfc3339UtcMs } from "./rfc3339.ts";
import { CAVEAT_BYTES_MAX, CAVEAT_INT_MAX, CAVEAT_LIST_ITEMS_MAX } from "./limits.ts";

/** A parsed caveat. */
export type Caveat =
  | { kind: "scope"; scopes: readonly string[] }
  | { kind: "tenant"; tenant: string }
  | { kind: "epoch_id"; epochId: string }
  | { kind: "method"; methods: readonly string[] }
  | { kind: "path"; prefix: string }
  | { kind: "time_before"; instantMs: number }
  | { kind: "time_after"; instantMs: number }
  | { kind: "ip"; ranges: readonly IpRange[] }
  | { kind: "max_runs"; limit: number }
  | { kind: "account"; account: string }
  | { kind: "aud"; audience: string }
  | { kind: "run_key"; runKey: string }
  | { kind: "intent_key"; intentKey: string }
  | { kind: "manifest_hash"; manifestHash: string }
  | { kind: "cid"; cid: string }
  | { kind: "unknown" }
  | { kind: "malformed" };

const GRAMMAR = /^([a-z_]{1,32}) (=|\^=|<|>) ([\x21-\x7e]+)$/;
const SCOPE_ITEM = /^[a-z][a-z0-9_]{0,31}(?:\.[a-z][a-z0-9_]{0,31}){0,3}$/;
const METHOD_ITEM = /^[A-Z]{1,16}$/;
const EPOCH_ID = /^[A-Za-z0-9._:-]{1,128}$/; // contract §1
const ACCOUNT = /^[A-Za-z0-9._:/-]{1,160}$/; // contract §1
const PATH_PREFIX = /^\/[\x21-\x7e]{0,1023}$/;
const AUDIENCE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const INT = /^(?:0|[1-9][0-9]{0,8})$/;
/** Contract §9: the instant is written exactly `YYYY-MM-DDTHH:MM:SSZ` (no fraction, no offset). */
const TIME_EXACT = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;

function list(value: string, item: RegExp): string[] | undefined {
  const items = value.split(",");
  if (items.length > CAVEAT_LIST_ITEMS_MAX) return undefined;
  return items.every((i) => item.test(i)) ? items : undefined;
}

function ipList(value: string): IpRange[] | undefined {
  const items = value.split(",");
  if (items.length > CAVEAT_LIST_ITEMS_MAX) return undefined;
  const ranges: IpRange[] = [];
  for (const i of items) {
    const r = parseCidr(i);
    if (r === undefined) return undefined;
    ranges.push(r);
  }
  return ranges;
}

const MALFORMED: Caveat = { kind: "malformed" };

function parseEquals(name: string, value: string): Caveat {
  switch (name) {
    case "scope": {
      const scopes = list(value, SCOPE_ITEM);
      return scopes ? { kind: "scope", scopes } : MALFORMED;
    }
    case "tenant":
      return TENANT_PATTERN.test(value) ? { kind: "tenant", tenant: value } : MALFORMED;
    case "epoch_id":
      return EPOCH_ID.test(value) ? { kind: "epoch_id", epochId: value } : MALFORMED;
    case "method": {
      const methods = list(value, METHOD_ITEM);
      return methods ? { kind: "method", methods } : MALFORMED;
    }
    case "ip": {
      const ranges = ipList(value);
      return ranges ? { kind: "ip", ranges } : MALFORMED;
    }
    case "max_runs": {
      if (!INT.test(value) || Number(value) > CAVEAT_INT_MAX) return MALFORMED;
      return { kind: "max_runs", limit: Number(value) };
    }
    case "account":
      return ACCOUNT.test(value) ? { kind: "account", account: value } : MALFORMED;
    case "aud":
      return AUDIENCE.test(value) ? { kind: "aud", audience: value } : MALFORMED;
    case "run_key":
      return isCid(value) ? { kind: "run_key", runKey: value } : MALFORMED;
    case "intent_key":
      return isCid(value) ? { kind: "intent_key", intentKey: value } : MALFORMED;
    case "manifest_hash":
      return isCid(value) ? { kind: "manifest_hash", manifestHash: value } : MALFORMED;
    case "cid":
      return isCid(value) ? { kind: "cid", cid: value } : MALFORMED;
    default:
      return { kind: "unknown" };
  }
}

const KNOWN_NAMES: ReadonlySet<string> = new Set([
  "scope",
  "tenant",
  "epoch_id",
  "method",
  "path",
  "time",
  "ip",
  "max_runs",
  "account",
  "aud",
  "run_key",
  "intent_key",
  "manifest_hash",
  "cid",
]);

/** Parses one first-party caveat's text (already UTF-8 decoded). Never throws. */
export function parseCaveat(text: string): Caveat {
  if (new TextEncoder().encode(text).length > CAVEAT_BYTES_MAX) return MALFORMED;
  const m = GRAMMAR.exec(text);
  if (m === null) return MALFORMED;
  const [, name, op, value] = m as unknown as [string, string, string, string];
  if (!KNOWN_NAMES.has(name)) return { kind: "unknown" };
  if (name === "path") {
    return op === "^=" && PATH_PREFIX.test(value) ? { kind: "path", prefix: value } : MALFORMED;
  }
  if (name === "time") {
    if ((op !== "<" && op !== ">") || !TIME_EXACT.test(value)) return MALFORMED;
    const instantMs = parseRfc3339UtcMs(value);
    if (instantMs === undefined) return MALFORMED;
    return op === "<" ? { kind: "time_before", instantMs } : { kind: "time_after", instantMs };
  }
  return op === "=" ? parseEquals(name, value) : MALFORMED;
}

/**
 * Checks a caveat's text for the CLI and egress: it must parse to a known kind.
 * Throws TypeError("Cannot add caveat as it is malformed or unknown") otherwise.
 */
export function assertWellFormedCaveat(text: string): Caveat {
  const c = parseCaveat(text);
  if (c.kind === "malformed" || c.kind === "unknown") {
    throw new TypeError("Cannot add caveat as it is malformed or unknown");
  }
  return c;
}
