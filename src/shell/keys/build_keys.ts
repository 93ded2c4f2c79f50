/**
 * The service's keys from its configuration: the capability key ring (reloaded on a timer, its
 * changes audited), the edge JWT verifier of an edge instance, the governance keys and the
 * signer.
 *
 * @module
 */
import type { GovernanceKeys } from "../../core/policy_envelope.ts";
import { edgeJwtVerifier, loadEdgeJwtConfig } from "../caps/edge_jwt.ts";
import { type KeyRing, openKeyRing } from "../caps/key_file.ts";
import type { Verifier } from "../caps/verifier.ts";
import type { Config } from "../config/config.ts";
import type { AuditTrail } from "../observe/audit_trail.ts";
import { parseGovernanceKeys, readPublicJson } from "./key_files.ts";
import { loadSigner, type Signer } from "./signer.ts";

/** Resolved key paths (from config, or from the development bootstrap). */
export interface KeyPaths {
  capsKeysPath: string;
  signingKeysDir: string;
  govKeysPath: string;
  atRestKeyPath: string | undefined;
}

/** What {@link buildKeys} answers; `stopKeyTimer` stops the key ring's reload. */
export interface Keys {
  keyRing: KeyRing;
  stopKeyTimer: () => void;
  edgeJwt: Verifier | undefined;
  gov: GovernanceKeys;
  signer: Signer;
}

/** Opens the key ring (and starts its reload timer), then loads the other keys. */
export async function buildKeys(
  config: Pick<
    Config,
    "capsReloadMs" | "edgeJwtKeysPath" | "operatorTenant" | "govThreshold" | "requirePq"
  >,
  paths: KeyPaths,
  deps: { audit: Pick<AuditTrail, "decide">; nowMs: () => number },
): Promise<Keys> {
  const { audit, nowMs } = deps;
  const keyRing = await openKeyRing({
    path: paths.capsKeysPath,
    // CAPS_RELOAD_MS: key file reload period (ms, 1..60000; default 60000, contract §9).
    reloadIntervalMs: config.capsReloadMs,
    // A new current epoch or a revocation is a decision (not on a request's path: a failed
    // line is counted and logged by the trail, and /readyz reports `audit`).
    onChange: (change) =>
      void audit.decide({
        event: "key_epoch_changed",
        tenant: null,
        corr_id: null,
        outcome: change.kind,
        reason: String(change.keyEpoch),
      }).catch(() => {}),
  });
  const stopKeyTimer = keyRing.startTimer();
  // EDGE_JWT_KEYS (docs/EDGE-JWT.md): this is the gateway-facing edge instance; a gateway JWT is
  // converted into a short-lived internal macaroon and never forwarded (docs/EDGE-JWT.md).
  const edgeJwt = config.edgeJwtKeysPath === undefined ? undefined : edgeJwtVerifier({
    config: await loadEdgeJwtConfig(config.edgeJwtKeysPath),
    keyRing,
    operatorTenant: config.operatorTenant,
  });
  const govDoc = parseGovernanceKeys(await readPublicJson(paths.govKeysPath));
  const gov = { threshold: config.govThreshold ?? govDoc.threshold, keys: govDoc.keys };
  const signer = await loadSigner(paths.signingKeysDir, { requirePq: config.requirePq, nowMs });
  return { keyRing, stopKeyTimer, edgeJwt, gov, signer };
}
