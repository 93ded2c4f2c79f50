/**
 * Processes and servers of the edge tests (contract §13): a plain static file server (what a
 * bucket or CDN does), a child process whose base URL is read from the line announcing its
 * port, `deno serve edge.ts` under deny flags, and the edge bundled for Bun and Node
 * (edge_runtime_launcher.ts). Test-only.
 *
 * @module
 */
import { join } from "node:path";

const REPO = new URL("../../", import.meta.url).pathname;
/** Longest a process may take to bind, or a bundle to build (a loaded 2-core machine). */
export const START_MS_MAX = 60_000;

/** A plain static file server over `dir` (what a bucket or CDN does). */
export function staticServer(dir: string): { url: string; server: Deno.HttpServer } {
  let port = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: (a) => (port = a.port) },
    async (req) => {
      const segments = new URL(req.url).pathname.split("/").slice(1).map(decodeURIComponent);
      if (segments.some((s) => s === ".." || s === "." || s.includes("/"))) {
        return new Response(null, { status: 404 });
      }
      try {
        return new Response(await Deno.readFile(join(dir, ...segments)));
      } catch {
        return new Response(null, { status: 404 });
      }
    },
  );
  return { url: `http://127.0.0.1:${port}`, server };
}

/** Starts `cmd`, waits for the line announcing its port (stdout or stderr), returns the base URL. */
export async function startProcess(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  portLine: RegExp,
): Promise<{ base: string; child: Deno.ChildProcess; output: () => string }> {
  const child = new Deno.Command(cmd, {
    args,
    env,
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let seen = "";
  let announced: (port: string) => void = () => {};
  const port = new Promise<string>((resolve) => (announced = resolve));
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      seen += chunk;
      const m = portLine.exec(seen);
      if (m) announced(m[1]!);
    }
  };
  const ended = Promise.all([pump(child.stdout), pump(child.stderr)]).then(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), START_MS_MAX);
  });
  const got = await Promise.race([port, ended, timedOut]);
  clearTimeout(timer);
  if (typeof got === "string") {
    return { base: `http://127.0.0.1:${got}`, child, output: () => seen };
  }
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
  await child.status;
  throw new Error(`${cmd} did not announce a port; output: ${seen}`);
}

export async function stop(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  await child.status;
}

export function bunPath(): string {
  const local = join(REPO, ".tools/node_modules/.bin/bun");
  try {
    Deno.statSync(local);
    return local;
  } catch {
    return "bun";
  }
}

/** The arguments of `deno serve edge.ts` as Deno Deploy runs it: no read, write, run or FFI. */
export const DENO_SERVE_EDGE_ARGS: readonly string[] = [
  "serve",
  "--host",
  "127.0.0.1",
  "--port",
  "0",
  "--allow-net",
  "--allow-env",
  "--deny-read",
  "--deny-write",
  "--deny-run",
  "--deny-ffi",
  "edge.ts",
];

/** The line `deno serve` announces its port with. */
export const DENO_SERVE_PORT_LINE = /Listening on http:\/\/[^:]+:(\d+)/;

/** Bundles tests/support/edge_runtime_launcher.ts into `dir` for Bun and Node; its path. */
export async function bundleEdgeLauncher(dir: string): Promise<string> {
  const bundle = join(dir, "edge_launcher.mjs");
  const built = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--format",
      "esm",
      "-o",
      bundle,
      "tests/support/edge_runtime_launcher.ts",
    ],
    cwd: REPO,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(START_MS_MAX),
  }).output();
  if (built.code !== 0) {
    throw new Error(`deno bundle failed: ${new TextDecoder().decode(built.stderr)}`);
  }
  return bundle;
}

/** The line the bundled launcher announces its port with. */
export const LAUNCHER_PORT_LINE = /listening (\d+)/;
