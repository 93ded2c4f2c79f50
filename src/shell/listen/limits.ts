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

/** Node: a client must finish sending request headers within this (slow-loris backstop). */
export const HEADERS_TIMEOUT_MS = 10_000;

/** Node: a whole request (headers + body) must arrive within this. Above the app's 5 s
 * REQUEST_TIMEOUT_MS so the app's TIMEOUT answer wins for slow handlers. */
export const REQUEST_RECEIVE_TIMEOUT_MS = 30_000;

/** Node: how often the server sweeps connections for the two timeouts above. Node's default
 * is 30 s, which would make a 10 s headers timeout fire after up to 40 s. */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;

/** Node: idle keep-alive sockets are closed after this. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

/** Node: header lines parsed per request; the rest are dropped (Node's default is 2000). */
export const HEADERS_COUNT_MAX = 100;

/** Node: open connections accepted at once; above MAX_INFLIGHT (512) so the app's own
 * 503 OVERLOADED is reachable before the kernel-level refusal. */
export const CONNECTIONS_MAX = 1_024;

/** Bun: a connection idle (no bytes either way) for this long is closed. Bun caps it at 255 s. */
export const IDLE_TIMEOUT_S = 10;

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
