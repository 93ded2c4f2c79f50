// The layering as a test: dependencies point inward only, core ← shell ← middleware/routes ←
// app ← main, with the contract's wire schemas (src/api) on the core (docs/ARCHITECTURE.md). Every .ts source file's import specifiers are parsed
// (static imports and re-exports, dynamic `import()`, `new URL(…, import.meta.url)` for
// workers) and each relative one resolved to a path in the repository.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;
const SELF = "tests/import_graph_test.ts";

/** Folders never read: dependencies, build output, tool installs, scratch space. */
const SKIPPED_DIRS = new Set([
  "node_modules",
  "dist",
  ".tools",
  ".git",
  "_scratch",
  ".rewarder-data",
]);

/** One import of one file: the specifier as written and, if relative, the file it names. */
interface ImportEdge {
  from: string;
  specifier: string;
  /** Repository-relative path of the target; undefined for a package or `node:` builtin. */
  to: string | undefined;
}

const SPECIFIER = new RegExp(
  [
    String.raw`(?:^|[\s;])(?:import|export)\s[^"'\`;]*?\sfrom\s*["']([^"']+)["']`,
    String.raw`(?:^|[\s;])import\s*["']([^"']+)["']`,
    String.raw`\bimport\(\s*["']([^"']+)["']\s*[,)]`,
    // A worker or module loaded by URL; a URL naming a data file or script is not an import.
    String.raw`\bnew URL\(\s*["']([^"']+\.(?:ts|mts|js|mjs))["']\s*,\s*import\.meta\.url\s*\)`,
  ].join("|"),
  "gm",
);

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(entry.name) && !entry.name.startsWith(".")) {
        out.push(...await sourceFiles(rel));
      }
    } else if (
      entry.isFile() && /\.(ts|tsx|mts)$/.test(entry.name) && !entry.name.endsWith(".d.ts")
    ) {
      out.push(rel);
    }
  }
  return out;
}

/** Comments are dropped first, so a path in a doc comment is not an import. */
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

function importsOf(file: string, text: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const m of stripComments(text).matchAll(SPECIFIER)) {
    const specifier = m[1] ?? m[2] ?? m[3] ?? m[4];
    if (specifier === undefined) continue;
    const to = specifier.startsWith(".")
      ? normalize(relative(ROOT, join(ROOT, dirname(file), specifier)))
      : undefined;
    edges.push({ from: file, specifier, to });
  }
  return edges;
}

/** A module that exists only for tests: under tests/, a `_test.ts` file, or `_test…`/`_…probe`. */
export function isTestOnly(path: string): boolean {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return path.startsWith("tests/") || base.endsWith("_test.ts") || base.startsWith("_test") ||
    /^_.*_probe\.ts$/.test(base);
}

/** A module the service or its CLI runs. */
function isProduction(path: string): boolean {
  return (path === "main.ts" || /^(src|middleware|routes)\//.test(path)) && !isTestOnly(path);
}

const within = (path: string, folder: string) => path.startsWith(folder);
const isOuterLayer = (p: string) =>
  within(p, "middleware/") || within(p, "routes/") || p === "src/app.ts" || p === "main.ts";

/** The rules; each returns a message for a violating edge, else undefined. */
const RULES: ReadonlyArray<(e: ImportEdge) => string | undefined> = [
  (e) => {
    if (!within(e.from, "src/core/")) return undefined;
    if (e.to !== undefined) {
      return within(e.to, "src/core/") ? undefined : "src/core imports only src/core";
    }
    // Packages (npm) only; a `node:` builtin would tie the engine to a runtime (tests may use
    // node:assert and the like).
    return e.specifier.startsWith("node:") && !isTestOnly(e.from)
      ? "src/core imports no runtime builtin"
      : undefined;
  },
  (e) =>
    within(e.from, "src/api/") && e.to !== undefined && !within(e.to, "src/core/") &&
      !within(e.to, "src/api/")
      ? "src/api (the contract's wire schemas) imports only src/core and packages"
      : undefined,
  (e) =>
    within(e.from, "src/shell/") && e.to !== undefined && isOuterLayer(e.to)
      ? "src/shell never imports middleware/, routes/, src/app.ts or main.ts"
      : undefined,
  (e) =>
    (within(e.from, "middleware/") || within(e.from, "routes/")) && e.to !== undefined &&
      (e.to === "src/app.ts" || e.to === "main.ts")
      ? "middleware/ and routes/ never import src/app.ts or main.ts"
      : undefined,
  (e) =>
    isProduction(e.from) && e.to !== undefined && isTestOnly(e.to)
      ? "production modules never import test-only modules"
      : undefined,
];

async function graph(): Promise<ImportEdge[]> {
  const edges: ImportEdge[] = [];
  for (const file of await sourceFiles("")) {
    // This file's own examples below are strings, not imports.
    if (file === SELF) continue;
    edges.push(...importsOf(file, await readFile(join(ROOT, file), "utf8")));
  }
  return edges;
}

Deno.test("import graph: dependencies point inward (core ← shell ← middleware/routes ← app ← main)", async () => {
  const edges = await graph();
  // The parser sees the imports it must judge: a file known to import each layer.
  assert.ok(edges.some((e) => e.from === "src/app.ts" && e.to?.startsWith("routes/")));
  assert.ok(edges.some((e) => e.from === "main.ts" && e.to === "src/app.ts"));
  assert.ok(edges.some((e) => within(e.from, "src/shell/") && e.to?.startsWith("src/core/")));
  const violations = edges.flatMap((e) =>
    RULES.map((rule) => rule(e)).filter((m) => m !== undefined).map((m) =>
      `${e.from} → ${e.specifier}: ${m}`
    )
  );
  assert.deepEqual(violations, []);
});

Deno.test("import graph: every relative import names a file that exists", async () => {
  const missing: string[] = [];
  for (const e of await graph()) {
    if (
      e.to === undefined || e.to.endsWith("/") || !/\.(ts|tsx|mts|js|mjs|wasm|json)$/.test(e.to)
    ) continue;
    try {
      await readFile(join(ROOT, e.to));
    } catch {
      missing.push(`${e.from} → ${e.specifier}`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("import graph: the rules catch what they forbid", () => {
  const edge = (from: string, specifier: string): ImportEdge =>
    importsOf(from, `import { x } from "${specifier}";`)[0]!;
  const broken = (e: ImportEdge) => RULES.some((rule) => rule(e) !== undefined);
  assert.ok(broken(edge("src/core/a.ts", "../shell/log.ts")));
  assert.ok(broken(edge("src/core/a.ts", "node:fs")));
  assert.ok(!broken(edge("src/core/a_test.ts", "node:assert/strict")));
  assert.ok(!broken(edge("src/core/a.ts", "@noble/hashes/sha2.js")));
  assert.ok(broken(edge("src/shell/x/a.ts", "../../../middleware/context.ts")));
  assert.ok(broken(edge("src/shell/a.ts", "../app.ts")));
  assert.ok(broken(edge("routes/a.ts", "../main.ts")));
  assert.ok(broken(edge("middleware/a.ts", "../src/app.ts")));
  assert.ok(broken(edge("src/shell/a.ts", "../../tests/support/fixtures.ts")));
  assert.ok(broken(edge("middleware/a.ts", "./_test_app.ts")));
  assert.ok(!broken(edge("middleware/a_test.ts", "./_test_app.ts")));
  assert.ok(!broken(edge("routes/a.ts", "../src/shell/app_services.ts")));
  assert.ok(broken(edge("src/api/schemas.ts", "../shell/log.ts")));
  assert.ok(!broken(edge("src/api/schemas.ts", "../core/ids.ts")));
  // Every way of writing an import is parsed; comments are not.
  const text = [
    `import type { A } from "./a.ts";`,
    `export { b } from "./b.ts";`,
    `import "./c.ts";`,
    `const d = await import("./d.ts");`,
    `new Worker(new URL("./e.ts", import.meta.url));`,
    `// import { f } from "./f.ts";`,
    `/** see import("./g.ts") */`,
  ].join("\n");
  assert.deepEqual(importsOf("src/x.ts", text).map((e) => e.to), [
    "src/a.ts",
    "src/b.ts",
    "src/c.ts",
    "src/d.ts",
    "src/e.ts",
  ]);
});
