/**
 * The composition root: builds the real components from the configuration, one builder per
 * concern, in this order — observability (metrics, audit), keys, store, the downstream
 * client, registry, ledger target and outbox dispatcher, dependency probes, sources, engine,
 * tracing and admission — then starts the background work (delivery, publication,
 * housekeeping). `close()` stops it in reverse order.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { buildAdmission } from "./admission/build.ts";
import type { AppServices } from "./app_services.ts";
import type { Config } from "./config/config.ts";
import { buildEngine } from "./engine/build_engine.ts";
import { verifiedTokenCacheFor } from "./caps/verified_tokens.ts";
import { createAccessLogBuffer } from "./observe/line_buffer.ts";
import { buildKeys, type KeyPaths } from "./keys/build_keys.ts";
import { buildLedger, DISPATCH_INTERVAL_MS } from "./ledger/build_ledger.ts";
import { buildObserve, readinessCausesOf } from "./observe/build_observe.ts";
import { startDependencyProbes } from "./observe/probes_wiring.ts";
import { createTracing } from "./observe/tracing.ts";
import type { OutboxDispatcher } from "./outbox/dispatcher.ts";
import { startPublishing } from "./publish/publish_services.ts";
import { buildRegistry, faultHook } from "./registry/build_registry.ts";
import { startHousekeeping } from "./registry/housekeeping.ts";
import { buildSources } from "./sources/build_sources.ts";
import { openDownstreamClient } from "./sources/downstream_tls.ts";
import { buildStore } from "./store/build_store.ts";

export type { KeyPaths } from "./keys/build_keys.ts";

/** Builds every component; `close()` stops the background work. */
export async function buildServices(
  config: Config,
  paths: KeyPaths,
  options: { version: string; env: Record<string, string | undefined>; nowMs?: () => number },
): Promise<{ services: AppServices; dispatcher: OutboxDispatcher; close: () => Promise<void> }> {
  const nowMs = options.nowMs ?? Date.now;
  const { metrics, audit } = await buildObserve(config, nowMs);
  const { keyRing, stopKeyTimer, edgeJwt, gov, signer } = await buildKeys(config, paths, {
    audit,
    nowMs,
  });
  const { store, cipher } = await buildStore(config, paths, nowMs);
  const fault = faultHook(config.testCrashAt, config.production);
  // DOWNSTREAM_TLS (contract §12): one client for the ledger, inputs and policy downstreams.
  const downstream = await openDownstreamClient(config);
  const registry = await buildRegistry(config, { store, metrics, nowMs, fault });
  const { dispatcher } = await buildLedger(config, {
    store,
    cipher,
    registry,
    downstream,
    metrics,
    audit,
    nowMs,
    fault,
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
    ...buildSources(config, { gov, downstream, nowMs }),
    signer,
    engine: buildEngine(config, metrics.registry),
    metrics,
    tracing: createTracing({ version: options.version }),
    // Instance, tenant and anonymous peer buckets; the pre-auth budget (docs/ARCHITECTURE.md).
    ...buildAdmission(config, metrics.registry),
    // The request path's own state (docs/ARCHITECTURE.md, "Caches"): verified tokens, emptied
    // when the caps key ring changes, and the access log's bounded buffer.
    tokenCache: verifiedTokenCacheFor(keyRing, { metrics: metrics.registry }),
    accessLog: createAccessLogBuffer({ metrics: metrics.registry }),
    audit,
    readinessCauses: readinessCausesOf({ audit, dispatcher, probes, store, metrics }),
    version: options.version,
  };
  if (!config.readOnly) dispatcher.start(DISPATCH_INTERVAL_MS);
  const publishing = startPublishing({ config, store, signer, metrics, nowMs }); // §13
  const stopHousekeeping = startHousekeeping(config, { store, registry, audit, nowMs });
  return {
    services,
    dispatcher,
    close: async () => {
      services.accessLog?.close(); // the lines still buffered (the listener has drained)
      stopHousekeeping();
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
