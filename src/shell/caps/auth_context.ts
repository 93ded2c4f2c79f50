/**
 * The verified identity a request carries once its capability token is checked: what the
 * caps verifier produces and the routes and use cases consume.
 *
 * @module
 */

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
