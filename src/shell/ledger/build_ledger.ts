/**
 * Settlement from the configuration: the ledger target (the HTTP ledger of LEDGER_URL with an
 * attenuated egress token per intent, or the local journal) and the outbox dispatcher that
 * delivers to it (contract §7), its results counted and audited.
 *
 * @module
 */
import { join } from "node:path";
import { attenuateForLedger } from "../caps/egress.ts";
import type { Config } from "../config/config.ts";
import { readSecretFile } from "../keys/key_files.ts";
import type { AuditTrail } from "../observe/audit_trail.ts";
import { failureStreakLog, getLogger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import { createOutboxDispatcher, type OutboxDispatcher } from "../outbox/dispatcher.ts";
import type { FaultHook } from "../registry/build_registry.ts";
import type { RunRegistry } from "../registry/run_registry.ts";
import type { DownstreamClient } from "../sources/downstream_tls.ts";
import type { AtRestCipher } from "../store/at_rest_cipher.ts";
import type { RunStore } from "../store/run_store.ts";
import { createHttpLedgerTarget, ledgerIntentsPathOf } from "./http_ledger_target.ts";
import { openJournalLedgerTarget } from "./journal_ledger_target.ts";
import type { LedgerTarget } from "./ledger_target.ts";

/** Egress token lifetime for ledger intents (≤ 30 days, contract §9). */
export const LEDGER_TOKEN_TTL_MS = 24 * 3600 * 1000;
/** Outbox polling interval (ms). */
export const DISPATCH_INTERVAL_MS = 500;

/** Opens the ledger target and builds the dispatcher (not started: see `start`). */
export async function buildLedger(
  config: Pick<
    Config,
    | "ledgerUrl"
    | "ledgerTokenPath"
    | "downstreamConnectMs"
    | "downstreamAttemptMs"
    | "ledgerRetriesMax"
    | "store"
    | "dataDir"
  >,
  deps: {
    store: RunStore;
    cipher: AtRestCipher | undefined;
    registry: Pick<RunRegistry, "quarantineOnly">;
    downstream: Pick<DownstreamClient, "fetch">;
    metrics: Pick<Metrics, "recordLedgerIntent">;
    audit: Pick<AuditTrail, "decide">;
    nowMs: () => number;
    fault: FaultHook | undefined;
  },
): Promise<{ target: LedgerTarget; dispatcher: OutboxDispatcher }> {
  const { store, cipher, registry, downstream, metrics, audit, nowMs, fault } = deps;
  let target: LedgerTarget;
  if (config.ledgerUrl) {
    const ledgerToken = config.ledgerTokenPath
      ? new TextDecoder().decode(await readSecretFile(config.ledgerTokenPath)).trim()
      : undefined;
    const intentsPath = ledgerIntentsPathOf(config.ledgerUrl);
    target = createHttpLedgerTarget({
      ledgerUrl: config.ledgerUrl,
      connectTimeoutMs: config.downstreamConnectMs,
      fetch: downstream.fetch,
      tokenFor: (intent, tenant) =>
        Promise.resolve(
          ledgerToken === undefined ? undefined : attenuateForLedger(ledgerToken, {
            tenant,
            intentsPath,
            runKey: intent.runKey,
            intentKey: intent.intentKey,
            manifestHash: intent.manifestHash,
            nowMs: nowMs(),
            ttlMs: LEDGER_TOKEN_TTL_MS,
          }),
        ),
    });
  } else {
    target = await openJournalLedgerTarget(
      config.store === "memory" || !cipher
        ? {}
        : { path: join(config.dataDir, "settlement-journal.log"), cipher },
    );
  }
  const deliveryLoopLog = failureStreakLog(getLogger("service"), "outbox delivery loop");
  const dispatcher = createOutboxDispatcher({
    store,
    target,
    nowMs,
    paused: () => registry.quarantineOnly(),
    retriesMax: config.ledgerRetriesMax,
    attemptTimeoutMs: config.downstreamAttemptMs,
    onResult: (r) => {
      metrics.recordLedgerIntent(
        r.result === "accepted"
          ? "accepted"
          : r.result === "duplicate"
          ? "dup"
          : r.result === "conflict"
          ? "conflict"
          : "error",
      );
      if (r.result !== "retry_later") {
        // Off the request path: a failed line is counted and logged by the trail.
        void audit.decide({
          event: "intent_acknowledged",
          tenant: r.tenant,
          corr_id: "-",
          run_key: r.runKey,
          outcome: r.result,
        }).catch(() => {});
      }
    },
    onLoopError: (err) => deliveryLoopLog.failed(err),
    onLoopOk: () => deliveryLoopLog.succeeded(),
    ...(fault ? { faultHook: fault } : {}),
  });
  return { target, dispatcher };
}
