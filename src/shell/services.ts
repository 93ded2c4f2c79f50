/**
 * Builds the real components from the configuration (the imperative shell's wiring): key
 * rings, store, registry, ledger target, outbox dispatcher, sources, signer, engine runner,
 * metrics and audit sink.
 *
 * @module
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { buildAdmission } from "./admission/build.ts";
import type { AppServices } from "./app_services.ts";
import { createStdoutAuditSink, openFileAuditSink } from "./observe/audit.ts";
import { createAuditTrail } from "./observe/audit_trail.ts";
import { edgeJwtVerifier, loadEdgeJwtConfig } from "./caps/edge_jwt.ts";
import { attenuateForLedger } from "./caps/egress.ts";
import { openKeyRing } from "./caps/key_file.ts";
import { type Config } from "./config/config.ts";
import { createEngineMetrics } from "./engine/engine_metrics.ts";
import { createEngineRunner } from "./engine/engine_runner.ts";
import { parseGovernanceKeys, readPublicJson, readSecretFile } from "./keys/key_files.ts";
import { createHttpLedgerTarget, ledgerIntentsPathOf } from "./ledger/http_ledger_target.ts";
import { openJournalLedgerTarget } from "./ledger/journal_ledger_target.ts";
import type { LedgerTarget } from "./ledger/ledger_target.ts";
import { failureStreakLog, getLogger } from "./observe/log.ts";
import { createCacheMetrics } from "./observe/cache_metrics.ts";
import { createMetrics } from "./observe/metrics.ts";
import { startDependencyProbes } from "./observe/probes_wiring.ts";
import { createTracing } from "./observe/tracing.ts";
import { startPublishing } from "./publish/publish_services.ts";
import { openDownstreamClient } from "./sources/downstream_tls.ts";
import { createOutboxDispatcher, type OutboxDispatcher } from "./outbox/dispatcher.ts";
import { directoryPolicyRegistry, httpPolicyRegistry } from "./sources/policy_registry.ts";
import { createRunRegistry } from "./registry/run_registry.ts";
import { loadSigner } from "./keys/signer.ts";
import { httpInputsSource, localInputsSource } from "./sources/sources.ts";
import { createAtRestCipher, readAtRestKey } from "./store/at_rest_cipher.ts";
import { openFileRunStore } from "./store/file_run_store.ts";
import { assertNoRotationInProgress } from "./store/rekey.ts";
import { createRetentionSweep } from "./store/retention_sweep.ts";
import { createMemoryRunStore } from "./store/memory_run_store.ts";
import { openPostgresRunStore, outboxLeaseMsFor } from "./store/postgres_run_store.ts";
import type { RunStore } from "./store/run_store.ts";

/** Egress token lifetime for ledger intents (≤ 30 days, contract §9). */
export const LEDGER_TOKEN_TTL_MS = 24 * 3600 * 1000;
/** Outbox polling interval (ms). */
export const DISPATCH_INTERVAL_MS = 500;
/** Housekeeping tick (ms): re-read the shared quarantine-only flag, run due sweeps. */
export const HOUSEKEEPING_INTERVAL_MS = 5_000;
/** Retention sweep interval (ms) once a sweep found nothing more to purge. */
export const RETENTION_SWEEP_INTERVAL_MS = 3_600_000;

/** Resolved key paths (from config, or from the development bootstrap). */
export interface KeyPaths {
  capsKeysPath: string;
  signingKeysDir: string;
  govKeysPath: string;
  atRestKeyPath: string | undefined;
}

/** Crash points of the test-only fault hook (registry and dispatcher steps). */
const CRASH_STEPS = ["after_run_write", "after_commit", "after_send", "after_ack"];
/** Largest occurrence count accepted in `REWARDER_TEST_CRASH_AT=<step>#<n>`. */
const CRASH_OCCURRENCE_MAX = 999;

/**
 * Test-only crash points, enabled by REWARDER_TEST_CRASH_AT=<step> or <step>#<n> (exit 137 at
 * the n-th time the step is reached, default the first; like SIGKILL: no cleanup). Ignored
 * with PRODUCTION=on; an unknown step refuses to start (a typo must not silently never crash).
 */
function faultHook(spec: string | undefined, production: boolean) {
  if (!spec || production) return undefined;
  const m = /^([a-z_]{1,32})(?:#([1-9][0-9]{0,2}))?$/.exec(spec);
  if (m === null || !CRASH_STEPS.includes(m[1]!)) {
    throw new Error(
      `Cannot use REWARDER_TEST_CRASH_AT: expected <step>[#<n>], step one of ${
        CRASH_STEPS.join("|")
      }`,
    );
  }
  const step = m[1]!;
  let left = Math.min(Number(m[2] ?? "1"), CRASH_OCCURRENCE_MAX);
  return (at: string) => {
    if (at === step && --left === 0) {
      // deno-lint-ignore no-explicit-any
      (globalThis as any).process?.exit?.(137);
    }
  };
}

/** Builds every component; `close()` stops the background work. */
export async function buildServices(
  config: Config,
  paths: KeyPaths,
  options: { version: string; env: Record<string, string | undefined>; nowMs?: () => number },
): Promise<{ services: AppServices; dispatcher: OutboxDispatcher; close: () => Promise<void> }> {
  const nowMs = options.nowMs ?? Date.now;
  const log = getLogger("service");
  const metrics = createMetrics();
  metrics.setInflightMax(config.inflightMax);
  const fileAudit = !(config.amnesia || config.store === "memory");
  // The audit file lives in DATA_DIR whatever the store (with STORE=postgres nothing else
  // may have created the directory).
  if (fileAudit) await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const auditWriteLog = failureStreakLog(log, "audit write");
  // Decisions are awaited and fail closed; rejected tokens and replays are counted per minute
  // (docs/RUNBOOK.md, "Audit log").
  const audit = createAuditTrail({
    sink: fileAudit
      ? await openFileAuditSink({ path: join(config.dataDir, "audit.jsonl"), nowMs })
      : createStdoutAuditSink({ nowMs }),
    nowMs,
    metrics,
    onWriteFailure: (err) => auditWriteLog.failed(err),
  });
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

  let store: RunStore;
  let cipher;
  if (config.store === "memory") {
    store = createMemoryRunStore();
  } else if (config.store === "file") {
    if (!paths.atRestKeyPath) {
      throw new Error("Cannot open the file store: no at-rest key (AT_REST_KEY_PATH)");
    }
    cipher = createAtRestCipher(await readAtRestKey(paths.atRestKeyPath));
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    // A half-done at-rest key rotation must be finished first (rotate-at-rest-key resumes).
    await assertNoRotationInProgress(config.dataDir);
    store = await openFileRunStore({ dataDir: config.dataDir, cipher, nowMs });
  } else {
    // STORE=postgres: several instances share one database; see docs/SCALE-OUT.md.
    if (!paths.atRestKeyPath || config.databaseUrl === undefined) {
      throw new Error("Cannot open the postgres store: needs DATABASE_URL and AT_REST_KEY_PATH");
    }
    cipher = createAtRestCipher(await readAtRestKey(paths.atRestKeyPath));
    store = await openPostgresRunStore({
      databaseUrl: config.databaseUrl,
      cipher,
      leaseMs: outboxLeaseMsFor({
        retriesMax: config.ledgerRetriesMax,
        attemptTimeoutMs: config.downstreamAttemptMs,
      }),
    });
    if (!config.ledgerUrl) {
      log.warn("STORE=postgres without LEDGER_URL: each instance settles into its own journal");
    }
  }

  const fault = faultHook(config.testCrashAt, config.production);
  // DOWNSTREAM_TLS (contract §12): one client for the ledger, inputs and policy downstreams.
  const downstream = await openDownstreamClient(config);
  const registry = await createRunRegistry({
    store,
    nowMs,
    quarantineOnly: config.quarantineOnly,
    ...(fault ? { faultHook: fault } : {}),
  });
  createCacheMetrics(metrics.registry, registry.caches); // docs/ARCHITECTURE.md, "Caches"

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
  const deliveryLoopLog = failureStreakLog(log, "outbox delivery loop");
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

  // Readiness that proves the ledger, an http(s) inputs source and PostgreSQL (contract §10).
  const probes = await startDependencyProbes(config, metrics.registry);
  const services: AppServices = {
    config,
    nowMs,
    keyRing,
    ...(edgeJwt === undefined ? {} : { edgeJwtVerifier: edgeJwt }),
    registry,
    store,
    policies: config.policySource.kind === "http"
      ? httpPolicyRegistry(config.policySource.baseUrl, () => gov, {
        attemptMs: config.downstreamAttemptMs,
        fetch: downstream.fetch,
      })
      : directoryPolicyRegistry(config.policyDir, () => gov, {
        nowMs,
        onBadFile: (file, reason) => log.warn("policy file refused", { file, reason }),
      }),
    inputs: config.inputsSource.kind === "http"
      ? httpInputsSource(config.inputsSource.baseUrl, {
        attemptMs: config.downstreamAttemptMs,
        fetch: downstream.fetch,
      })
      : localInputsSource(config.dataDir),
    signer,
    engine: createEngineRunner({
      workersMax: config.engineWorkers,
      observer: createEngineMetrics(metrics.registry),
    }),
    metrics,
    tracing: createTracing({ version: options.version }),
    // Instance, tenant and anonymous peer buckets; the pre-auth budget (docs/ARCHITECTURE.md).
    ...buildAdmission(config, metrics.registry),
    audit,
    readinessCauses: async () => {
      const causes: string[] = [];
      if (audit.status() !== "ok") causes.push("audit");
      if (dispatcher.breakerOpen() || probes.outage()) causes.push("dep_outage");
      if ((await store.health()) !== "ok") causes.push("store");
      const ageMs = await dispatcher.oldestPendingAgeMs();
      metrics.setOutbox(await dispatcher.depth(), ageMs / 1000);
      return causes;
    },
    version: options.version,
  };
  if (!config.readOnly) dispatcher.start(DISPATCH_INTERVAL_MS);
  const publishing = startPublishing({ config, store, signer, metrics, nowMs }); // §13
  const sweep = createRetentionSweep({ store, nowMs, retentionDays: config.retentionDays });
  let sweepDueMs = nowMs();
  const flagLog = failureStreakLog(log, "quarantine-only flag refresh");
  const sweepLog = failureStreakLog(log, "retention sweep");
  const housekeeping = setInterval(() => {
    audit.tick(); // summary lines of a minute that has ended
    registry.refreshQuarantineOnly().then(() => flagLog.succeeded(), (err) => flagLog.failed(err));
    if (config.readOnly || nowMs() < sweepDueMs) return;
    sweepDueMs = nowMs() + RETENTION_SWEEP_INTERVAL_MS;
    sweep().then((report) => {
      sweepLog.succeeded();
      if (report.more) sweepDueMs = nowMs(); // bounded batches: continue next tick
    }, (err) => sweepLog.failed(err));
  }, HOUSEKEEPING_INTERVAL_MS);
  return {
    services,
    dispatcher,
    close: async () => {
      clearInterval(housekeeping);
      stopKeyTimer();
      signer.wipe();
      await dispatcher.stop();
      await probes.stop();
      await publishing.close();
      services.engine.close();
      await audit.close(); // the open minute's summaries, then the sink
      await store.close();
      downstream.close();
    },
  };
}

/** Reads the package version (for /version). */
export async function packageVersion(root: URL): Promise<string> {
  try {
    return JSON.parse(await readFile(new URL("package.json", root), "utf8")).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}
