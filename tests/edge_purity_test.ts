// edge.ts is pure (contract §13: `deno serve edge.ts` and Deno Deploy run it as is): its static
// module graph holds no file system, subprocess, worker, listener, store or runtime-specific
// shell module, and importing it performs no I/O — checked by walking the graph's import
// specifiers, and by importing it in a process that is denied every permission.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;

/** Import specifiers of a module's text: static imports and re-exports (not `import type`,
 * which is erased), side-effect imports, dynamic `import()`, and module URLs for workers. */
export function specifiersOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out: string[] = [];
  const patterns = [
    /(?:^|[\s;])(import|export)\s+(type\s+)?[^"'`;]*?\sfrom\s*["']([^"']+)["']/gm,
    /(?:^|[\s;])import\s*()()["']([^"']+)["']/gm,
    /\bimport\(\s*()()["']([^"']+)["']\s*[,)]/gm,
    /\bnew URL\(\s*()()["']([^"']+\.(?:ts|mts|js|mjs))["']\s*,\s*import\.meta\.url/gm,
  ];
  for (const re of patterns) {
    for (const m of code.matchAll(re)) if (m[2] === undefined || m[2] === "") out.push(m[3]!);
  }
  return out;
}

/** Code of a module without its comments and string literals' contents. */
function codeOf(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** Builtins that do I/O or spawn: never in the edge's graph. */
const FORBIDDEN_BUILTINS =
  /^node:(fs|fs\/promises|child_process|worker_threads|net|http|https|http2|dgram|cluster|tls|process|os|readline)$/;
/** Packages the edge's graph may import (pure computation only). */
const ALLOWED_PACKAGES = /^(hono(\/.*)?|zod(\/.*)?|hash-wasm|@noble\/[a-z0-9-]+(\/.*)?)$/;
/** Shell folders that listen, store, spawn or send: never in the edge's graph. */
const FORBIDDEN_FOLDERS = /^src\/shell\/(listen|store|engine|outbox|ledger|registry|files)\//;
/** Runtime APIs a shell module must not use to be in the edge's graph. */
const RUNTIME_API = /\b(Deno|Bun)\.[a-zA-Z]|\bprocess\.(env|exit|on)\b|\bnew Worker\(/;

/** Walks the graph from `entry` over `read`; returns the modules and the rule violations. */
export async function walk(
  entry: string,
  read: (path: string) => Promise<string>,
): Promise<{ modules: string[]; violations: string[] }> {
  const seen = new Set<string>();
  const violations: string[] = [];
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await read(file);
    if (file.startsWith("src/shell/") && RUNTIME_API.test(codeOf(text))) {
      violations.push(`${file}: a shell module using a runtime API`);
    }
    if (FORBIDDEN_FOLDERS.test(file)) violations.push(`${file}: listener/store/engine folder`);
    for (const spec of specifiersOf(text)) {
      if (spec.startsWith(".")) {
        const to = normalize(relative(ROOT, join(ROOT, dirname(file), spec)));
        if (/\.(ts|mts|js|mjs)$/.test(to)) queue.push(to);
      } else if (spec.startsWith("node:")) {
        if (FORBIDDEN_BUILTINS.test(spec)) violations.push(`${file} → ${spec}`);
      } else if (!ALLOWED_PACKAGES.test(spec)) {
        violations.push(`${file} → ${spec}: package not known to be pure`);
      }
    }
  }
  return { modules: [...seen], violations };
}

const readRepo = (path: string) => readFile(join(ROOT, path), "utf8");

Deno.test("edge.ts: its static module graph holds no I/O, worker, listener or store", async () => {
  const { modules, violations } = await walk("edge.ts", readRepo);
  // The walk reached what it must judge: the app, the core checks, the shell's pure helpers.
  for (
    const m of [
      "src/edge/edge_app.ts",
      "src/core/publication.ts",
      "src/core/gateway_jwt.ts",
      "middleware/request_path.ts",
    ]
  ) {
    assert.ok(modules.includes(m), `the walk reaches ${m}`);
  }
  assert.ok(!modules.includes("src/edge/origin_dir.ts"), "ORIGIN_DIR's reader is the launcher's");
  assert.deepEqual(violations, []);
});

Deno.test("edge purity walk: the rules catch what they forbid", async () => {
  const files: Record<string, string> = {
    "a.ts": [
      `import type { T } from "./typeonly.ts";`,
      `import { b } from "./src/shell/b.ts";`,
      `export { c } from "./src/shell/listen/c.ts";`,
      `const d = await import("node:child_process");`,
      `import "postgres";`,
      `// import "node:fs";`,
    ].join("\n"),
    "typeonly.ts": `import { readFile } from "node:fs/promises";`,
    "src/shell/b.ts": `export const b = Deno.readTextFileSync("x");`,
    "src/shell/listen/c.ts": `export const c = 1;`,
  };
  const { modules, violations } = await walk("a.ts", (p) => Promise.resolve(files[p] ?? ""));
  assert.ok(!modules.includes("typeonly.ts"), "type-only imports are erased");
  assert.equal(violations.length, 4, violations.join("\n"));
  assert.ok(violations.some((v) => v.includes("src/shell/b.ts: a shell module")));
  assert.ok(violations.some((v) => v.includes("listener/store")));
  assert.ok(violations.some((v) => v.includes("node:child_process")));
  assert.ok(violations.some((v) => v.includes("postgres")));
  // and the launcher's graph does reach the file system, so the walk sees such modules
  const launcher = await walk("edge_main.ts", readRepo);
  assert.ok(launcher.violations.some((v) => v.includes("node:fs")));
});

Deno.test("edge.ts: importing it does no I/O (every permission denied, fetch and timers trapped)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edge_purity_" });
  try {
    const script = join(dir, "import_edge.ts");
    await Deno.writeTextFile(
      script,
      [
        `const calls: string[] = [];`,
        `const g = globalThis as Record<string, unknown>;`,
        `for (const name of ["fetch", "setTimeout", "setInterval", "queueMicrotask"]) {`,
        `  const original = g[name] as (...a: unknown[]) => unknown;`,
        `  g[name] = (...a: unknown[]) => { calls.push(name); return original(...a); };`,
        `}`,
        `const serve = Deno.serve;`,
        `(Deno as { serve: unknown }).serve = (...a: unknown[]) => { calls.push("serve"); return (serve as (...a: unknown[]) => unknown)(...a); };`,
        `const edge = await import(${JSON.stringify(join(ROOT, "edge.ts"))});`,
        `if (typeof edge.default?.fetch !== "function") throw new Error("no default fetch");`,
        `console.log(JSON.stringify(calls));`,
      ].join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-check",
        "--config",
        join(ROOT, "deno.json"),
        "--deny-read",
        "--deny-write",
        "--deny-net",
        "--deny-run",
        "--deny-ffi",
        "--deny-env",
        "--deny-sys",
        script,
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "[]", "no fetch, timer or listener");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
