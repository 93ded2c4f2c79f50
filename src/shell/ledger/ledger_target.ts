/**
 * Where intents go (contract §7): a ledger answers `accepted`, `duplicate` (same key, same
 * body) or `conflict` (same key, different body → the run is quarantined, never retried).
 * Anything else (5xx, timeout, refused connection, malformed acknowledgement) is thrown as
 * {@link LedgerRetryableError}: the outbox retries it and keeps the intent pending.
 *
 * @module
 */
import type { QueuedIntent } from "../store/run_store.ts";

/** The three final answers of a ledger. */
export type LedgerAnswer = "accepted" | "duplicate" | "conflict";

/** What one send knows besides the intent: the tenant (egress caveats, key scope), ids, budget. */
export interface SendContext {
  /** The run's tenant: the ledger scopes Idempotency-Keys by caller and tenant (contract §7). */
  tenant: string;
  corrId: string;
  signal: AbortSignal;
}

/**
 * A ledger. `send` delivers the queued intent as it is: `Idempotency-Key` =
 * `intent.idempotencyKey`, body = `intent.body`, byte for byte (contract §7: fixed at first
 * enqueue, never rebuilt).
 */
export interface LedgerTarget {
  send(intent: QueuedIntent, context: SendContext): Promise<LedgerAnswer>;
}

/** A transient failure worth retrying. `reason` is stable snake_case, never a response body. */
export class LedgerRetryableError extends Error {
  readonly reason: string;
  constructor(reason: string, options: { cause?: unknown } = {}) {
    super(`Cannot deliver ledger intent: ${reason}`, options);
    this.name = "LedgerRetryableError";
    this.reason = reason;
  }
}
