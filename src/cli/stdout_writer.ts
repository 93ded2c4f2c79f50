/**
 * The CLI's stdout as an ordered queue of byte writes, each written in steps of at most
 * STDOUT_STEP_BYTES and awaited (Deno: `Deno.stdout.write`, which also waits out a
 * non-blocking pipe that is full; Node and Bun: `process.stdout.write`, waiting for `drain`
 * when it says its buffer is full). A slow or late reader at the end of a pipe is waited for,
 * never spun on, and the process holds no second copy of a large output. `flush()` resolves
 * once everything queued is written; it rejects with the first write error (e.g. a closed
 * pipe), after which later writes are dropped.
 *
 * @module
 */
import process from "node:process";

/** Largest single write (bytes). */
export const STDOUT_STEP_BYTES = 1024 * 1024;

/** Where the bytes go: one write of at most STDOUT_STEP_BYTES, resolving once accepted. */
export type WriteStep = (bytes: Uint8Array) => Promise<void>;

/** An ordered writer: `write` queues, `flush` waits for the queue. */
export interface QueuedWriter {
  write(bytes: Uint8Array): void;
  flush(): Promise<void>;
}

/** A queue over `step` (tests pass their own; the CLI passes {@link processStdoutStep}). */
export function queuedWriter(step: WriteStep): QueuedWriter {
  let tail: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | null = null;
  return {
    write(bytes) {
      tail = tail.then(async () => {
        if (failure !== null) return;
        try {
          for (let at = 0; at < bytes.length; at += STDOUT_STEP_BYTES) {
            await step(bytes.subarray(at, Math.min(bytes.length, at + STDOUT_STEP_BYTES)));
          }
        } catch (error) {
          failure = { error };
        }
      });
    },
    async flush() {
      await tail;
      if (failure !== null) throw failure.error;
    },
  };
}

interface DenoStdout {
  stdout: { write(bytes: Uint8Array): Promise<number> };
}

/** One step to the process's stdout on the runtime at hand. */
export function processStdoutStep(): WriteStep {
  const deno = (globalThis as { Deno?: DenoStdout }).Deno;
  if (deno !== undefined) {
    return async (bytes) => {
      for (let at = 0; at < bytes.length;) at += await deno.stdout.write(bytes.subarray(at));
    };
  }
  return (bytes) =>
    new Promise<void>((resolve, reject) => {
      const onError = (error: unknown) => reject(error);
      process.stdout.once("error", onError);
      const done = () => {
        process.stdout.off("error", onError);
        resolve();
      };
      if (process.stdout.write(bytes)) done();
      else process.stdout.once("drain", done);
    });
}
