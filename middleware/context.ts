/**
 * The Hono environment shared by every middleware and route: what the listener binds
 * (`Bindings`) and what middleware hands inward (`Variables`).
 *
 * @module
 */

/** How the request reached us; filled by the listener (main.ts), never from headers. */
export interface PeerInfo {
  transport: "tcp" | "unix";
  /** The peer IP address over TCP (v4 or v6 text form); undefined over a Unix socket. */
  address?: string;
}

/** A pending `max_runs = n` caveat: counted per identifier and caveat chain position (§9). */
export interface MaxRunsCaveat {
  /** Stable counter key: identifier + chain position, never the token itself. */
  counterKey: string;
  /** The caveat's n: fewer than n non-replayed computes may have been made. */
  limit: number;
}

/** The verified identity a request carries after the auth middleware. */
export interface AuthContext {
  tenant: string;
  /** Scopes granted: the identifier's scopes narrowed by every `scope` caveat (§9). */
  scopes: readonly string[];
  /** Macaroon identifier (`v2:<tenant>:<key_epoch>:<scopes>:<nonce>`); safe to log, not a secret. */
  identifier: string;
  keyEpoch: number;
  /** max_runs caveats to check before and count after a non-replayed compute. */
  maxRuns: readonly MaxRunsCaveat[];
  /**
   * `epoch_id = e` caveats still to check, on a route whose epoch is known only once its
   * record is loaded (`GET /rewarder/runs/{run_key}`: the run's epoch, contract §9). The
   * route calls `checkRunEpoch` (src/shell/caps/authorize.ts) before answering; absent or
   * empty elsewhere.
   */
  pendingEpochIds?: readonly string[];
}

/** Hono env type for the whole app. */
export type AppEnv = {
  Bindings: {
    peer?: PeerInfo;
    /**
     * The raw request-target as received, for a listener whose runtime rewrites
     * `Request.url` (Node's adapter resolves `.`/`..` segments): the request path is
     * normalised from it (contract §9, middleware/request_path.ts).
     */
    requestTarget?: string;
  };
  Variables: {
    /** Correlation id: accepted from `X-Corr-ID` when well-formed, else generated. */
    corrId: string;
    /** Set by the auth middleware on protected routes. */
    auth: AuthContext;
    /** Aborted when the request deadline (REQUEST_TIMEOUT_MS) passes. */
    deadline: AbortSignal;
    /** Set by the error mapper once it has answered this request with an error. */
    errorAnswered: boolean;
  };
};
