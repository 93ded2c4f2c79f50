/**
 * Serve a fetch handler with Deno's HTTP engine (the one behind `Deno.serve`) over TCP
 * (optionally TLS) or a Unix socket.
 *
 * `Deno.serve` has no header, body or idle timeout (docs/RUNTIMES.md "Slow clients"), so by
 * default the connections are accepted here and served under the connection guard
 * (conn_guard.ts): a connection whose request headers are not parsed within
 * `headersTimeoutMs`, or that stays kept-alive with no request for `keepAliveTimeoutMs`, is
 * closed. `unguarded: true` serves with plain `Deno.serve` (benchmarks only).
 *
 * @module
 */
import { type BindTarget, parseBindAddr } from "./bind_addr.ts";
import { connectionServer, type GuardedServer, serveGuarded } from "./conn_guard.ts";
import { settlesWithin, type SignalHooks, wireShutdown } from "./drain.ts";
import type { ListenLimits } from "./limits.ts";
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

const DENO_SIGNALS: SignalHooks = {
  add: (signal, handler) => Deno.addSignalListener(signal, handler),
  remove: (signal, handler) => Deno.removeSignalListener(signal, handler),
  exit: (code) => Deno.exit(code),
};

/**
 * Start serving `fetch` on Deno.
 *
 * @example
 * const handle = await serveDeno(app.fetch, { bindAddr: "127.0.0.1:8090" });
 * await handle.finished;
 * @throws {ListenError} bad bind address, insecure socket dir, socket in use, TLS over UDS.
 */
export async function serveDeno(fetch: FetchHandler, opts: ListenOptions): Promise<ListenHandle> {
  const limits = resolveLimits(opts.limits);
  const target = parseBindAddr(opts.bindAddr);
  if (target.transport === "unix" && opts.tls !== undefined) {
    throw new ListenError("tls_over_unix", "TLS is not offered on a Unix socket");
  }
  if (opts.tls?.caPath !== undefined) {
    throw new ListenError(
      "client_ca_unsupported",
      "Deno.serve cannot require client certificates (use the node engine or a proxy)",
    );
  }
  const serveOn = opts.unguarded === true ? undefined : connectionServer();
  if (serveOn === undefined && opts.unguarded !== true) {
    throw new ListenError(
      "runtime_unsupported",
      "this Deno offers no per-connection HTTP server for the connection guard",
    );
  }
  if (target.transport === "unix") await prepareUnixSocket(target.path);
  const server = serveOn === undefined
    ? startServer(fetch, target, opts)
    : startGuarded(serveOn, fetch, target, opts, limits);
  const addr = boundAddrOf(server.addr);
  const socketId = target.transport === "unix" ? await secureBoundSocket(target.path) : undefined;
  const stop = async () => {
    const drained = "guard" in server
      ? await server.guard.shutdown(limits.drainMsMax)
      : await settlesWithin(server.shutdown(), limits.drainMsMax);
    // Plain Deno.serve has no way to cut in-flight connections: after the budget we stop
    // waiting and the caller exits the process (signal path); the guard cuts them.
    if (!drained) opts.logger?.warn("listener drain timed out", { drainMsMax: limits.drainMsMax });
    if (socketId !== undefined) await removeBoundSocket(socketId);
  };
  const shutdown = wireShutdown(stop, {
    handleSignals: opts.handleSignals ?? true,
    hooks: DENO_SIGNALS,
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
  });
  const finished = server.finished.then(() => shutdown());
  opts.logger?.info("listener ready", { runtime: "deno", transport: addr.transport });
  opts.onListen?.(addr);
  return { addr, shutdown, finished };
}

/** The guarded server: our listener, Deno's HTTP engine per connection (conn_guard.ts). */
function startGuarded(
  serveOn: NonNullable<ReturnType<typeof connectionServer>>,
  fetch: FetchHandler,
  target: BindTarget,
  opts: ListenOptions,
  limits: ListenLimits,
): { addr: Deno.Addr; finished: Promise<void>; guard: GuardedServer } {
  const tls = opts.tls !== undefined ? readTlsFiles(opts.tls) : undefined;
  const listener: Deno.Listener = target.transport === "unix"
    ? Deno.listen({ transport: "unix", path: target.path })
    : tls !== undefined
    ? Deno.listenTls({
      hostname: target.hostname,
      port: target.port,
      cert: tls.cert,
      key: tls.key,
      alpnProtocols: ["h2", "http/1.1"],
    })
    : Deno.listen({ hostname: target.hostname, port: target.port });
  const addr = listener.addr;
  const unix = target.transport === "unix";
  const guard = serveGuarded(
    serveOn,
    listener,
    (request, conn) =>
      fetch(request, {
        peer: unix ? { ...UNIX_PEER } : tcpPeer((conn.remoteAddr as Deno.NetAddr).hostname),
      }),
    {
      headerDeadlineMs: limits.headersTimeoutMs,
      keepAliveIdleMs: limits.keepAliveTimeoutMs,
      connectionsMax: limits.connectionsMax,
    },
    {
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      ...(opts.onGuardClose !== undefined ? { onClose: opts.onGuardClose } : {}),
    },
  );
  return { addr, finished: guard.finished, guard };
}

function startServer(
  fetch: FetchHandler,
  target: BindTarget,
  opts: ListenOptions,
): Deno.HttpServer<Deno.NetAddr> | Deno.HttpServer<Deno.UnixAddr> {
  const quiet = () => {};
  if (target.transport === "unix") {
    return Deno.serve(
      { path: target.path, onListen: quiet },
      (request) => fetch(request, { peer: { ...UNIX_PEER } }),
    );
  }
  const tls = opts.tls !== undefined ? readTlsFiles(opts.tls) : undefined;
  return Deno.serve(
    { hostname: target.hostname, port: target.port, onListen: quiet, ...(tls ?? {}) },
    (request, info) => fetch(request, { peer: tcpPeer(info.remoteAddr.hostname) }),
  );
}

function boundAddrOf(addr: Deno.Addr): BoundAddr {
  if (addr.transport === "unix" || addr.transport === "unixpacket") {
    return { transport: "unix", path: addr.path };
  }
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return { transport: "tcp", hostname: addr.hostname, port: addr.port };
  }
  throw new ListenError("runtime_unsupported", "unexpected listener address type");
}
