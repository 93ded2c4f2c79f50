/**
 * Serve a fetch handler with `Deno.serve` over TCP (optionally TLS) or a Unix socket.
 *
 * Deno.serve has no header or body timeouts (RUNTIME-NOTES; docs/RUNTIMES.md): put a
 * proxy with slow-loris protection in front when exposed beyond a private socket.
 *
 * @module
 */
import { type BindTarget, parseBindAddr } from "./bind_addr.ts";
import { settlesWithin, type SignalHooks, wireShutdown } from "./drain.ts";
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
  if (target.transport === "unix") await prepareUnixSocket(target.path);
  const server = startServer(fetch, target, opts);
  const addr = boundAddrOf(server.addr);
  const socketId = target.transport === "unix" ? await secureBoundSocket(target.path) : undefined;
  const stop = async () => {
    const drained = await settlesWithin(server.shutdown(), limits.drainMsMax);
    // Deno has no way to cut in-flight connections: after the budget we stop waiting and
    // the caller exits the process (signal path) or leaves the server to finish by itself.
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
