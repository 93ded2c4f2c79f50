/**
 * The edge (contract §13): `export default { fetch }` for `deno serve edge.ts`, Deno Deploy,
 * Bun (`Bun.serve(edge)`) and Node (through `@hono/node-server`). Read-only retrieval of one
 * tenant's publication from an untrusted `ORIGIN_URL`, every pointer and envelope checked
 * against the pinned keys before it is served (src/edge/edge_app.ts; docs/EDGE.md).
 *
 * Pure: importing this module does nothing (no I/O, no environment read, no timer), and its
 * module graph holds no file system, worker, subprocess or listener (tests/edge_purity_test.ts).
 * The app is built on the first request, from:
 * - the `env` argument of `fetch`, when the host passes one holding `EDGE_TENANT` (Workers-style
 *   bindings, tests);
 * - otherwise the process environment, read then and only then: `deno serve` and Deno Deploy
 *   pass no environment to `fetch` (its second argument is the connection info), so this is
 *   the one place the edge reads it.
 * Key documents come as content (`EDGE_KEYS_JSON`, `EDGE_JWT_KEYS_JSON`); `ORIGIN_DIR`,
 * `EDGE_KEYS_PATH` and `EDGE_JWT_KEYS` need the launcher (`deno task edge`, edge_main.ts),
 * which reads them from disk. A configuration error answers 500 `internal` to every request
 * and is logged once, naming the variable.
 *
 * @module
 */
import type { Env } from "./src/shell/config/config_parse.ts";
import { createEdgeApp, type EdgeApp } from "./src/edge/edge_app.ts";
import { edgeOptionsFromEnv } from "./src/edge/edge_config.ts";

export { createEdgeApp } from "./src/edge/edge_app.ts";
export { edgeOptionsFromEnv } from "./src/edge/edge_config.ts";

let built: Promise<EdgeApp> | undefined;

function isEnvRecord(value: unknown): value is Env {
  return typeof value === "object" && value !== null &&
    typeof (value as Record<string, unknown>)["EDGE_TENANT"] === "string";
}

/** The process environment, on whichever runtime runs us (read inside the first fetch only). */
function processEnvironment(): Env {
  const g = globalThis as {
    Deno?: { env: { toObject(): Record<string, string> } };
    process?: { env: Record<string, string | undefined> };
  };
  if (g.Deno !== undefined) return g.Deno.env.toObject();
  return g.process?.env ?? {};
}

async function build(env: unknown): Promise<EdgeApp> {
  const options = await edgeOptionsFromEnv(isEnvRecord(env) ? env : processEnvironment());
  return createEdgeApp(options);
}

function unconfigured(): Response {
  const body = { error: { code: "INTERNAL", reason: "internal", corr_id: crypto.randomUUID() } };
  return new Response(JSON.stringify(body), {
    status: 500,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** Serves one request; the second argument is the host's env record, when it passes one. */
async function fetch(request: Request, env?: unknown): Promise<Response> {
  if (built === undefined) {
    built = build(env);
    built.catch((err: unknown) => {
      console.error(`edge: ${err instanceof Error ? err.message : "configuration failed"}`);
    });
  }
  let app: EdgeApp;
  try {
    app = await built;
  } catch {
    return unconfigured();
  }
  return await app.fetch(request);
}

export default { fetch };
