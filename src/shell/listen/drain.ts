/**
 * Graceful shutdown plumbing shared by the runtime listeners: one idempotent `shutdown`, a
 * bounded drain, and SIGTERM/SIGINT handlers that drain then exit.
 *
 * @module
 */
import type { ListenLogger } from "./types.ts";

/** Signals that start a drain. A second signal during the drain exits at once. */
export const DRAIN_SIGNALS = ["SIGTERM", "SIGINT"] as const;
export type DrainSignal = (typeof DRAIN_SIGNALS)[number];

/** Exit status after a signal-initiated drain (0: an orderly stop, as orchestrators expect). */
export const EXIT_AFTER_DRAIN = 0;
/** Exit status when a second signal interrupts the drain (128 + SIGINT). */
export const EXIT_ON_SECOND_SIGNAL = 130;

/** Runtime hooks for signals and exit. */
export interface SignalHooks {
  add(signal: DrainSignal, handler: () => void): void;
  remove(signal: DrainSignal, handler: () => void): void;
  exit(code: number): void;
}

/** Resolve `true` if `work` settles within `ms`, `false` on timeout (the timer never leaks). */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Make `stop` idempotent and wire an AbortSignal and (optionally) process signals to it. */
export function wireShutdown(
  stop: () => Promise<void>,
  opts: { signal?: AbortSignal; handleSignals: boolean; hooks: SignalHooks; logger?: ListenLogger },
): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const handlers: Array<[DrainSignal, () => void]> = [];
  const unhook = () => {
    for (const [name, handler] of handlers) opts.hooks.remove(name, handler);
  };
  const shutdown = (): Promise<void> => {
    stopping ??= stop().finally(unhook);
    return stopping;
  };
  if (opts.handleSignals) {
    for (const name of DRAIN_SIGNALS) {
      const handler = () => {
        if (stopping !== undefined) opts.hooks.exit(EXIT_ON_SECOND_SIGNAL);
        opts.logger?.info("listener draining", { signal: name });
        shutdown().then(
          () => opts.hooks.exit(EXIT_AFTER_DRAIN),
          (error: unknown) => {
            opts.logger?.warn("listener shutdown failed", { error: String(error) });
            opts.hooks.exit(1);
          },
        );
      };
      handlers.push([name, handler]);
      opts.hooks.add(name, handler);
    }
  }
  if (opts.signal?.aborted) void shutdown();
  else opts.signal?.addEventListener("abort", () => void shutdown(), { once: true });
  return shutdown;
}
