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
  /** Scopes granted (intersection of every scope caveat). */
  scopes: readonly string[];
  /** Macaroon identifier (`v1:<tenant>:<key_epoch>:<nonce>`); safe to log, not a secret. */
  identifier: string;
  keyEpoch: number;
  /** max_runs caveats to check before and count after a non-replayed compute. */
  maxRuns: readonly MaxRunsCaveat[];
}

/** Hono env type for the whole app. */
export type AppEnv = {
  Bindings: { peer?: PeerInfo };
  Variables: {
    /** Correlation id: accepted from `X-Corr-ID` when well-formed, else generated. */
    corrId: string;
    /** Set by the auth middleware on protected routes. */
    auth: AuthContext;
    /** Aborted when the request deadline (REQUEST_TIMEOUT_MS) passes. */
    deadline: AbortSignal;
  };
};
