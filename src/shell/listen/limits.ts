/**
 * Listener limits, each with its unit and reason. These are the transport-level backstops
 * below the app's own caps (REQ_BODY_MAX, REQUEST_TIMEOUT_MS, MAX_INFLIGHT live in the app's
 * config): every listener limit here is deliberately looser than the matching app cap, so
 * the app answers with the contract's error envelope and the listener only stops what the
 * app can never see (slow headers, idle sockets, absurd bodies).
 *
 * @module
 */

/** Longest graceful drain after SIGTERM/SIGINT or `shutdown()`: in-flight requests get this
 * long to finish, then remaining connections are cut (Bun, Node) or abandoned (Deno). Below
 * the usual 30 s orchestrator kill grace period so we exit before SIGKILL. */
export const DRAIN_MS_MAX = 10_000;

/** A connection whose request headers have not arrived this long after it opened is closed
 * (slow-loris backstop; HEADER_DEADLINE_MS). Node: `headersTimeout`; Deno: the connection
 * guard (conn_guard.ts, TLS handshake included). Bun cannot be told: see
 * {@link BUN_HEADERS_TIMEOUT_MS}. */
export const HEADERS_TIMEOUT_MS = 10_000;

/** Bun (uWebSockets): a connection without a complete request is closed after this fixed
 * HTTP idle timeout, checked on 4 s ticks (measured: 12.0 s whatever `idleTimeout` is, from
 * 1 s to 30 s); HEADER_DEADLINE_MS does not change it. */
export const BUN_HEADERS_TIMEOUT_MS = 10_000;

/** Smallest header deadline accepted, ms (a test's value; below it honest clients on a slow
 * network would be cut). */
export const HEADERS_TIMEOUT_MS_MIN = 100;

/** Node: a whole request (headers + body) must arrive within this. Above the app's 5 s
 * REQUEST_TIMEOUT_MS so the app's TIMEOUT answer wins for slow handlers. */
export const REQUEST_RECEIVE_TIMEOUT_MS = 30_000;

/** Node: how often the server sweeps connections for the two timeouts above. Node's default
 * is 30 s, which would make a 10 s headers timeout fire after up to 40 s. */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;

/** Node and Deno: a kept-alive connection with no request in progress is closed after this
 * (KEEPALIVE_IDLE_MS); on Deno the next request's headers must also be parsed within it.
 * Bun: see {@link bunIdleTimeoutS}. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Smallest and largest keep-alive idle bound accepted, ms. */
export const KEEP_ALIVE_TIMEOUT_MS_MIN = 100;
export const KEEP_ALIVE_TIMEOUT_MS_MAX = 120_000;

/** Node: header lines parsed per request; the rest are dropped (Node's default is 2000). */
export const HEADERS_COUNT_MAX = 100;

/** Node and Deno (the connection guard): open connections accepted at once; above
 * MAX_INFLIGHT (512) so the app's own 503 OVERLOADED is reachable before the listener closes
 * new connections. */
export const CONNECTIONS_MAX = 1_024;

/** Bun: a connection idle (no bytes either way) for this long is closed. Bun caps it at 255 s.
 * Default of {@link bunIdleTimeoutS}. */
export const IDLE_TIMEOUT_S = 10;

/**
 * Bun's `idleTimeout` (whole seconds, 1..255): the larger of the header deadline and the
 * keep-alive idle bound, rounded up. Bun has one idle timer: it closes an idle kept-alive
 * connection (measured: idleTimeout 2 s closed one after 4.0 s, Bun's timers tick every 4 s),
 * and it also cuts a request whose handler sends nothing for that long, so it must stay above
 * the app's own REQUEST_TIMEOUT_MS for the app's answer to win (default 10 s > 5 s).
 */
export function bunIdleTimeoutS(headersTimeoutMs: number, keepAliveTimeoutMs: number): number {
  const ms = Math.max(headersTimeoutMs, keepAliveTimeoutMs);
  return Math.min(255, Math.max(1, Math.ceil(ms / 1_000)));
}

/** Bun: request bodies above this are refused by Bun itself with a bare 413. Four times the
 * app's REQ_BODY_MAX (1 MiB) so the app's own 413 with the contract envelope answers first. */
export const LISTENER_BODY_BYTES_MAX = 4 * 1024 * 1024;

/** How long the stale-socket probe waits for a live server to accept before deciding. */
export const STALE_PROBE_MS_MAX = 1_000;

/** Linux `sun_path` is 108 bytes including the terminating NUL. */
export const UNIX_PATH_BYTES_MAX = 107;

/** The tunable subset, with the defaults above. */
export interface ListenLimits {
  drainMsMax: number;
  headersTimeoutMs: number;
  requestReceiveTimeoutMs: number;
  keepAliveTimeoutMs: number;
  headersCountMax: number;
  connectionsMax: number;
  idleTimeoutS: number;
  bodyBytesMax: number;
}

/** Default listener limits. */
export const DEFAULT_LISTEN_LIMITS: Readonly<ListenLimits> = Object.freeze({
  drainMsMax: DRAIN_MS_MAX,
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
  requestReceiveTimeoutMs: REQUEST_RECEIVE_TIMEOUT_MS,
  keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
  headersCountMax: HEADERS_COUNT_MAX,
  connectionsMax: CONNECTIONS_MAX,
  idleTimeoutS: IDLE_TIMEOUT_S,
  bodyBytesMax: LISTENER_BODY_BYTES_MAX,
});
