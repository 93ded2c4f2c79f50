/**
 * Serve a fetch handler on Node (20+) through @hono/node-server, over TCP (optionally TLS)
 * or a Unix socket.
 *
 * @hono/node-server 2.1.9 calls `fetch(request, { incoming, outgoing })`; we replace that env
 * with `{ peer }` so the app sees the same `c.env` on every runtime (and never the raw
 * Node objects).
 *
 * @module
 */
import { createAdaptorServer, type HttpBindings } from "@hono/node-server";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import process from "node:process";
import { type BindTarget, parseBindAddr } from "./bind_addr.ts";
import { type DrainSignal, settlesWithin, type SignalHooks, wireShutdown } from "./drain.ts";
import { CONNECTIONS_CHECK_INTERVAL_MS, type ListenLimits } from "./limits.ts";
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

/** Refuse TLS versions below 1.3 where we can (Node can, via minVersion). */
const TLS_MIN_VERSION = "TLSv1.3";

const PROCESS_SIGNALS: SignalHooks = {
  add: (signal: DrainSignal, handler: () => void) => process.on(signal, handler),
  remove: (signal: DrainSignal, handler: () => void) => process.off(signal, handler),
  exit: (code: number) => process.exit(code),
};

/**
 * Start serving `fetch` on Node.
 * @throws {ListenError} bind/socket/TLS errors; the listen error (e.g. EADDRINUSE) as thrown.
 */
export async function serveNode(fetch: FetchHandler, opts: ListenOptions): Promise<ListenHandle> {
  const limits = resolveLimits(opts.limits);
  const target = parseBindAddr(opts.bindAddr);
  if (target.transport === "unix" && opts.tls !== undefined) {
    throw new ListenError("tls_over_unix", "TLS is not offered on a Unix socket");
  }
  if (target.transport === "unix") await prepareUnixSocket(target.path);
  const server = createServer(fetch, target, opts, limits);
  await listenOn(server, target);
  const addr = boundAddrOf(server, target);
  const socketId = target.transport === "unix" ? await secureBoundSocket(target.path) : undefined;
  const closed = new Promise<void>((resolve) => server.once("close", () => resolve()));
  const stop = async () => {
    server.close(); // stop accepting; Node ≥ 19 also closes idle keep-alive sockets
    if (!(await settlesWithin(closed, limits.drainMsMax))) {
      opts.logger?.warn("listener drain timed out", { drainMsMax: limits.drainMsMax });
      server.closeAllConnections();
      await closed;
    }
    if (socketId !== undefined) await removeBoundSocket(socketId);
  };
  const shutdown = wireShutdown(stop, {
    handleSignals: opts.handleSignals ?? true,
    hooks: PROCESS_SIGNALS,
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
  });
  const finished = closed.then(() => shutdown());
  opts.logger?.info("listener ready", { runtime: "node", transport: addr.transport });
  opts.onListen?.(addr);
  return { addr, shutdown, finished };
}

function createServer(
  fetch: FetchHandler,
  target: BindTarget,
  opts: ListenOptions,
  limits: ListenLimits,
): Server {
  const tls = opts.tls !== undefined ? readTlsFiles(opts.tls) : undefined;
  const timeouts = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestReceiveTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
  };
  const unix = target.transport === "unix";
  const server = createAdaptorServer({
    fetch: (request: Request, env: unknown) =>
      fetch(request, {
        peer: unix
          ? { ...UNIX_PEER }
          : tcpPeer((env as HttpBindings).incoming.socket.remoteAddress),
        // The adapter resolves dot segments in request.url; the request path is normalised
        // from the raw target instead (contract §9, middleware/request_path.ts).
        requestTarget: (env as HttpBindings).incoming.url ?? "",
      }),
    ...(tls !== undefined
      ? {
        createServer: createHttpsServer,
        serverOptions: {
          ...timeouts,
          ...tls,
          // headersTimeout starts after the handshake; Node's own handshake bound is 120 s.
          handshakeTimeout: limits.headersTimeoutMs,
          minVersion: TLS_MIN_VERSION,
          // CLIENT_CA_PATH: no handshake completes without a certificate chaining to `ca`.
          ...(tls.ca !== undefined ? { requestCert: true, rejectUnauthorized: true } : {}),
        },
      }
      : { createServer: createHttpServer, serverOptions: timeouts }),
  }) as Server;
  // Also set as properties: not every Node 20 minor reads all of them from the options.
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestReceiveTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxHeadersCount = limits.headersCountMax;
  server.maxConnections = limits.connectionsMax;
  return server;
}

function listenOn(server: Server, target: BindTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    const ready = () => {
      server.off("error", reject);
      resolve();
    };
    if (target.transport === "unix") server.listen(target.path, ready);
    else server.listen(target.port, target.hostname, ready);
  });
}

function boundAddrOf(server: Server, target: BindTarget): BoundAddr {
  if (target.transport === "unix") return { transport: "unix", path: target.path };
  const info = server.address();
  if (info === null || typeof info === "string") {
    throw new ListenError("runtime_unsupported", "TCP listener reported no address");
  }
  return { transport: "tcp", hostname: info.address, port: info.port };
}
