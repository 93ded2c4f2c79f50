/**
 * The Hono environment shared by every middleware and route: what the listener binds
 * (`Bindings`) and what middleware hands inward (`Variables`).
 *
 * @module
 */
import type { AuthContext } from "../src/shell/caps/auth_context.ts";
import type { PeerInfo } from "../src/shell/listen/types.ts";

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
    /**
     * Set by the pre-auth hold (middleware/admission.ts): returns this request's share of
     * the pre-auth budget once authentication has decided (idempotent).
     */
    preAuthRelease: () => void;
    /** Set by the error mapper once it has answered this request with an error. */
    errorAnswered: boolean;
  };
};
