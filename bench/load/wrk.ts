/**
 * Closed-loop throughput point with `wrk` (Debian package) and bench/load/wrk_report.lua.
 *
 * @module
 */

/** One wrk measurement. */
export interface WrkResult {
  command: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
  bytesPerRequest: number;
}

const ROOT = new URL("../../", import.meta.url).pathname;

async function run(
  url: string,
  env: Record<string, string>,
  connections: number,
  seconds: number,
  threads: number,
) {
  const args = [
    `-t${threads}`,
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "-s",
    "bench/load/wrk_report.lua",
    url,
  ];
  const out = await new Deno.Command("wrk", { args, env, cwd: ROOT }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!out.success || !line) {
    throw new Error(`wrk failed: ${text} ${new TextDecoder().decode(out.stderr)}`);
  }
  return { args, json: JSON.parse(line.slice("WRK_JSON ".length)) };
}

/** Warms up for `warmS`, then measures for `measureS`. */
export async function wrk(
  url: string,
  req: { method?: string; body?: string; auth?: string },
  o: { threads: number; connections: number; warmS: number; measureS: number },
): Promise<WrkResult> {
  const env: Record<string, string> = { WRK_METHOD: req.method ?? "GET" };
  if (req.body) env.WRK_BODY = req.body;
  if (req.auth) env.WRK_AUTH = req.auth;
  await run(url, env, o.connections, o.warmS, o.threads);
  const { args, json: j } = await run(url, env, o.connections, o.measureS, o.threads);
  const ms = (us: number) => Math.round(us / 100) / 10;
  const shown = Object.keys(env).map((k) =>
    k === "WRK_AUTH"
      ? `${k}="Macaroon $TOKEN"`
      : k === "WRK_BODY"
      ? `${k}='<compute body>'`
      : `${k}=${env[k]}`
  );
  return {
    command: `${shown.join(" ")} wrk ${args.join(" ")}`,
    rps: Math.round(j.requests / (j.duration_us / 1e6)),
    p50Ms: ms(j.p50_us),
    p99Ms: ms(j.p99_us),
    maxMs: ms(j.max_us),
    requests: j.requests,
    non2xx: j.non2xx,
    socketErrors: j.connect_errors + j.read_errors + j.write_errors + j.timeouts,
    bytesPerRequest: j.requests > 0 ? Math.round(j.bytes / j.requests) : 0,
  };
}
