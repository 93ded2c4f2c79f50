/**
 * Pure authorization (contract §9): given an authentic token's identifier and caveats,
 * decide whether a request is allowed and with what scopes. Every caveat must hold; the
 * first one that does not decides the 403 reason. No I/O, no clock: `nowMs` comes in.
 *
 * Reasons (403 UNAUTHORIZED): `scope_missing` (no scope caveat: grants nothing), `scope`
 * (route scope not in every scope list), `caveat_<name>` for an unmet caveat
 * (`caveat_tenant`, `caveat_time`, `caveat_ip`, …), `caveat_unknown`, `caveat_malformed`.
 * Unknown and malformed caveats answer 403 rather than 401 because the signature already
 * proved the token authentic; they fail closed either way.
 *
 * @module
 */
import { RewarderError } from "../../core/errors.ts";
import type { AuthContext, MaxRunsCaveat, PeerInfo } from "../../../middleware/context.ts";
import { type Caveat, parseCaveat } from "./caveat.ts";
import type { TokenIdentifier } from "./identifier.ts";
import { ipInRange, parseIp } from "./ip_range.ts";

/** What a request asks for, as the verifier sees it. */
export interface RequestDescription {
  /** HTTP method, uppercase. */
  method: string;
  /** URL path (no query). */
  path: string;
  /** The route's scope (contract §10). */
  scope: string;
  /** The epoch the request addresses, when it addresses one. */
  epochId?: string;
  /** The account the request addresses (payout proofs), when it addresses one. */
  account?: string;
  /** How the request arrived (from the listener, never from headers). */
  peer: PeerInfo;
  /** The current time in epoch milliseconds (injected). */
  nowMs: number;
}

/** The audience an ingress `aud` caveat must name. */
export const SERVICE_AUDIENCE = "svc-rewarder";

function deny(reason: string): RewarderError {
  return new RewarderError("UNAUTHORIZED", reason);
}

function peerInRanges(peer: PeerInfo, c: Extract<Caveat, { kind: "ip" }>): boolean {
  if (peer.transport !== "tcp" || peer.address === undefined) return false; // §9: never over UDS
  const addr = parseIp(peer.address);
  return addr !== undefined && c.ranges.some((r) => ipInRange(addr, r));
}

/** True when caveat `c` holds for `req` under `tenant`; scope and max_runs are handled by the caller. */
function holds(c: Caveat, req: RequestDescription, tenant: string): boolean {
  switch (c.kind) {
    case "tenant":
      return c.tenant === tenant;
    case "epoch_id":
      return req.epochId !== undefined && req.epochId === c.epochId;
    case "method":
      return c.methods.includes(req.method);
    case "path":
      return req.path.startsWith(c.prefix);
    case "time_before":
      return req.nowMs < c.instantMs;
    case "time_after":
      return req.nowMs > c.instantMs;
    case "ip":
      return peerInRanges(req.peer, c);
    case "account":
      return req.account !== undefined && req.account === c.account;
    case "aud":
      return c.audience === SERVICE_AUDIENCE;
    case "scope":
    case "max_runs":
      return true;
    default:
      return false;
  }
}

function reasonFor(c: Caveat): string {
  switch (c.kind) {
    case "unknown":
    case "run_key": // egress-only caveats mean nothing here: fail closed like unknown ones
    case "cid":
      return "caveat_unknown";
    case "malformed":
      return "caveat_malformed";
    case "time_before":
    case "time_after":
      return "caveat_time";
    default:
      return `caveat_${c.kind}`;
  }
}

/**
 * Decides a request against an authentic token. `identifierText` is the exact identifier;
 * `caveats` the first-party caveat texts in chain order.
 * Throws RewarderError UNAUTHORIZED (403) with the reasons listed in the module doc.
 */
export function authorize(
  identifierText: string,
  id: TokenIdentifier,
  caveats: readonly string[],
  req: RequestDescription,
): AuthContext {
  let granted: string[] | undefined;
  const maxRuns: MaxRunsCaveat[] = [];
  for (const [position, text] of caveats.entries()) {
    const c = parseCaveat(text);
    if (!holds(c, req, id.tenant)) throw deny(reasonFor(c));
    if (c.kind === "scope") {
      const listed = c.scopes;
      granted = granted === undefined
        ? [...new Set(listed)]
        : granted.filter((s) => listed.includes(s));
    } else if (c.kind === "max_runs") {
      // Keyed by identifier and chain position: caveats appended later cannot move it (§9).
      maxRuns.push({ counterKey: `${identifierText}#${position}`, limit: c.limit });
    }
  }
  if (granted === undefined) throw deny("scope_missing");
  if (!granted.includes(req.scope)) throw deny("scope");
  return {
    tenant: id.tenant,
    scopes: granted,
    identifier: identifierText,
    keyEpoch: id.keyEpoch,
    maxRuns,
  };
}
