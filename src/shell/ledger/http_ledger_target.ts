/**
 * The HTTP ledger client (contract §7): `POST {LEDGER_URL}/intents` with the queued body bytes
 * and `Idempotency-Key` exactly as stored at first enqueue (the intent key of a v2 intent, the
 * run key of a v1 one), `X-Corr-ID` and `Authorization: Macaroon <egress token>`.
 * The response is read up to {@link LEDGER_RESPONSE_BYTES_MAX} and parsed strictly: a 2xx whose
 * body is not exactly `{"status":"accepted"|"duplicate"}` is a malformed acknowledgement and is
 * retried (the ledger is idempotent, so a resend is safe).
 *
 * Connect budget: before the request a TCP connection is opened with a
 * {@link LEDGER_CONNECT_TIMEOUT_MS} budget (fetch offers no connect-only timeout), so a black-holed
 * ledger fails fast; the whole attempt is bounded by the caller's signal.
 *
 * @module
 */
import { connect } from "node:net";
import type { QueuedIntent } from "../store/run_store.ts";
import { type LedgerAnswer, LedgerRetryableError, type LedgerTarget } from "./ledger_target.ts";

/** Connect budget (contract §7: 2 s connect). */
export const LEDGER_CONNECT_TIMEOUT_MS = 2_000;
/** An acknowledgement is tiny; anything bigger is not one. */
export const LEDGER_RESPONSE_BYTES_MAX = 4_096;

/** Options of {@link createHttpLedgerTarget}. */
export interface HttpLedgerTargetOptions {
  /** LEDGER_URL, e.g. `http://127.0.0.1:9000` (no trailing `/intents`). */
  ledgerUrl: string;
  /**
   * Egress token for this intent (attenuated by the caps helper with the members of the queued
   * intent, see `attenuateForLedger`); undefined = no header.
   */
  tokenFor: (intent: QueuedIntent, tenant: string) => Promise<string | undefined>;
  connectTimeoutMs?: number;
  /** The downstream client's fetch (DOWNSTREAM_TLS, src/shell/sources/downstream_tls.ts). */
  fetch?: (url: string | URL, init?: RequestInit) => Promise<Response>;
}

/** Creates the HTTP {@link LedgerTarget}. */
export function createHttpLedgerTarget(options: HttpLedgerTargetOptions): LedgerTarget {
  const base = new URL(options.ledgerUrl);
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError("Cannot use LEDGER_URL: scheme must be http or https");
  }
  const url = new URL(ledgerIntentsPathOf(options.ledgerUrl), base);
  const connectMs = options.connectTimeoutMs ?? LEDGER_CONNECT_TIMEOUT_MS;
  return {
    async send(intent, { tenant, corrId, signal }): Promise<LedgerAnswer> {
      await probe(url, connectMs, signal);
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "idempotency-key": intent.idempotencyKey,
        "x-corr-id": corrId,
      };
      const token = await options.tokenFor(intent, tenant);
      if (token !== undefined) headers["authorization"] = `Macaroon ${token}`;
      let res: Response;
      try {
        res = await (options.fetch ?? fetch)(url, {
          method: "POST",
          headers,
          body: intent.body,
          signal,
        });
      } catch (cause) {
        throw new LedgerRetryableError(
          signal.aborted ? "timeout" : tlsFailure(cause) ? "tls" : "network",
          { cause },
        );
      }
      const body = await readCapped(res, signal);
      if (res.status === 409) return "conflict";
      if (res.status < 200 || res.status > 299) {
        throw new LedgerRetryableError(`status_${res.status}`);
      }
      return parseAck(body);
    },
  };
}

/**
 * The request path of the intents route: `<path of LEDGER_URL>/intents` (contract §7, §9),
 * which the egress token's `path ^=` caveat names too.
 *
 * @example
 * ```ts
 * ledgerIntentsPathOf("https://ledger.example/v1/"); // "/v1/intents"
 * ledgerIntentsPathOf("http://127.0.0.1:9000"); // "/intents"
 * ```
 */
export function ledgerIntentsPathOf(ledgerUrl: string): string {
  return `${new URL(ledgerUrl).pathname.replace(/\/$/, "")}/intents`;
}

/**
 * A TLS failure (handshake, certificate, alert; DOWNSTREAM_TLS, contract §12), told apart
 * from other network failures so the operator sees `tls`, not a bare `network`.
 */
function tlsFailure(cause: unknown): boolean {
  for (let e = cause, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = String((e as { code?: unknown }).code ?? "");
    if (
      /certificate|handshake|\btls\b|\bssl\b|alert|self[- ]signed|unknown ?issuer/i.test(e.message)
    ) {
      return true;
    }
    if (/^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_OSSL)/.test(code)) {
      return true;
    }
  }
  return false;
}

/** Strict acknowledgement parse: exactly one key `status`, value accepted|duplicate. */
export function parseAck(body: Uint8Array): "accepted" | "duplicate" {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new LedgerRetryableError("malformed_ack");
  }
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    const keys = Object.keys(v);
    const status = (v as { status?: unknown }).status;
    if (keys.length === 1 && (status === "accepted" || status === "duplicate")) return status;
  }
  throw new LedgerRetryableError("malformed_ack");
}

async function readCapped(res: Response, signal: AbortSignal): Promise<Uint8Array> {
  const out = new Uint8Array(LEDGER_RESPONSE_BYTES_MAX);
  let used = 0;
  const reader = res.body?.getReader();
  if (reader === undefined) return out.subarray(0, 0);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return out.subarray(0, used);
      if (used + value.length > LEDGER_RESPONSE_BYTES_MAX) {
        throw new LedgerRetryableError("ack_oversize");
      }
      out.set(value, used);
      used += value.length;
    }
  } catch (cause) {
    if (cause instanceof LedgerRetryableError) throw cause;
    throw new LedgerRetryableError(signal.aborted ? "timeout" : "connection_dropped", { cause });
  } finally {
    reader.releaseLock();
    await res.body?.cancel().catch(() => undefined);
  }
}

function probe(url: URL, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const fail = (reason: string) => (cause?: unknown) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new LedgerRetryableError(reason, { cause }));
    };
    const timer = setTimeout(fail("connect_timeout"), timeoutMs);
    signal.addEventListener("abort", fail("timeout"), { once: true });
    socket.once("error", fail("connect_refused"));
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
  });
}
