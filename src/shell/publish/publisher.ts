/**
 * The publisher (contract §13): drains the store's publication queue into `PUBLISH_DIR`,
 * asynchronously, off the request path — a compute answers once its commit (with the queue
 * entry, one atomic step) is durable, and a slow or failing disk here never slows it.
 *
 * One tick: `keys.json` when the key set changed, then at most {@link PUBLISH_BATCH_MAX}
 * entries, oldest first; for each, the object then the signed pointer, each written atomically
 * (publication_writer.ts), and only then the entry is removed. A crash at any point leaves the
 * entry, so the next process publishes it again (the files it finds with the same bytes are
 * skipped). A failed entry stays queued and the loop backs off (doubling from
 * {@link PUBLISH_BACKOFF_BASE_MS} to {@link PUBLISH_BACKOFF_CAP_MS}); a full batch is followed
 * by the next at once.
 *
 * @module
 */
import type { SigningKey, VerifyKey } from "../../core/seal.ts";
import type { PublicationEntry, RunStore } from "../store/run_store.ts";
import { publishEnvelope, writeKeysFile } from "./publication_writer.ts";

/** Polling interval of an idle publisher, ms. */
export const PUBLISH_INTERVAL_MS = 500;
/** Entries one tick publishes at most (bounds a tick's disk work and memory). */
export const PUBLISH_BATCH_MAX = 16;
/** First delay after a failed tick, ms; doubled per consecutive failure. */
export const PUBLISH_BACKOFF_BASE_MS = 1_000;
/** Longest delay between ticks while failing, ms. */
export const PUBLISH_BACKOFF_CAP_MS = 60_000;
/** Bound on the doubling exponent (2^16 × base is past the cap already). */
const BACKOFF_EXPONENT_MAX = 16;

/** Options of {@link createPublisher}. */
export interface PublisherOptions {
  store: RunStore;
  /** PUBLISH_DIR. */
  root: string;
  /** The keys that sign pointers now (the manifest signing keys). */
  signingKeys: () => readonly SigningKey[];
  /** The published keys now (`GET /rewarder/keys`): `keys.json`. */
  publishedKeys: () => readonly VerifyKey[];
  nowMs: () => number;
  batchMax?: number;
  /** An entry whose files are durable (its queue entry removed). */
  onPublished?: (entry: PublicationEntry) => void;
  /** An entry (or `keys.json`: undefined) that failed; an entry stays queued. */
  onFailure?: (entry: PublicationEntry | undefined, err: unknown) => void;
  /** A tick failed (one error line per failure streak). */
  onLoopError?: (err: unknown) => void;
  /** A tick completed (ends a failure streak). */
  onLoopOk?: () => void;
}

/** The running publisher. */
export interface Publisher {
  /** One tick: answers how many entries were published. Throws when any entry failed. */
  tick(): Promise<number>;
  start(intervalMs?: number): void;
  /** Stops the loop after the tick in progress. */
  stop(): Promise<void>;
  /** Age of the oldest queued entry, ms (0 when none). */
  lagMs(): Promise<number>;
}

interface LoopState {
  timer: ReturnType<typeof setTimeout> | undefined;
  running: Promise<unknown>;
}

/** Creates a publisher; {@link Publisher.start} runs its loop. */
export function createPublisher(o: PublisherOptions): Publisher {
  const batchMax = o.batchMax ?? PUBLISH_BATCH_MAX;
  let keysWritten: string | undefined;
  let loop: LoopState | undefined;

  async function publishKeys(): Promise<void> {
    const keys = o.publishedKeys();
    const tag = JSON.stringify(keys.map((k) => [k.kid, k.alg, k.status]));
    if (tag === keysWritten) return;
    await writeKeysFile(o.root, keys);
    keysWritten = tag;
  }

  async function publishOne(entry: PublicationEntry): Promise<void> {
    const run = await o.store.getRun(entry.tenant, entry.runKey);
    if (run === undefined) {
      throw new Error(`Cannot publish epoch ${entry.epochId}: its committed run is not readable`);
    }
    await publishEnvelope(entry.tenant, run.envelope, {
      root: o.root,
      signingKeys: o.signingKeys(),
      keys: o.publishedKeys(),
      onDiffer: "replace",
    });
    // Only now: the object and the pointer are durable (written, fsynced, renamed, dir synced).
    await o.store.removePublication(entry.tenant, entry.runKey);
  }

  async function tick(): Promise<number> {
    try {
      await publishKeys();
    } catch (err) {
      o.onFailure?.(undefined, err);
      throw err;
    }
    const batch = await o.store.pendingPublications(batchMax);
    let published = 0;
    let firstError: unknown;
    for (const entry of batch) {
      try {
        await publishOne(entry);
        published += 1;
        o.onPublished?.(entry);
      } catch (err) {
        o.onFailure?.(entry, err);
        firstError ??= err;
      }
    }
    if (firstError !== undefined) throw firstError;
    return published;
  }

  return {
    tick,
    start(intervalMs = PUBLISH_INTERVAL_MS) {
      if (loop !== undefined) return;
      const state: LoopState = { timer: undefined, running: Promise.resolve() };
      loop = state;
      let failures = 0;
      const schedule = (delayMs: number) => {
        state.timer = setTimeout(() => {
          state.running = tick().then((n) => {
            failures = 0;
            o.onLoopOk?.();
            return n >= batchMax ? 0 : intervalMs; // a full batch: more may be waiting
          }, (err) => {
            failures += 1;
            o.onLoopError?.(err);
            const exponent = Math.min(failures - 1, BACKOFF_EXPONENT_MAX);
            return Math.min(PUBLISH_BACKOFF_CAP_MS, PUBLISH_BACKOFF_BASE_MS * 2 ** exponent);
          }).then((next) => {
            if (loop === state) schedule(next);
          });
        }, delayMs);
      };
      schedule(0);
    },
    async stop() {
      const state = loop;
      loop = undefined;
      if (state === undefined) return;
      clearTimeout(state.timer);
      await state.running;
    },
    async lagMs() {
      const { oldestEnqueuedAtMs } = await o.store.publicationStats();
      return oldestEnqueuedAtMs === undefined ? 0 : Math.max(0, o.nowMs() - oldestEnqueuedAtMs);
    },
  };
}
