/**
 * Starts the service (`main.ts`) or the bare Hono baseline on one runtime as a child process
 * on a free loopback port, and stops it by its own pid.
 *
 * @module
 */
import { readFile } from "node:fs/promises";

/** A runtime under test. */
export type Runtime = "deno" | "bun" | "node";

/** A started server. */
export interface Server {
  url: string;
  pid: number;
  command: string;
  /** Resident and peak resident memory now, MiB (from /proc). */
  rssMiB(): Promise<{ rss: number; peak: number } | undefined>;
  stop(): Promise<void>;
}

const ROOT = new URL("../../", import.meta.url).pathname;
/** How long a server may take to print its listening line (ms). */
const START_MS_MAX = 30_000;
/** How long a SIGTERM drain may take before SIGKILL (ms). */
const STOP_MS_MAX = 8_000;
/** Output kept from a child for error messages (chars). */
const LOG_CHARS_MAX = 8_192;

const COMMANDS: Record<"service" | "bare", Record<Runtime, string[]>> = {
  service: {
    // The permissions of `deno task start`.
    deno: [
      "deno",
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      "--allow-sys",
      "--deny-run",
      "--deny-ffi",
      "--unstable-no-legacy-abort",
      "main.ts",
    ],
    bun: ["bun", "main.ts"],
    node: ["node", "dist/main.mjs"],
  },
  bare: {
    deno: ["deno", "run", "--allow-read", "--allow-net", "--allow-env", "bench/load/bare_hono.ts"],
    bun: ["bun", "bench/load/bare_hono.ts"],
    node: ["node", "dist/bare_hono.mjs"],
  },
};

/**
 * Starts `kind` on `runtime` with `env` added to this process's environment; from `options.cwd`
 * (another checkout, for an A/B) instead of this one when given.
 */
export async function startServer(
  kind: "service" | "bare",
  runtime: Runtime,
  env: Record<string, string>,
  options: { cwd?: string; denoFlags?: string[] } = {},
): Promise<Server> {
  const cmd = [...COMMANDS[kind][runtime]];
  // BENCH_DENO_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof": extra flags of a Deno child.
  const extra = (Deno.env.get("BENCH_DENO_FLAGS") ?? "").split(" ").filter(Boolean);
  if (runtime === "deno") cmd.splice(2, 0, ...extra, ...(options.denoFlags ?? []));
  const child = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd: options.cwd ?? ROOT,
    env: { BIND_ADDR: "127.0.0.1:0", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  let onLine: ((line: string) => void) | undefined;
  // BENCH_SERVER_LOG=<file>: every child's output is also appended there (for a diagnosis).
  const logFile = Deno.env.get("BENCH_SERVER_LOG");
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      if (logFile) await Deno.writeFile(logFile, chunk, { append: true });
      const text = dec.decode(chunk, { stream: true });
      log = (log + text).slice(-LOG_CHARS_MAX);
      partial += text;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) onLine?.(line);
      if (partial.length > LOG_CHARS_MAX) partial = "";
    }
  };
  void drain(child.stdout).catch(() => {});
  void drain(child.stderr).catch(() => {});
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${cmd.join(" ")} did not listen in ${START_MS_MAX} ms: ${log}`)),
      START_MS_MAX,
    );
    child.status.then((s) => {
      clearTimeout(timer);
      reject(new Error(`${cmd.join(" ")} exited ${s.code}: ${log}`));
    });
    onLine = (line) => {
      const m = /^listening tcp (\S+):(\d+)$/.exec(line.trim());
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}:${m[2]}`);
      }
    };
  });
  onLine = undefined;
  const envShown = Object.entries(env)
    .filter(([k]) => !k.endsWith("_PATH") && k !== "DATA_DIR")
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  let stopped: Promise<void> | undefined;
  return {
    url,
    pid: child.pid,
    command: `${envShown ? envShown + " " : ""}${cmd.join(" ")}`,
    async rssMiB() {
      try {
        const status = await readFile(`/proc/${child.pid}/status`, "utf8");
        const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
        return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
      } catch {
        return undefined;
      }
    },
    stop() {
      stopped ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, STOP_MS_MAX);
        await child.status;
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}
