/**
 * The routes the service answers are the routes its documents describe: every method and path
 * registered on the built app is in the OpenAPI document (`/openapi.json`) and in the route table
 * of docs/API.md, and neither document names a route the app does not answer. The auditor's page
 * (`/audit/`, static files outside the contract's §10) is in docs/API.md and not in OpenAPI.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildApp } from "../src/app.ts";
import { loadConfig } from "../src/shell/config/config.ts";
import { ensureDevMaterial } from "../src/shell/keys/dev_bootstrap.ts";
import { buildServices } from "../src/shell/services.ts";

const VECTORS = new URL("../vectors/", import.meta.url).pathname;
const API_MD = new URL("../docs/API.md", import.meta.url);

/** Hono's `:name` and `:name{regex}` parameters in OpenAPI's `{name}` spelling. */
function templateOf(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z_]+)(\{[^}]*\})?/g, "{$1}");
}

/** `METHOD path` pairs of docs/API.md's route table (a row may list several paths and methods). */
function apiMdRoutes(markdown: string): Set<string> {
  const section = markdown.split("\n## Routes\n")[1]!.split("\n## ")[0]!;
  const out = new Set<string>();
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 4 || !/^[A-Z, ]+$/.test(cells[1]!)) continue;
    const methods = cells[1]!.split(",").map((m) => m.trim()).filter((m) => m !== "");
    for (const [, path] of cells[2]!.matchAll(/`([^`]+)`/g)) {
      for (const m of methods) out.add(`${m} ${path!.split("?")[0]}`);
    }
  }
  return out;
}

Deno.test("every route the app answers is documented in OpenAPI and docs/API.md, and only those", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "rewarder-routes-"));
  try {
    const { paths } = await ensureDevMaterial(dataDir, VECTORS);
    const config = loadConfig({ DATA_DIR: dataDir });
    const built = await buildServices(config, paths, { version: "test", env: {} });
    try {
      const { app } = buildApp(built.services);
      const answered = new Set(
        app.routes.filter((r) => r.method !== "ALL").map((r) =>
          `${r.method} ${templateOf(r.path)}`
        ),
      );
      // The auditor's page: `/audit` redirects to `/audit/`, which serves the page's files.
      assert.ok(answered.delete("GET /audit"), "GET /audit");
      assert.ok(answered.delete("GET /audit/{file}"), "GET /audit/{file}");
      assert.ok(answered.size >= 10, `routes found: ${answered.size}`);

      const doc = await (await app.request("/openapi.json")).json() as {
        paths: Record<string, Record<string, unknown>>;
      };
      const documented = new Set<string>();
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
      }
      assert.deepEqual([...documented].sort(), [...answered].sort(), "OpenAPI paths");

      const table = apiMdRoutes(await readFile(API_MD, "utf8"));
      const expected = new Set([...answered, "GET /audit/"]);
      assert.deepEqual([...table].sort(), [...expected].sort(), "docs/API.md route table");
    } finally {
      await built.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
