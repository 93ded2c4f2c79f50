/**
 * Test helpers for the middleware tests (not used by production code): an app with the
 * error mapper (no jitter) and the correlation id, the middleware under test, and an echo
 * route; plus a loopback server on port 0.
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import type { AppEnv } from "./context.ts";
import { corrId } from "./corr_id.ts";
import { errorHandler, notFoundHandler } from "./error_mapper.ts";

/** An app: corrId → ...middleware → `POST|GET /echo` answering the body's byte length. */
export function testApp(...middleware: MiddlewareHandler<AppEnv>[]): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError(errorHandler({ jitterMsMax: 0 }));
  app.notFound(notFoundHandler({ jitterMsMax: 0 }));
  app.use(corrId());
  for (const m of middleware) app.use(m);
  app.all("/echo", async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer());
    return c.json({
      bytes: body.byteLength,
      text: body.byteLength <= 256 ? new TextDecoder().decode(body) : null,
      encoding: c.req.header("content-encoding") ?? null,
    });
  });
  return app;
}

/** Runs `fn` against a Deno.serve on 127.0.0.1:0 and always shuts the server down. */
export async function withServer(
  app: Hono<AppEnv>,
  fn: (origin: string, port: number) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, server.addr.port);
  } finally {
    await server.shutdown();
  }
}

/** A stream of `count` chunks of `chunkBytes` bytes each (fill byte 0x61 'a'). */
export function chunkedBody(count: number, chunkBytes: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (sent >= count) return ctrl.close();
      sent += 1;
      ctrl.enqueue(new Uint8Array(chunkBytes).fill(0x61));
    },
  });
}

/** Writes raw bytes to 127.0.0.1:port and returns the status line's code (bounded waits). */
export async function rawRequest(port: number, head: string, body?: Uint8Array): Promise<number> {
  const net = await import("node:net");
  const { Buffer } = await import("node:buffer");
  return await new Promise<number>((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("raw request timed out"));
    }, 5_000);
    socket.on("error", (e) => {
      // The server may close while we still write a refused body; the answer came first.
      const m = /^HTTP\/1\.1 (\d{3})/.exec(received);
      clearTimeout(timer);
      if (m) resolve(Number(m[1]));
      else reject(e);
    });
    socket.on("data", (d: Uint8Array) => {
      received += new TextDecoder().decode(d);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (m) {
        clearTimeout(timer);
        socket.destroy();
        resolve(Number(m[1]));
      }
    });
    socket.write(head);
    if (body !== undefined) socket.write(Buffer.from(body));
  });
}
