/**
 * Baseline for the service performance report (docs/RESULTS.md): a bare Hono app on the same
 * listener as the service (`src/shell/listen/listen.ts`), with none of the middleware, that
 * answers the two measured routes with static JSON of the same size as the service's answers:
 *
 * - `GET  /rewarder/epochs/:id`          → the envelope captured from the service (`c.json`)
 * - `POST /rewarder/epochs/:id/compute`  → reads and parses the body, answers the captured run
 *   record (`c.json`)
 *
 * Env: BIND_ADDR (default 127.0.0.1:0), BARE_ENVELOPE_PATH, BARE_RECORD_PATH (JSON files).
 * Prints `listening tcp host:port` like `main.ts`. Runs on Deno, Bun and (bundled) Node.
 *
 * @module
 */
import process from "node:process";
import { readFile } from "node:fs/promises";
import { Hono } from "hono";
import { listen } from "../../src/shell/listen/listen.ts";

/** Largest body the baseline reads (bytes), same as the service's REQ_BODY_MAX default. */
const BODY_BYTES_MAX = 1_048_576;

async function jsonFile(name: string): Promise<unknown> {
  const path = process.env[name];
  if (!path) throw new Error(`bare_hono: ${name} is required`);
  return JSON.parse(await readFile(path, "utf8"));
}

const envelope = await jsonFile("BARE_ENVELOPE_PATH");
const record = await jsonFile("BARE_RECORD_PATH");

const app = new Hono();
app.get("/healthz", (c) => c.json({ ok: true }));
app.get("/rewarder/epochs/:epoch_id", (c) => c.json(envelope as object));
app.post("/rewarder/epochs/:epoch_id/compute", async (c) => {
  const text = await c.req.text();
  if (text.length > BODY_BYTES_MAX) return c.json({ error: "too_large" }, 413);
  JSON.parse(text);
  return c.json(record as object);
});

const handle = await listen(app.fetch, {
  bindAddr: process.env.BIND_ADDR ?? "127.0.0.1:0",
  onListen: (addr) => {
    const where = addr.transport === "unix"
      ? `unix ${addr.path}`
      : `tcp ${addr.hostname}:${addr.port}`;
    process.stdout.write(`listening ${where}\n`);
  },
});
await handle.finished;
