/**
 * Serve a fetch handler with `Bun.serve` over TCP (optionally TLS) or a Unix socket.
 *
 * Type-checks under Deno: the few Bun APIs used are declared here (no bun-types), and the
 * module touches `Bun` only inside `serveBun`, after checking it exists.
 *
 * @module
 */
import process from "node:process";
import type { PeerInfo } from "./types.ts";
import { type BindTarget, parseBindAddr } from "./bind_addr.ts";
import { type DrainSignal, settlesWithin, type SignalHooks, wireShutdown } from "./drain.ts";
import { bunIdleTimeoutS, type ListenLimits } from "./limits.ts";
import { readTlsFiles } from "./tls_files.ts";
import {
  type BoundAddr,
  type FetchHandler,
  ListenError,
  type ListenHandle,
  type ListenOptions,
  resolveLimits,
  tcpPeer,
  UNIX_PEER,
} from "./types.ts";
import { prepareUnixSocket, removeBoundSocket, secureBoundSocket } from "./unix_socket.ts";

/** The slice of Bun's `Server` we use. */
interface BunServer {
  readonly port?: number;
  readonly hostname?: string;
  requestIP(request: Request): { address: string; family: string; port: number } | null;
  /** `closeActiveConnections = false` drains; resolves when every connection closed. */
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

/** The slice of `Bun.serve` options we use. */
interface BunServeOptions {
  fetch(request: Request, server: BunServer): Response | Promise<Response>;
  hostname?: string;
  port?: number;
  unix?: string;
  tls?: {
    cert: string;
    key: string;
    ca?: string;
    requestCert?: boolean;
    rejectUnauthorized?: boolean;
    secureOptions?: number;
  };
  idleTimeout?: number;
  maxRequestBodySize?: number;
  development?: boolean;
}

interface BunGlobal {
  serve(options: BunServeOptions): BunServer;
}

/** OpenSSL `SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2` (openssl/ssl.h): Bun has
 * no `minVersion`, but passes these flags through `tls.secureOptions`, which makes the server
 * TLS 1.3 only (measured: `openssl s_client -tls1_2` gets alert 70 protocol_version). */
const TLS_BELOW_1_3_OFF = 0x04000000 | 0x10000000 | 0x08000000;

const PROCESS_SIGNALS: SignalHooks = {
  add: (signal: DrainSignal, handler: () => void) => process.on(signal, handler),
  remove: (signal: DrainSignal, handler: () => void) => process.off(signal, handler),
  exit: (code: number) => process.exit(code),
};

/**
 * Start serving `fetch` on Bun.
 * @throws {ListenError} `runtime_unsupported` outside Bun, plus the bind/socket/TLS errors.
 */
export async function serveBun(fetch: FetchHandler, opts: ListenOptions): Promise<ListenHandle> {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (bun === undefined) throw new ListenError("runtime_unsupported", "Bun global is missing");
  const limits = resolveLimits(opts.limits);
  const target = parseBindAddr(opts.bindAddr);
  if (target.transport === "unix" && opts.tls !== undefined) {
    throw new ListenError("tls_over_unix", "TLS is not offered on a Unix socket");
  }
  if (target.transport === "unix") await prepareUnixSocket(target.path);
  const server = bun.serve(serveOptions(fetch, target, opts, limits));
  const addr: BoundAddr = target.transport === "unix"
    ? { transport: "unix", path: target.path }
    : { transport: "tcp", hostname: target.hostname, port: server.port ?? target.port };
  const socketId = target.transport === "unix" ? await secureBoundSocket(target.path) : undefined;
  let markFinished = () => {};
  const finished = new Promise<void>((resolve) => (markFinished = resolve));
  const stop = async () => {
    const drained = await settlesWithin(Promise.resolve(server.stop(false)), limits.drainMsMax);
    if (!drained) {
      opts.logger?.warn("listener drain timed out", { drainMsMax: limits.drainMsMax });
      await server.stop(true);
    }
    if (socketId !== undefined) await removeBoundSocket(socketId);
    markFinished();
  };
  const shutdown = wireShutdown(stop, {
    handleSignals: opts.handleSignals ?? true,
    hooks: PROCESS_SIGNALS,
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
  });
  opts.logger?.info("listener ready", { runtime: "bun", transport: addr.transport });
  opts.onListen?.(addr);
  return { addr, shutdown, finished };
}

function serveOptions(
  fetch: FetchHandler,
  target: BindTarget,
  opts: ListenOptions,
  limits: ListenLimits,
): BunServeOptions {
  const common = {
    // Bun's one idle timer (limits.ts): from the header deadline and the keep-alive bound,
    // unless idleTimeoutS is given itself.
    idleTimeout: opts.limits?.idleTimeoutS ??
      bunIdleTimeoutS(limits.headersTimeoutMs, limits.keepAliveTimeoutMs),
    maxRequestBodySize: limits.bodyBytesMax,
    // Never Bun's HTML error page with stack traces, whatever NODE_ENV says.
    development: false,
  };
  if (target.transport === "unix") {
    return { ...common, unix: target.path, fetch: (req) => fetch(req, { peer: { ...UNIX_PEER } }) };
  }
  const tls = opts.tls !== undefined ? readTlsFiles(opts.tls) : undefined;
  return {
    ...common,
    hostname: target.hostname,
    port: target.port,
    ...(tls !== undefined
      ? {
        tls: {
          ...tls,
          secureOptions: TLS_BELOW_1_3_OFF,
          // CLIENT_CA_PATH: no handshake completes without a certificate chaining to `ca`.
          ...(tls.ca !== undefined ? { requestCert: true, rejectUnauthorized: true } : {}),
        },
      }
      : {}),
    fetch: (req, server) => fetch(req, { peer: peerOf(server, req) }),
  };
}

function peerOf(server: BunServer, request: Request): PeerInfo {
  return tcpPeer(server.requestIP(request)?.address);
}
