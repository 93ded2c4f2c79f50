/**
 * Signed policy envelopes by id and hash (contract §3, §10): from POLICY_DIR (every `*.json`
 * file is an envelope) or from an HTTP registry (`GET <base>/<policy_id>?hash=<policy_hash>`).
 * Envelopes are verified (hash + GOV_THRESHOLD signatures) before use or service.
 *
 * @module
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { RewarderError } from "../../core/errors.ts";
import { policyHashOf } from "../../core/policy.ts";
import { parseStrictJson } from "../../core/strict_json.ts";
import {
  type GovernanceKeys,
  type VerifiedPolicy,
  verifyPolicyEnvelope,
} from "../../core/policy_envelope.ts";
import { fetchCapped, POLICY_ENVELOPE_BYTES_MAX } from "./sources.ts";

/** Most policy files read from POLICY_DIR (bounds the directory scan). */
export const POLICY_FILES_MAX = 10_000;
/** Rescan POLICY_DIR at most this often on a miss (ms). */
export const POLICY_RESCAN_MS_MIN = 1_000;

/** A verified policy and the envelope as served. */
export interface PolicyEntry {
  verified: VerifiedPolicy;
  envelope: unknown;
}

/** The policy registry the routes use. */
export interface PolicyRegistry {
  /**
   * The verified policy of `policyHash` (contract §5 step 2): 404 `unknown_policy` when no
   * usable policy has that hash; 400 `policy_mismatch` (field `policy_id`) when its
   * document's `policy_id` is not `policyId`; 400 with the refusal reason when a refused
   * envelope claims that hash.
   */
  get(policyId: string, policyHash: string, signal: AbortSignal): Promise<PolicyEntry>;
  /** The newest version of `policyId` (or the one with `hash`), as an envelope. */
  envelope(policyId: string, hash: string | undefined, signal: AbortSignal): Promise<unknown>;
}

function rejectOf(result: ReturnType<typeof verifyPolicyEnvelope>): PolicyEntry["verified"] {
  if (!result.ok) throw result.error;
  return result.value;
}

/**
 * The hashes a refused envelope claims (its declared and its computed hash), so a request for
 * one is refused with the verification reason (`policy_threshold`, `unknown_kid`,
 * `policy_signature`, `policy_hash`, `schema`) instead of `unknown_policy`: the error mapper
 * then counts it in `rejected_total{reason}`.
 */
function refusalKeys(envelope: unknown): string[] {
  if (typeof envelope !== "object" || envelope === null) return [];
  const { policy, policy_hash: declared } = envelope as Record<string, unknown>;
  if (typeof policy !== "object" || policy === null) return [];
  const keys = typeof declared === "string" ? [declared] : [];
  try {
    keys.push(policyHashOf(policy));
  } catch {
    // not hashable: only the declared hash can be matched
  }
  return keys;
}

/** Step 2 of contract §5: the policy of a known hash must be the body's `policy_id`. */
function checkPolicyId(entry: PolicyEntry, policyId: string): PolicyEntry {
  if (entry.verified.policy.policyId !== policyId) {
    throw new RewarderError("BAD_REQUEST", "policy_mismatch", { path: "policy_id" });
  }
  return entry;
}

/**
 * POLICY_DIR as a registry. Bad files are skipped (and reported through `onBadFile`); a request
 * for the id and hash of a refused file is answered with its refusal reason (400).
 */
export function directoryPolicyRegistry(
  dir: string,
  gov: () => GovernanceKeys,
  options: { nowMs: () => number; onBadFile?: (file: string, reason: string) => void },
): PolicyRegistry {
  let index = new Map<string, PolicyEntry[]>();
  let byHash = new Map<string, PolicyEntry>();
  let refused = new Map<string, RewarderError>();
  let scannedAtMs = -Infinity;
  let scannedDirMtimeMs: number | undefined;
  const dirMtimeMs = () => stat(dir).then((i) => i.mtimeMs, () => undefined);
  /** A miss rescans every POLICY_RESCAN_MS_MIN, or at once when a file was added or removed. */
  const rescanDue = async () =>
    options.nowMs() - scannedAtMs >= POLICY_RESCAN_MS_MIN ||
    (await dirMtimeMs()) !== scannedDirMtimeMs;

  async function scan(): Promise<void> {
    scannedDirMtimeMs = await dirMtimeMs();
    const next = new Map<string, PolicyEntry[]>();
    const nextByHash = new Map<string, PolicyEntry>();
    const nextRefused = new Map<string, RewarderError>();
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) =>
      n.endsWith(".json")
    ).sort();
    for (const name of names.slice(0, POLICY_FILES_MAX)) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => null);
      if (info === null || !info.isFile() || info.size > POLICY_ENVELOPE_BYTES_MAX) continue;
      const parsed = parseStrictJson(new Uint8Array(await readFile(path)));
      if (!parsed.ok) {
        options.onBadFile?.(name, "json");
        continue;
      }
      const envelope = parsed.value;
      const result = verifyPolicyEnvelope(envelope, gov());
      if (!result.ok) {
        options.onBadFile?.(name, result.error.reason);
        for (const key of refusalKeys(envelope)) nextRefused.set(key, result.error);
        continue;
      }
      if (nextByHash.has(result.value.policyHash)) continue;
      const entry = { verified: result.value, envelope };
      nextByHash.set(result.value.policyHash, entry);
      next.set(result.value.policy.policyId, [
        ...(next.get(entry.verified.policy.policyId) ?? []),
        entry,
      ]);
    }
    index = next;
    byHash = nextByHash;
    refused = nextRefused;
    scannedAtMs = options.nowMs();
  }

  async function lookup(policyId: string): Promise<PolicyEntry[]> {
    if (!index.has(policyId) && await rescanDue()) await scan();
    return index.get(policyId) ?? [];
  }

  return {
    async get(policyId, policyHash) {
      // O(1) by hash (contract §5 step 2); a miss rescans when due (see rescanDue).
      if (!byHash.has(policyHash) && await rescanDue()) {
        await scan();
      }
      const entry = byHash.get(policyHash);
      if (entry !== undefined) return checkPolicyId(entry, policyId);
      const refusal = refused.get(policyHash);
      if (refusal !== undefined) throw new RewarderError(refusal.code, refusal.reason);
      throw new RewarderError("NOT_FOUND", "unknown_policy");
    },
    async envelope(policyId, hash) {
      const list = await lookup(policyId);
      const entry = hash === undefined
        ? [...list].sort((a, b) => b.verified.policy.version - a.verified.policy.version)[0]
        : list.find((e) => e.verified.policyHash === hash);
      if (!entry) throw new RewarderError("NOT_FOUND", "unknown_policy");
      return entry.envelope;
    },
  };
}

/** An HTTP policy registry: read-only, own deadline, capped size, envelope verified here. */
export function httpPolicyRegistry(
  baseUrl: string,
  gov: () => GovernanceKeys,
  options: {
    attemptMs: number;
    fetch?: (url: string | URL, init?: RequestInit) => Promise<Response>;
  },
): PolicyRegistry {
  async function fetchEnvelope(
    policyId: string,
    hash: string | undefined,
    signal: AbortSignal,
  ): Promise<unknown> {
    const url = `${baseUrl.replace(/\/$/, "")}/${encodeURIComponent(policyId)}` +
      (hash === undefined ? "" : `?hash=${encodeURIComponent(hash)}`);
    const bytes = await fetchCapped(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(options.attemptMs)]),
      bytesMax: POLICY_ENVELOPE_BYTES_MAX,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
    const parsed = parseStrictJson(bytes);
    if (!parsed.ok) {
      throw new RewarderError("DEPENDENCY_UNAVAILABLE", "source_malformed", { retryAfterS: 5 });
    }
    return parsed.value;
  }
  return {
    async get(policyId, policyHash, signal) {
      const envelope = await fetchEnvelope(policyId, policyHash, signal);
      // The HTTP registry is addressed by id: a hash it serves under another id reads as
      // unknown (404) there, and an envelope for the wrong id as a mismatch.
      const verified = rejectOf(verifyPolicyEnvelope(envelope, gov()));
      if (verified.policyHash !== policyHash) throw new RewarderError("BAD_REQUEST", "policy_hash");
      return checkPolicyId({ verified, envelope }, policyId);
    },
    async envelope(policyId, hash, signal) {
      const envelope = await fetchEnvelope(policyId, hash, signal);
      rejectOf(verifyPolicyEnvelope(envelope, gov()));
      return envelope;
    },
  };
}
