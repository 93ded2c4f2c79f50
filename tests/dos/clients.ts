/**
 * Hostile clients for the DoS suite, each bounded in connections, bytes and time: raw
 * `node:net` requests (conflicting framing), slow headers (slowloris), slow bodies, and
 * `slowhttptest` runs.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { connect, type Socket } from "node:net";
import { Buffer } from "node:buffer";

/** Outcome of a raw request: the status code, or how the connection ended without one. */
export type RawOutcome = { status: number } | { closed: true } | { timedOut: true };

/**
 * Sends `head` (+ `body`) on a fresh connection and waits up to `waitMs` for a status line.
 * The socket is always destroyed at the end.
 */
export function rawRequest(
  host: string,
  port: number,
  head: string,
  body: Uint8Array | string = "",
  waitMs = 8_000,
): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    let received = "";
    let settled = false;
    const done = (o: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => done({ timedOut: true }), waitMs);
    socket.on("data", (d: Uint8Array) => {
      received += Buffer.from(d).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      if (m) done({ status: Number(m[1]) });
    });
    socket.on("error", () => done({ closed: true }));
    socket.on("close", () => done({ closed: true }));
    socket.write(head);
    if (body.length > 0) socket.write(typeof body === "string" ? body : Buffer.from(body));
  });
}

/** What a slow-client run saw. */
export interface SlowResult {
  opened: number;
  /** Connections the server closed (or answered) before the window ended. */
  closedByServer: number;
  /** Connections still open at the end of the window (held by the server). */
  heldAtEnd: number;
  /** Status codes received, by code. */
  statuses: Record<string, number>;
  /** When the last connection the server answered or closed did so, ms after the start. */
  lastClosedAfterMs?: number;
}

/**
 * `count` connections that send a partial request head, then one header line every
 * `dripMs`, for `windowMs` (slowloris); or (`mode: "body"`) a full head with a declared
 * Content-Length, then one body byte every `dripMs` (slow body). With `untilAllClosed`, the
 * window ends as soon as the server has answered or closed every connection (`windowMs` is
 * then only the bound), and `lastClosedAfterMs` says when that was.
 */
export async function slowClients(
  host: string,
  port: number,
  opts: {
    count: number;
    dripMs: number;
    windowMs: number;
    mode: "headers" | "body";
    path: string;
    untilAllClosed?: boolean;
    /** Extra request header lines (e.g. an Authorization, so the body is read at all). */
    headers?: Record<string, string>;
  },
): Promise<SlowResult> {
  const t0 = performance.now();
  let lastClosedAfterMs: number | undefined;
  const sockets: { s: Socket; closed: boolean; status?: number }[] = [];
  for (let i = 0; i < opts.count; i++) {
    const entry: { s: Socket; closed: boolean; status?: number } = {
      s: connect(port, host),
      closed: false,
    };
    let buf = "";
    const ended = () => (lastClosedAfterMs = Math.round(performance.now() - t0));
    entry.s.on("data", (d: Uint8Array) => {
      buf += Buffer.from(d).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf);
      if (m && entry.status === undefined) {
        entry.status = Number(m[1]);
        ended();
      }
    });
    entry.s.on("error", () => (entry.closed = true));
    entry.s.on("close", () => {
      if (!entry.closed && entry.status === undefined) ended();
      entry.closed = true;
    });
    const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    const head = `POST ${opts.path} HTTP/1.1\r\nHost: ${host}\r\n${extra}`;
    entry.s.write(
      opts.mode === "body"
        ? `${head}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n`
        : head,
    );
    sockets.push(entry);
  }
  const drip = setInterval(() => {
    for (const e of sockets) {
      if (!e.closed) e.s.write(opts.mode === "body" ? " " : `X-Slow-${Math.random()}: 1\r\n`);
    }
  }, opts.dripMs);
  if (opts.untilAllClosed) {
    // Bounded by windowMs; polled, so the window ends when the server has cut them all.
    const deadline = t0 + opts.windowMs;
    while (
      performance.now() < deadline && sockets.some((e) => !e.closed && e.status === undefined)
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
  } else {
    await new Promise((r) => setTimeout(r, opts.windowMs));
  }
  clearInterval(drip);
  const statuses: Record<string, number> = {};
  let closed = 0;
  for (const e of sockets) {
    if (e.status !== undefined) statuses[e.status] = (statuses[e.status] ?? 0) + 1;
    if (e.closed || e.status !== undefined) closed++;
    e.s.destroy();
  }
  return {
    opened: sockets.length,
    closedByServer: closed,
    heldAtEnd: sockets.length - closed,
    statuses,
    ...(lastClosedAfterMs === undefined ? {} : { lastClosedAfterMs }),
  };
}

/** Whether `cmd` can be run (it is on PATH). */
function haveCommand(cmd: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: "ignore" });
    p.on("error", () => resolve(false));
    p.on("exit", () => resolve(true));
  });
}

/** Whether slowhttptest is installed. */
export function haveSlowhttptest(): Promise<boolean> {
  return haveCommand("slowhttptest", ["-h"]);
}

/** Seconds past its own duration after which a slowhttptest run is interrupted (SIGINT). */
export const SLOWHTTPTEST_OVERRUN_S_MAX = 60;
/** Seconds after that SIGINT before SIGKILL. */
export const SLOWHTTPTEST_KILL_GRACE_S = 10;
/** Characters of slowhttptest's output kept for failure messages. */
const RAW_TAIL_CHARS = 1_500;

/**
 * Runs slowhttptest in slowloris (`-H`) or slow-body (`-B`) mode with few connections and a
 * short duration; returns its final summary line ("closed / pending / connected").
 *
 * Its output is read line by line (`stdbuf -oL`: piped, slowhttptest's stdio would hold the
 * whole report in its buffer until a clean exit, and a run cut short would report nothing).
 * Its clock runs slower than the wall clock on a busy machine, so the bound is generous, and
 * it is ended with SIGINT, which makes it print its last status, before any SIGKILL.
 * `probeS` is its probe's timeout (`-p`): "service available" means the probe got an answer
 * within it.
 */
export async function slowhttptest(
  url: string,
  mode: "-H" | "-B",
  opts: { connections: number; durationS: number; probeS: number },
): Promise<{ exitCode: number | null; signal: string | null; summary: string; raw: string }> {
  const args = [
    mode,
    "-c",
    String(opts.connections),
    "-r",
    String(opts.connections), // open them all in the first second
    "-i",
    "2", // seconds between follow-up data
    "-s",
    "8192", // declared body length (-B)
    "-t",
    mode === "-B" ? "POST" : "GET",
    "-l",
    String(opts.durationS),
    "-x",
    "24",
    "-p",
    String(opts.probeS),
    "-u",
    url,
  ];
  const lineBuffered = await haveCommand("stdbuf", ["--version"]);
  const [cmd, argv] = lineBuffered
    ? ["stdbuf", ["-oL", "-eL", "slowhttptest", ...args]]
    : ["slowhttptest", args];
  return await new Promise((resolve) => {
    const p = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
    p.stderr!.on("data", (d: Uint8Array) => (out += new TextDecoder().decode(d)));
    let killer: ReturnType<typeof setTimeout> | undefined;
    const interrupter = setTimeout(() => {
      p.kill("SIGINT");
      killer = setTimeout(() => p.kill("SIGKILL"), SLOWHTTPTEST_KILL_GRACE_S * 1000);
    }, (opts.durationS + SLOWHTTPTEST_OVERRUN_S_MAX) * 1000);
    p.on("close", (code, signal) => {
      clearTimeout(interrupter);
      clearTimeout(killer);
      // Last status block: "closed: N", "pending: N", "connected: N", "service available: …".
      // deno-lint-ignore no-control-regex
      const plain = out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
      const grab = (k: string) => {
        const all = [...plain.matchAll(new RegExp(`${k}:\\s+(\\S+)`, "g"))];
        return all.length > 0 ? all[all.length - 1]![1] : "?";
      };
      resolve({
        exitCode: code,
        signal,
        raw: plain.slice(-RAW_TAIL_CHARS),
        summary: [
          `connected=${grab("connected")}`,
          `pending=${grab("pending")}`,
          `closed=${grab("closed")}`,
          `error=${grab("error")}`,
          `available=${grab("service available")}`,
          `(${/Exit status: ([^\n]+)/.exec(plain)?.[1] ?? "?"})`,
        ].join(" "),
      });
    });
  });
}
