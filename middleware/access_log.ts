/**
 * One structured log line per service request (docs/RUNBOOK.md): route pattern (never the raw
 * path, which carries epoch ids and accounts), status, duration, tenant, corr_id, scope and
 * peer address. Probes (/healthz, /readyz, /metrics) are not logged.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Logger } from "@logtape/logtape";
import type { AppEnv } from "./context.ts";

/** Options of {@link accessLog}. */
export interface AccessLogOptions {
  logger: Logger;
  /** Monotonic clock in ms (injectable for tests). */
  nowMs?: () => number;
}

/** Creates the access-log middleware. */
export function accessLog(options: AccessLogOptions): MiddlewareHandler<AppEnv> {
  const nowMs = options.nowMs ?? (() => performance.now());
  return async function accessLogger(c, next) {
    const started = nowMs();
    try {
      await next();
    } finally {
      const auth = c.get("auth");
      const peer = c.env?.peer;
      options.logger.info("{method} {route} {status}", {
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
      });
    }
  };
}
