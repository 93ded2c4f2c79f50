/**
 * Serves `edge.ts` on Bun (`Bun.serve`) or Node (`@hono/node-server`) for the edge test, which
 * bundles this file with `deno bundle` (the bundle inlines edge.ts and the adapter). Prints
 * `listening <port>` once bound to 127.0.0.1 on a free port. Configuration is the process
 * environment, read by edge.ts on the first request.
 *
 * @module
 */
import edge from "../../edge.ts";

const g = globalThis as { Bun?: { serve(o: unknown): { port: number } } };
if (g.Bun !== undefined) {
  const server = g.Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request: Request) => edge.fetch(request),
  });
  console.log(`listening ${server.port}`);
} else {
  const { serve } = await import("@hono/node-server");
  serve(
    { fetch: (request: Request) => edge.fetch(request), hostname: "127.0.0.1", port: 0 },
    (info) => console.log(`listening ${info.port}`),
  );
}
