/**
 * A tiny Hono app served through `listen()`: the stand-in for main.ts in the cross-runtime
 * conformance harness (tests/conformance/run_all.sh). Reads BIND_ADDR (default
 * 127.0.0.1:0) and TLS_CERT_PATH/TLS_KEY_PATH and LISTEN_ENGINE (node: serveNode on Deno), and prints one readiness line on stdout:
 * `listening tcp <host>:<port>` or `listening unix <path>`.
 *
 * Routes: GET /healthz, GET /echo-peer (c.env.peer), POST /echo-json (parses a JSON body,
 * answers its size and a field), GET /slow?ms=N (sleeps N ≤ SLOW_MS_MAX ms).
 *
 * @module
 */
import { Hono } from "hono";
import process from "node:process";
import type { AppEnv } from "../../middleware/context.ts";
import { detectRuntime, listen } from "../../src/shell/listen/listen.ts";

/** Longest sleep /slow accepts: bounds a test's wait. */
const SLOW_MS_MAX = 5_000;
/** Largest body /echo-json reads (this fixture has no body-limit middleware of its own). */
const ECHO_BODY_BYTES_MAX = 2 * 1024 * 1024;

/** Build the fixture app (exported for in-process tests). */
export function buildFixtureApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/healthz", (c) => c.json({ ok: true, runtime: detectRuntime() }));
  app.get("/echo-peer", (c) => c.json({ peer: c.env.peer ?? null }));
  app.post("/echo-json", async (c) => {
    const text = await c.req.text();
    if (text.length > ECHO_BODY_BYTES_MAX) return c.json({ error: "oversize" }, 413);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return c.json({ error: "json" }, 400); // fixture only: no RewarderError envelope here
    }
    const name = typeof body === "object" && body !== null && "name" in body ? body.name : null;
    return c.json({ bytes: new TextEncoder().encode(text).length, name });
  });
  app.get("/slow", async (c) => {
    const ms = Math.min(Math.max(Number(c.req.query("ms") ?? "0") || 0, 0), SLOW_MS_MAX);
    // The harness waits for this line before SIGTERM, so the request is surely in flight.
    console.log("slow request started");
    await new Promise((resolve) => setTimeout(resolve, ms));
    return c.json({ sleptMs: ms });
  });
  return app;
}

if (import.meta.main ?? true) {
  const app = buildFixtureApp();
  const certPath = process.env.TLS_CERT_PATH;
  const keyPath = process.env.TLS_KEY_PATH;
  await listen(app.fetch, {
    bindAddr: process.env.BIND_ADDR ?? "127.0.0.1:0",
    engine: process.env.LISTEN_ENGINE === "node" ? "node" : "native",
    ...(certPath !== undefined && keyPath !== undefined ? { tls: { certPath, keyPath } } : {}),
    onListen: (addr) => {
      const where = addr.transport === "unix" ? addr.path : `${addr.hostname}:${addr.port}`;
      console.log(`listening ${addr.transport} ${where}`);
    },
  });
}
