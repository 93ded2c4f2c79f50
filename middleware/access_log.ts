/**
 * One structured log line per service request (docs/RUNBOOK.md): route pattern (never the raw
 * path, which carries epoch ids and accounts), status, duration, tenant, corr_id, scope and
 * peer address. Probes (/healthz, /readyz, /metrics) are not logged.
 *
 * With a `buffer` (src/shell/observe/line_buffer.ts: the service's), the request only appends
 * its record; formatting, redaction and the write happen in batches off the request path, and
 * a full buffer drops the line (counted in `access_log_dropped_total`) rather than wait.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Logger, LogRecord } from "@logtape/logtape";
import type { AppEnv } from "./context.ts";
import type { LineBuffer } from "../src/shell/observe/line_buffer.ts";

/** Options of {@link accessLog}. */
export interface AccessLogOptions {
  /** Writes each line at once when there is no `buffer`; its category names the buffered ones. */
  logger: Logger;
  /** Batches the lines (the service's access log buffer); none: one logger call per request. */
  buffer?: LineBuffer<LogRecord> | undefined;
  /** Monotonic clock in ms (injectable for tests). */
  nowMs?: () => number;
}

const MESSAGE = "{method} {route} {status}";

/** Creates the access-log middleware. */
export function accessLog(options: AccessLogOptions): MiddlewareHandler<AppEnv> {
  const nowMs = options.nowMs ?? (() => performance.now());
  const { buffer, logger } = options;
  return async function accessLogger(c, next) {
    const started = nowMs();
    try {
      await next();
    } finally {
      const auth = c.get("auth");
      const peer = c.env?.peer;
      const properties = {
        method: c.req.method,
        route: c.req.routePath,
        status: c.res.status,
        duration_ms: Math.round(nowMs() - started),
        tenant: auth?.tenant ?? null,
        corr_id: c.get("corrId") ?? null,
        scope: auth ? auth.scopes.join(",") : null,
        peer_addr: peer === undefined
          ? null
          : peer.transport === "unix"
          ? "unix"
          : peer.address ?? null,
      };
      if (buffer === undefined) logger.info(MESSAGE, properties);
      else {
        buffer.push({
          category: logger.category,
          level: "info",
          message: [MESSAGE],
          rawMessage: MESSAGE,
          timestamp: Date.now(),
          properties,
        });
      }
    }
  };
}
