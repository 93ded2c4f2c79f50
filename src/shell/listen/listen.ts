/**
 * `listen(fetch, opts)`: serve any Hono app's `fetch` on whichever runtime runs us.
 *
 * The runtime-specific listener is loaded with a dynamic import, so importing this module
 * (or the app) loads no `Deno.*`, `Bun.*` or `node:http` code: an edge build that never calls
 * `listen` never pulls a listener in.
 *
 * @example
 * import { listen } from "./src/shell/listen/listen.ts";
 * const handle = await listen(app.fetch, { bindAddr: Deno.env.get("BIND_ADDR") ?? "127.0.0.1:8090" });
 * await handle.finished;
 *
 * @module
 */
import type { FetchHandler, ListenHandle, ListenOptions } from "./types.ts";

export type {
  BoundAddr,
  FetchHandler,
  ListenErrorCode,
  ListenHandle,
  ListenLogger,
  ListenOptions,
  TlsPaths,
} from "./types.ts";
export { ListenError } from "./types.ts";
export { DEFAULT_LISTEN_LIMITS, DRAIN_MS_MAX, type ListenLimits } from "./limits.ts";
export type { GuardCloseReason } from "./conn_guard.ts";

/** Which runtime is running this code. */
export type RuntimeName = "deno" | "bun" | "node";

/** Detect the runtime: Deno and Bun announce themselves on `globalThis`; anything else is Node. */
export function detectRuntime(): RuntimeName {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

/**
 * Serve `fetch` on the current runtime (Deno's HTTP engine under the connection guard,
 * Bun.serve or @hono/node-server). Every default listener closes a connection whose request
 * headers do not arrive within `limits.headersTimeoutMs` and bounds idle keep-alive.
 * @throws {ListenError} see the runtime listeners.
 */
export async function listen(fetch: FetchHandler, opts: ListenOptions): Promise<ListenHandle> {
  switch (detectRuntime()) {
    case "deno": {
      if (opts.engine === "node") {
        const { serveNode } = await import("./listen_node.ts");
        return serveNode(fetch, opts);
      }
      const { connectionServer } = await import("./conn_guard.ts");
      if (opts.unguarded !== true && connectionServer() === undefined) {
        // No per-connection server on this Deno: the guard cannot run, and plain Deno.serve
        // would hold slow clients forever; node:http has its own header and idle timeouts.
        opts.logger?.warn("Deno connection guard unavailable: serving through node:http", {});
        const { serveNode } = await import("./listen_node.ts");
        return serveNode(fetch, opts);
      }
      const { serveDeno } = await import("./listen_deno.ts");
      return serveDeno(fetch, opts);
    }
    case "bun": {
      const { serveBun } = await import("./listen_bun.ts");
      return serveBun(fetch, opts);
    }
    case "node": {
      const { serveNode } = await import("./listen_node.ts");
      return serveNode(fetch, opts);
    }
  }
}
