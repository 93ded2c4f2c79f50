/**
 * Where intents go (contract §7): a ledger answers `accepted`, `duplicate` (same key, same
 * body) or `conflict` (same key, different body → the run is quarantined, never retried).
 * Anything else (5xx, timeout, refused connection, malformed acknowledgement) is thrown as
 * {@link LedgerRetryableError}: the outbox retries it and keeps the intent pending.
 *
 * @module
 */
import type { LedgerIntent } from "../../core/types.ts";

/** The three final answers of a ledger. */
export type LedgerAnswer = "accepted" | "duplicate" | "conflict";

/** A ledger. */
export interface LedgerTarget {
  send(
    intent: LedgerIntent,
    context: { corrId: string; signal: AbortSignal },
  ): Promise<LedgerAnswer>;
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
