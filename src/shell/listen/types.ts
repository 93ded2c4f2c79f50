/**
 * Shared shapes of the runtime listeners: options in, handle out, one error type.
 *
 * @module
 */
import type { GuardCloseReason } from "./conn_guard.ts";
import { DEFAULT_LISTEN_LIMITS, type ListenLimits } from "./limits.ts";

/** How the request reached us; filled by the listener (main.ts), never from headers. */
export interface PeerInfo {
  transport: "tcp" | "unix";
  /** The peer IP address over TCP (v4 or v6 text form); undefined over a Unix socket. */
  address?: string;
}

/** What the listeners serve: any Hono `app.fetch` fits (the second argument is `c.env`). */
export type FetchHandler = (
  request: Request,
  env: { peer: PeerInfo; requestTarget?: string },
) => Response | Promise<Response>;

/** Where a listener is bound, as actually bound (port 0 resolved to the real port). */
export type BoundAddr =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/** Paths of the PEM certificate chain and private key; the key file must be mode 0600. */
export interface TlsPaths {
  certPath: string;
  keyPath: string;
  /** CLIENT_CA_PATH: require a client certificate chaining to this PEM bundle (contract §12).
   * Node listeners and Bun only; Deno.serve cannot ask for one (`client_ca_unsupported`). */
  caPath?: string;
}

/** Minimal logger; a @logtape/logtape `Logger` fits. Listeners never log request data. */
export interface ListenLogger {
  info(message: string, props?: Record<string, unknown>): void;
  warn(message: string, props?: Record<string, unknown>): void;
}

/** Options common to every runtime listener. */
export interface ListenOptions {
  /** `host:port`, `[v6]:port` or `unix:///absolute/path.sock` (BIND_ADDR). Port 0 = any free. */
  bindAddr: string;
  /** Serve HTTPS (TCP only). See docs/RUNTIMES.md for the minimum version per runtime. */
  tls?: TlsPaths;
  /** Called once, after bind (and after the socket chmod for UDS). */
  onListen?: (addr: BoundAddr) => void;
  /** Aborting it starts the same graceful drain as `shutdown()`. */
  signal?: AbortSignal;
  /** Install SIGTERM/SIGINT handlers that drain then exit the process. Default true. */
  handleSignals?: boolean;
  /** Override listener limits (defaults in limits.ts). */
  limits?: Partial<ListenLimits>;
  logger?: ListenLogger;
  /** Deno only: `"node"` serves through Deno's node:http compat (serveNode) instead of
   * Deno's own HTTP engine, which buys TLS 1.3 minimum and client certificates (measured in
   * docs/RUNTIMES.md). Default `"native"`: Deno's engine under the connection guard
   * (conn_guard.ts). Ignored on Bun and Node. */
  engine?: "native" | "node";
  /** Deno native engine only, benchmarks only: plain `Deno.serve`, without the connection
   * guard, so no header deadline and no idle bound (docs/RESULTS.md "Listener"). */
  unguarded?: boolean;
  /** Called once for each connection the Deno connection guard closes, with the reason. */
  onGuardClose?: (reason: GuardCloseReason) => void;
}

/** A running listener. */
export interface ListenHandle {
  addr: BoundAddr;
  /** Stop accepting, drain in-flight requests for at most `drainMsMax`, remove the UDS file.
   * Idempotent: later calls return the first call's promise. */
  shutdown(): Promise<void>;
  /** Settles when the listener is closed (after `shutdown()` or a signal). */
  finished: Promise<void>;
}

/** Stable reasons a listener refuses to start. */
export type ListenErrorCode =
  | "bind_addr_invalid"
  | "socket_dir_insecure"
  | "socket_path_occupied"
  | "socket_in_use"
  | "tls_over_unix"
  | "tls_key_insecure"
  | "limits_invalid"
  | "runtime_unsupported"
  | "client_ca_unsupported";

/** A listener start-up failure; `message` names the rule, never secret material. */
export class ListenError extends Error {
  readonly code: ListenErrorCode;
  constructor(code: ListenErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "ListenError";
    this.code = code;
  }
}

/** Fill defaults and check the limits' relations once, at start. */
export function resolveLimits(overrides: Partial<ListenLimits> | undefined): ListenLimits {
  const limits: ListenLimits = { ...DEFAULT_LISTEN_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new ListenError(
        "limits_invalid",
        `Cannot use ${name} as a limit: not a positive integer`,
      );
    }
  }
  if (limits.headersTimeoutMs > limits.requestReceiveTimeoutMs) {
    throw new ListenError("limits_invalid", "headersTimeoutMs must be <= requestReceiveTimeoutMs");
  }
  if (limits.idleTimeoutS > 255) {
    throw new ListenError("limits_invalid", "idleTimeoutS must be <= 255 (Bun's maximum)");
  }
  return limits;
}

/** Peer info for a TCP connection; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is reduced to IPv4 so
 * rate-limit keys agree across runtimes. */
export function tcpPeer(address: string | undefined): PeerInfo {
  if (address === undefined || address === "") return { transport: "tcp" };
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return { transport: "tcp", address: mapped?.[1] ?? address };
}

/** Peer info over a Unix socket: no address exists (SO_PEERCRED is not exposed; RUNTIMES.md). */
export const UNIX_PEER: Readonly<PeerInfo> = Object.freeze({ transport: "unix" });
