import assert from "node:assert/strict";
import { serveGuarded } from "./conn_guard.ts";

Deno.test("a connection already gone when the guard aborts it does not end the process", async () => {
  // Deno's engine closes the connection's resource in an abort listener; a peer that closed it
  // at the same instant makes that listener throw BadResource, reported as uncaught. Stand in
  // for the engine with a server whose abort listener throws exactly that.
  let aborted!: () => void;
  const abortSeen = new Promise<void>((resolve) => (aborted = resolve));
  const serveOn = (conn: Deno.Conn, signal: AbortSignal) => {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    signal.addEventListener("abort", () => {
      try {
        conn.close();
      } catch { /* closed */ }
      finish();
      aborted();
      throw new Deno.errors.BadResource("Bad resource ID");
    });
    return { finished, shutdown: () => Promise.resolve() } as unknown as Deno.HttpServer;
  };
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = serveGuarded(serveOn, listener, () => new Response("ok"), {
    headerDeadlineMs: 20,
    keepAliveIdleMs: 20,
    connectionsMax: 4,
  });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await abortSeen; // the header deadline fired and the guard aborted: the test is still running
  client.close();
  assert.equal(await server.shutdown(1_000), true);
});
