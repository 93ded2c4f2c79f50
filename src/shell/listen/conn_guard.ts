/**
 * Connection guard for Deno's HTTP server: the accept loop is ours, each accepted connection
 * is handed to Deno's own HTTP engine (the hyper server behind `Deno.serve`) with an
 * AbortSignal of its own, so a connection can be closed from here while requests are served
 * at `Deno.serve`'s speed (docs/RUNTIMES.md "Slow clients"; figures in docs/RESULTS.md
 * "Listener"). `Deno.serve` itself has no header or idle timeout.
 *
 * Each connection is in one of two states, known from the handler alone (no byte is read
 * here):
 * - **no request in progress**: a timer runs. A fresh connection must have its first request's
 *   headers parsed (the handler called) within `headerDeadlineMs` of the accept, TLS handshake
 *   included; after a response is sent, the next request's headers must be parsed within
 *   `keepAliveIdleMs`, which also bounds an idle kept-alive connection. When the timer fires
 *   the connection is closed (`header_deadline` or `keepalive_idle`).
 * - **requests in progress** (handler called, response not yet fully sent): no timer here;
 *   the app's own deadlines (REQUEST_TIMEOUT_MS, the body cap's read timeout) apply.
 *
 * Deno 2 has no public API that serves HTTP on an accepted connection (Deno.serveHttp is
 * gone), so this uses `serveHttpOnConnection` from `Deno[Deno.internal]`, the function
 * `Deno.serve`'s own listener loop is built like. It is detected at start
 * ({@link connectionServer}); where it is missing the caller falls back to the node:http
 * engine, which has its own timeouts (listen.ts). tests/slow_headers_test.ts pins the
 * behaviour on the Deno this project runs.
 *
 * @module
 */
import type { ListenLogger } from "./types.ts";

/** Why the guard closed a connection. */
export type GuardCloseReason = "header_deadline" | "keepalive_idle" | "connections_max" | "drain";

/** The limits the guard enforces (units in the names). */
export interface GuardLimits {
  headerDeadlineMs: number;
  keepAliveIdleMs: number;
  /** Open connections at once; a connection accepted above it is closed at once. */
  connectionsMax: number;
}

/** What the guard hands the app for each request: the request and its accepted connection. */
export type GuardedHandler = (
  request: Request,
  conn: Deno.Conn,
) => Response | Promise<Response>;

/** Deno's internal `serveHttpOnConnection(conn, signal, handler, onError, onListen)`. */
type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>,
  onError: (error: unknown) => Response | Promise<Response>,
  onListen: (scheme: unknown) => void,
) => Deno.HttpServer;

/** After a failed accept (e.g. EMFILE at the descriptor limit) wait this before the next, ms. */
export const ACCEPT_RETRY_MS = 100;

/**
 * Deno's per-connection HTTP server, or undefined where this Deno does not offer it.
 */
export function connectionServer(): ServeOnConnection | undefined {
  const deno = (globalThis as { Deno?: Record<PropertyKey, unknown> }).Deno;
  const key = deno?.internal;
  if (deno === undefined || (typeof key !== "symbol" && typeof key !== "string")) {
    return undefined;
  }
  const internals = deno[key] as Record<string, unknown> | undefined;
  const serveOn = internals?.serveHttpOnConnection;
  return typeof serveOn === "function" ? serveOn as ServeOnConnection : undefined;
}

/** A running guarded server. */
export interface GuardedServer {
  /** Stop accepting, cut connections with no request in progress, let the others finish
   * their responses; resolves `true` when every connection closed within `drainMs`, `false`
   * past it (those left are ended by the process's exit). */
  shutdown(drainMs: number): Promise<boolean>;
  /** Settles once the accept loop has ended and every connection is closed. */
  finished: Promise<void>;
  /** Connections open now (TLS handshakes under way included). */
  openConnections(): number;
}

interface Tracked {
  abort: AbortController;
  server: Deno.HttpServer;
  inFlight: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** performance.now() since when no request has been in progress (accept, or last response). */
  idleSince: number;
  /** How long it may stay so: the header deadline, then the keep-alive idle bound, ms. */
  idleLimitMs: number;
  idleReason: GuardCloseReason;
  /** performance.now() of the last response sent; undefined before the first. */
  lastSentAt: number | undefined;
  /** Deno's graceful shutdown was asked for: the connection can no longer be aborted. */
  graceful: boolean;
}

/** A response reported sent may still sit in the engine's write buffer this long; a drain
 * closes such a connection gracefully instead of cutting it, ms. */
export const FLUSH_GRACE_MS = 250;

/** Response when the app's handler throws past Hono (never a stack or request data). */
function internalError(): Response {
  return new Response("Internal Server Error", { status: 500 });
}

/**
 * True while the guard aborts one connection's server. Deno closes the connection's resource in
 * an abort listener; when the peer closed it at the same instant, that listener throws
 * BadResource, and an exception thrown in an event listener is reported as uncaught (it is not
 * thrown to `abort()`'s caller), which would end the process. The hook below swallows exactly
 * that error, raised synchronously during the guard's own abort, and nothing else.
 */
let abortingConnection = false;
let abortErrorHookInstalled = false;

function installAbortErrorHook(): void {
  if (abortErrorHookInstalled) return;
  abortErrorHookInstalled = true;
  globalThis.addEventListener("error", (event) => {
    if (abortingConnection && event.error instanceof Deno.errors.BadResource) {
      event.preventDefault(); // the connection is gone already: what the abort wanted
    }
  });
}

/**
 * Accept connections on `listener` and serve each through Deno's HTTP engine under the guard.
 * @param onClose called once per connection the guard closes, with the reason (for metrics).
 */
export function serveGuarded(
  serveOn: ServeOnConnection,
  listener: Deno.Listener,
  handler: GuardedHandler,
  limits: GuardLimits,
  hooks: { logger?: ListenLogger; onClose?: (reason: GuardCloseReason) => void } = {},
): GuardedServer {
  installAbortErrorHook();
  const open = new Set<Tracked>();
  let draining = false;
  let noneOpen: (() => void) | undefined;

  const close = (t: Tracked, reason: GuardCloseReason) => {
    // After a graceful shutdown Deno's server resource is gone: aborting would throw.
    if (t.abort.signal.aborted || t.graceful) return;
    if (t.timer !== undefined) clearTimeout(t.timer);
    t.timer = undefined;
    hooks.onClose?.(reason);
    abortingConnection = true;
    try {
      t.abort.abort(); // Deno cancels this connection's server: the socket is closed
    } finally {
      abortingConnection = false;
    }
  };
  // One timer per connection, not re-armed per request: when it fires it closes the
  // connection if it has been without a request for its limit, else waits for the rest.
  const check = (t: Tracked) => {
    t.timer = undefined;
    if (t.inFlight > 0 || t.abort.signal.aborted || t.graceful) return; // `settled` re-arms
    const left = t.idleLimitMs - (performance.now() - t.idleSince);
    if (left <= 0) close(t, t.idleReason);
    else t.timer = setTimeout(check, left, t);
  };

  // TLS: Deno's engine cannot be aborted while it waits for a handshake, so the guard runs the
  // handshake itself under the header deadline, and the connection is handed over after it.
  const handshaking = new Set<Deno.Conn>();
  const closeConn = (conn: Deno.Conn) => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const handshakeThenServe = async (conn: Deno.TlsConn) => {
    const acceptedAt = performance.now();
    handshaking.add(conn);
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      hooks.onClose?.("header_deadline");
      closeConn(conn);
    }, limits.headerDeadlineMs);
    try {
      await conn.handshake();
    } catch {
      if (!late) closeConn(conn); // a failed handshake: nothing to serve
      return;
    } finally {
      clearTimeout(timer);
      handshaking.delete(conn);
      if (handshaking.size === 0 && open.size === 0) noneOpen?.();
    }
    if (late || draining) {
      if (!late) closeConn(conn);
      return;
    }
    serve(conn, acceptedAt);
  };

  const serve = (conn: Deno.Conn, acceptedAt = performance.now()) => {
    const t: Tracked = {
      abort: new AbortController(),
      server: undefined as unknown as Deno.HttpServer,
      inFlight: 0,
      timer: undefined,
      idleSince: acceptedAt,
      idleLimitMs: limits.headerDeadlineMs,
      idleReason: "header_deadline",
      lastSentAt: undefined,
      graceful: false,
    };
    const settled = () => {
      t.lastSentAt = performance.now();
      if (--t.inFlight > 0) return;
      t.idleSince = t.lastSentAt;
      t.idleLimitMs = limits.keepAliveIdleMs;
      t.idleReason = "keepalive_idle";
      if (t.timer === undefined && !t.abort.signal.aborted && !t.graceful) {
        t.timer = setTimeout(check, limits.keepAliveIdleMs, t);
      }
    };
    t.timer = setTimeout(
      check,
      Math.max(0, acceptedAt + limits.headerDeadlineMs - performance.now()),
      t,
    );
    t.server = serveOn(
      conn,
      t.abort.signal,
      (request, info) => {
        t.inFlight++;
        info.completed.then(settled, settled);
        return handler(request, conn);
      },
      internalError,
      () => {},
    );
    open.add(t);
    // A reset by the peer rejects `finished`; either way the connection is gone.
    t.server.finished.catch(() => {}).finally(() => {
      if (t.timer !== undefined) clearTimeout(t.timer);
      open.delete(t);
      if (open.size === 0 && handshaking.size === 0) noneOpen?.();
    });
  };

  const acceptLoop = (async () => {
    let acceptFailures = 0;
    while (!draining) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (draining || error instanceof Deno.errors.BadResource) break;
        // Out of descriptors (EMFILE) or a transient error: the guard frees descriptors as its
        // timers fire, so wait a little and accept again rather than stop serving.
        if (acceptFailures++ === 0) {
          hooks.logger?.warn("listener accept failed; retrying", { error: String(error) });
        }
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      acceptFailures = 0;
      if (open.size + handshaking.size >= limits.connectionsMax) {
        hooks.onClose?.("connections_max");
        try {
          conn.close();
        } catch { /* already closed */ }
        continue;
      }
      if ("handshake" in conn) void handshakeThenServe(conn as Deno.TlsConn);
      else serve(conn);
    }
  })();

  const allClosed = () =>
    open.size === 0 && handshaking.size === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => (noneOpen = resolve));

  let stopping: Promise<boolean> | undefined;
  const shutdown = (drainMs: number): Promise<boolean> => {
    stopping ??= (async () => {
      draining = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      await acceptLoop;
      // A connection with no request in progress (slow headers, idle keep-alive) is cut now;
      // one serving a request, or whose last response may not be flushed yet, gets Deno's
      // graceful shutdown (finish the response, then close).
      for (const conn of handshaking) closeConn(conn);
      const now = performance.now();
      for (const t of open) {
        const flushed = t.lastSentAt === undefined || now - t.lastSentAt > FLUSH_GRACE_MS;
        if (t.inFlight === 0 && flushed) {
          close(t, "drain");
        } else {
          if (t.timer !== undefined) clearTimeout(t.timer);
          t.timer = undefined;
          t.graceful = true;
          void t.server.shutdown().catch(() => {});
        }
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([
        allClosed().then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), drainMs))),
      ]);
      clearTimeout(timer);
      // Past the budget the rest are left to the process's exit (main.ts), as with Deno.serve.
      return drained;
    })();
    return stopping;
  };

  const finished = acceptLoop.then(() => stopping ?? shutdown(0)).then(() => {});
  return { shutdown, finished, openConnections: () => open.size + handshaking.size };
}
