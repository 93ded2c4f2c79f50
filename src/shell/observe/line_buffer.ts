/**
 * A bounded buffer between a request and a writer (the access log, docs/RUNBOOK.md): `push`
 * appends an item and returns at once; a timer flushes what is buffered to `write` in one call,
 * off the request path; when the buffer is full the item is dropped and counted (a slow
 * writer costs lines, never a request's time or unbounded memory). `close` flushes what is
 * left (the service's shutdown, after the listener drained).
 *
 * @module
 */
import type { LogRecord } from "@logtape/logtape";
import { Counter, type Registry } from "prom-client";
import { getLogger, writeRecords } from "./log.ts";

/** Items buffered at most by default: ~5 s of lines at 1,500 requests/s, ~3 MiB of records. */
export const LINE_BUFFER_ITEMS_MAX = 8_192;
/** Delay between the first buffered item and its flush (ms): lines are batched over it. */
export const LINE_BUFFER_FLUSH_MS = 50;

/** What {@link createLineBuffer} answers. */
export interface LineBuffer<T> {
  /** Buffers `item` (true), or drops and counts it when the buffer is full (false). */
  push(item: T): boolean;
  /** Writes what is buffered now, in order, in one `write` call. */
  flush(): void;
  /** Flushes and stops the timer; later pushes are written at once, one by one. */
  close(): void;
  stats(): { buffered: number; written: number; dropped: number; itemsMax: number };
}

/** Options of {@link createLineBuffer}. */
export interface LineBufferOptions<T> {
  /** Writes a batch (in push order); a throw loses that batch and is counted by `onError`. */
  write: (items: T[]) => void;
  /** Items kept at most (default {@link LINE_BUFFER_ITEMS_MAX}). */
  itemsMax?: number;
  /**
   * Arms the flush (default: an unref'd `setTimeout` of {@link LINE_BUFFER_FLUSH_MS}); tests
   * inject their own to decide when flushes happen.
   */
  schedule?: (flush: () => void) => void;
  /** A failed write (the batch is lost: the writer is the one place lines go). */
  onError?: (err: unknown) => void;
}

function defaultSchedule(flush: () => void): void {
  const timer = setTimeout(flush, LINE_BUFFER_FLUSH_MS);
  (timer as unknown as { unref?: () => void }).unref?.();
}

/** Creates an empty buffer. */
export function createLineBuffer<T>(options: LineBufferOptions<T>): LineBuffer<T> {
  const itemsMax = options.itemsMax ?? LINE_BUFFER_ITEMS_MAX;
  if (!Number.isInteger(itemsMax) || itemsMax < 1) {
    throw new RangeError(`Cannot create line buffer as itemsMax is ${itemsMax}: must be ≥ 1`);
  }
  const schedule = options.schedule ?? defaultSchedule;
  let items: T[] = [];
  let armed = false;
  let closed = false;
  let written = 0;
  let dropped = 0;
  const writeBatch = (batch: T[]) => {
    try {
      options.write(batch);
      written += batch.length;
    } catch (err) {
      options.onError?.(err);
    }
  };
  const flush = () => {
    armed = false;
    if (items.length === 0) return;
    const batch = items;
    items = [];
    writeBatch(batch);
  };
  return {
    push(item) {
      if (closed) {
        writeBatch([item]);
        return true;
      }
      if (items.length >= itemsMax) {
        dropped += 1;
        return false;
      }
      items.push(item);
      if (!armed) {
        armed = true;
        schedule(flush);
      }
      return true;
    },
    flush,
    close() {
      closed = true;
      flush();
    },
    stats: () => ({ buffered: items.length, written, dropped, itemsMax }),
  };
}

/** The access log's buffer: records formatted (and redacted) and written at flush. */
export type AccessLogBuffer = LineBuffer<LogRecord>;

/**
 * The service's access log buffer: log records written through the configured log sink at
 * flush (one write per batch on stdout); `access_log_dropped_total` (read at scrape time)
 * counts the lines dropped on a full buffer.
 */
export function createAccessLogBuffer(
  options: { metrics?: Registry } & Pick<LineBufferOptions<LogRecord>, "itemsMax" | "schedule"> =
    {},
): AccessLogBuffer {
  let failedOnce = false;
  const buffer = createLineBuffer<LogRecord>({
    write: (records) => void writeRecords(records),
    ...(options.itemsMax === undefined ? {} : { itemsMax: options.itemsMax }),
    ...(options.schedule === undefined ? {} : { schedule: options.schedule }),
    onError: (err) => {
      if (failedOnce) return; // one line, not one per batch, while stdout is broken
      failedOnce = true;
      getLogger("access").error("access log write failed", {
        reason: String((err as { message?: unknown })?.message ?? err),
      });
    },
  });
  if (options.metrics !== undefined) {
    new Counter({
      name: "access_log_dropped_total",
      help: "Access log lines dropped because the buffer was full (docs/RUNBOOK.md).",
      registers: [options.metrics],
      collect() {
        this.reset();
        this.inc(buffer.stats().dropped);
      },
    });
  }
  return buffer;
}
