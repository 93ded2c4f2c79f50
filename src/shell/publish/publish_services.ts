/**
 * Wiring of the publisher (contract §13) for the service: with `PUBLISH_DIR` set (and not
 * `READ_ONLY`, which commits nothing), a {@link createPublisher} loop over the service's store
 * and signer, its metrics on the service's registry, its failures logged once per streak.
 *
 * Metrics (docs/RUNBOOK.md, "Publication"):
 * - `publication_lag_seconds`: age of the oldest committed envelope not yet published (0 when
 *   none), read from the store at each scrape;
 * - `publication_queue_entries`: entries waiting;
 * - `publication_failures_total`: entries (or `keys.json` writes) that failed and stay queued.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { Config } from "../config/config.ts";
import type { Signer } from "../keys/signer.ts";
import { parsePublishedKeys } from "../keys/key_files.ts";
import { failureStreakLog, getLogger } from "../observe/log.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { RunStore } from "../store/run_store.ts";
import { createPublisher, type Publisher } from "./publisher.ts";

/** What {@link startPublishing} answers: the publisher (undefined: not publishing) and close. */
export interface Publishing {
  publisher: Publisher | undefined;
  close(): Promise<void>;
}

/** What the publication metrics read at scrape time. */
export interface PublicationSource {
  lagMs(): Promise<number>;
  depth(): Promise<number>;
}

/**
 * Registers the publication metrics on `registry` (see the module's list); the gauges read
 * `source` at each scrape. Answers the failure counter's increment.
 */
export function createPublicationMetrics(
  registry: Registry,
  source: PublicationSource,
): { failed(): void } {
  const registers = [registry];
  const failures = new Counter({
    name: "publication_failures_total",
    help: "Publications (contract §13) that failed and stay queued, keys.json writes included.",
    registers,
  });
  new Gauge({
    name: "publication_lag_seconds",
    help: "Age of the oldest committed envelope not yet published under PUBLISH_DIR (0: none).",
    registers,
    async collect() {
      this.set((await source.lagMs().catch(() => 0)) / 1000);
    },
  });
  new Gauge({
    name: "publication_queue_entries",
    help: "Committed envelopes waiting to be published under PUBLISH_DIR.",
    registers,
    async collect() {
      this.set(await source.depth().catch(() => 0));
    },
  });
  return { failed: () => failures.inc() };
}

/** Starts publishing when the configuration asks for it. */
export function startPublishing(input: {
  config: Config;
  store: RunStore;
  signer: Signer;
  metrics: Metrics;
  nowMs: () => number;
}): Publishing {
  const { config, store, signer, metrics, nowMs } = input;
  if (config.publishDir === undefined || config.readOnly) {
    return { publisher: undefined, close: () => Promise.resolve() };
  }
  const loopLog = failureStreakLog(getLogger("service"), "publication");
  const publisher = createPublisher({
    store,
    root: config.publishDir,
    signingKeys: () => signer.active(),
    publishedKeys: () => parsePublishedKeys({ keys: signer.published() }),
    nowMs,
    onFailure: () => counted.failed(),
    onLoopError: (err) => loopLog.failed(err),
    onLoopOk: () => loopLog.succeeded(),
  });
  const counted = createPublicationMetrics(metrics.registry, {
    lagMs: () => publisher.lagMs(),
    depth: () => store.publicationStats().then((st) => st.depth),
  });
  publisher.start();
  return { publisher, close: () => publisher.stop() };
}
