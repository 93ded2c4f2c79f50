/**
 * Pure authorization (contract §9): given an authentic token's identifier and caveats,
 * decide whether a request is allowed. The grant is the identifier's scopes; caveats only
 * narrow it: the route's scope must be among the identifier's scopes AND every caveat must
 * hold. No I/O, no clock: `nowMs` comes in.
 *
 * Reasons (403 UNAUTHORIZED): `scope` (the identifier does not grant the route's scope),
 * `caveat_<name>` for an unmet caveat (`caveat_scope`, `caveat_tenant`, `caveat_epoch_id`,
 * `caveat_method`, `caveat_path`, `caveat_time`, `caveat_ip`, `caveat_account`,
 * `caveat_aud`), `caveat_unknown`, `caveat_malformed`. Unknown and malformed caveats answer
 * 403 rather than 401 because the signature already proved the token authentic; they fail
 * closed either way.
 *
 * @module
 */
import { type Reason, RewarderError } from "../../core/errors.ts";
import type { AuthContext, MaxRunsCaveat } from "./auth_context.ts";
import type { PeerInfo } from "../listen/types.ts";
import { type Caveat, parseCaveat } from "./caveat.ts";
import type { TokenIdentifier } from "./identifier.ts";
import { ipInRange, parseIp } from "./ip_range.ts";

/** What a request asks for, as the verifier sees it. */
export interface RequestDescription {
  /** HTTP method, uppercase. */
  method: string;
  /** The normalised request path (contract §9; middleware/request_path.ts), no query. */
  path: string;
  /** The route's scope (contract §10). */
  scope: string;
  /**
   * The epoch the route names (its `{epoch_id}`, or the `epoch_id` query of `GET /runs`);
   * absent when the route names none, so an `epoch_id` caveat fails.
   */
  epochId?: string;
  /**
   * True on `GET /rewarder/runs/{run_key}`: the route names the run's epoch, known only once
   * the run is loaded; `epoch_id` caveats become {@link AuthContext.pendingEpochIds}.
   */
  epochOfRun?: boolean;
  /** The account of the proof route (decoded once); absent elsewhere, so `account` fails. */
  account?: string;
  /** How the request arrived (from the listener, never from headers). */
  peer: PeerInfo;
  /** The current time in epoch milliseconds (injected). */
  nowMs: number;
}

/** The audience an ingress `aud` caveat must name. */
export const SERVICE_AUDIENCE = "svc-rewarder";

function deny(reason: Reason): RewarderError {
  return new RewarderError("UNAUTHORIZED", reason);
}

function peerInRanges(peer: PeerInfo, c: Extract<Caveat, { kind: "ip" }>): boolean {
  if (peer.transport !== "tcp" || peer.address === undefined) return false; // §9: never over UDS
  const addr = parseIp(peer.address);
  return addr !== undefined && c.ranges.some((r) => ipInRange(addr, r));
}

/**
 * `path ^= P` (contract §9): whole segments. The path is P, or starts with P + `/`, or P
 * ends with `/` and the path starts with P. So `/rewarder/epochs/e1` does not grant
 * `/rewarder/epochs/e10`, and `/` grants every path.
 */
export function pathPrefixHolds(prefix: string, path: string): boolean {
  if (!prefix.startsWith("/")) return false; // malformed; the parser refuses it already
  if (prefix.endsWith("/")) return path.startsWith(prefix);
  return path === prefix || path.startsWith(prefix + "/");
}

/** True when caveat `c` holds for `req` under `tenant`; scope, epoch_id and max_runs are the caller's. */
function holds(c: Caveat, req: RequestDescription, tenant: string): boolean {
  switch (c.kind) {
    case "tenant":
      return c.tenant === tenant;
    case "method":
      return c.methods.includes(req.method);
    case "path":
      return pathPrefixHolds(c.prefix, req.path);
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
    default:
      return false; // unknown, malformed, and egress-only caveats fail closed
  }
}

function reasonFor(c: Caveat): Reason {
  switch (c.kind) {
    case "unknown":
    case "run_key": // egress-only caveats mean nothing here: fail closed like unknown ones
    case "intent_key":
    case "manifest_hash":
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
  return authorizeParsed(identifierText, id, caveats.map(parseCaveat), req);
}

/**
 * {@link authorize} over caveats already parsed ({@link parseCaveat}, in chain order): what the
 * verified tokens cache keeps. Every caveat is still evaluated against `req` here, on every
 * request: parsing depends on the token only, holding on the request and the clock.
 */
export function authorizeParsed(
  identifierText: string,
  id: TokenIdentifier,
  caveats: readonly Caveat[],
  req: RequestDescription,
): AuthContext {
  // The grant is the identifier's; nothing a caveat says can add to it (§9).
  if (!(id.scopes as readonly string[]).includes(req.scope)) throw deny("scope");
  let granted: string[] = [...id.scopes];
  const maxRuns: MaxRunsCaveat[] = [];
  const pendingEpochIds: string[] = [];
  for (const [position, c] of caveats.entries()) {
    if (c.kind === "scope") {
      if (!c.scopes.includes(req.scope)) throw deny("caveat_scope");
      granted = granted.filter((s) => c.scopes.includes(s));
    } else if (c.kind === "epoch_id") {
      if (req.epochOfRun === true) pendingEpochIds.push(c.epochId);
      else if (req.epochId === undefined || req.epochId !== c.epochId) {
        throw deny("caveat_epoch_id");
      }
    } else if (c.kind === "max_runs") {
      // Keyed by identifier and chain position: caveats appended later cannot move it (§9).
      maxRuns.push({ counterKey: `${identifierText}#${position}`, limit: c.limit });
    } else if (!holds(c, req, id.tenant)) {
      throw deny(reasonFor(c));
    }
  }
  return {
    tenant: id.tenant,
    scopes: granted,
    identifier: identifierText,
    keyEpoch: id.keyEpoch,
    maxRuns,
    pendingEpochIds,
  };
}

/**
 * The deferred half of `epoch_id = e` on `GET /rewarder/runs/{run_key}` (contract §9): call
 * it once the run is loaded, before answering, with the run's epoch (undefined when no such
 * run exists for the tenant). Throws 403 `caveat_epoch_id` when a pending caveat names
 * another epoch — also for an unknown run, so an epoch-bound token cannot tell an unknown
 * run key from another epoch's run.
 */
export function checkRunEpoch(auth: AuthContext, runEpochId: string | undefined): void {
  for (const e of auth.pendingEpochIds ?? []) {
    if (runEpochId === undefined || runEpochId !== e) throw deny("caveat_epoch_id");
  }
}
