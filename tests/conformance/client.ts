/**
 * The conformance suite's HTTP client: one `send()` over TCP or a Unix socket on Deno, Bun
 * and Node, plus `rawExchange()` for byte-level checks (chunked bodies, keep-alive).
 *
 * Target from the environment: CONFORMANCE_URL=http://127.0.0.1:port or
 * CONFORMANCE_UNIX=/abs/path.sock.
 *
 * @module
 */
import { request as httpRequest } from "node:http";
import { createConnection, type Socket } from "node:net";
import process from "node:process";

/** Longest any single exchange may take before the suite calls it a failure. */
export const EXCHANGE_MS_MAX = 10_000;
/** Largest response the raw client buffers. */
const RAW_RESPONSE_BYTES_MAX = 4 * 1024 * 1024;

/** Where the server under test listens. */
export type Target =
  | { transport: "tcp"; baseUrl: string; host: string; port: number }
  | { transport: "unix"; path: string };

/** A response, fully read. */
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

/** Read the target from CONFORMANCE_URL / CONFORMANCE_UNIX; undefined when neither is set. */
export function targetFromEnv(): Target | undefined {
  const unix = process.env.CONFORMANCE_UNIX;
  if (unix !== undefined && unix !== "") return { transport: "unix", path: unix };
  const url = process.env.CONFORMANCE_URL;
  if (url === undefined || url === "") return undefined;
  const parsed = new URL(url);
  return {
    transport: "tcp",
    baseUrl: parsed.origin,
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: Number(parsed.port || "80"),
  };
}

type Runtime = "deno" | "bun" | "node";
const runtime: Runtime = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** Send one request and read the whole answer. */
export async function send(
  target: Target,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  if (target.transport === "tcp") return await viaFetch(`${target.baseUrl}${path}`, method, init);
  if (runtime === "node") return await viaNodeHttp(target.path, method, path, init);
  return await viaFetch(`http://localhost${path}`, method, init, target.path);
}

async function viaFetch(
  url: string,
  method: string,
  init: { headers?: Record<string, string>; body?: string },
  unixPath?: string,
): Promise<Reply> {
  const extra: Record<string, unknown> = {};
  // deno-lint-ignore no-explicit-any
  let client: any;
  if (unixPath !== undefined && runtime === "deno") {
    // deno-lint-ignore no-explicit-any
    const deno = (globalThis as any).Deno;
    client = deno.createHttpClient({ proxy: { transport: "unix", path: unixPath } });
    extra.client = client;
  }
  if (unixPath !== undefined && runtime === "bun") extra.unix = unixPath;
  try {
    const response = await fetch(url, {
      method,
      headers: init.headers ?? {},
      signal: AbortSignal.timeout(EXCHANGE_MS_MAX),
      ...(init.body !== undefined ? { body: init.body } : {}),
      ...extra,
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  } finally {
    client?.close();
  }
}

function viaNodeHttp(
  socketPath: string,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { socketPath, method, path, headers: init.headers ?? {}, timeout: EXCHANGE_MS_MAX },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === "string") headers.set(name, value);
            else if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
          }
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers, text });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("exchange timed out")));
    req.on("error", reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

/** Open a raw connection to the target. */
export function rawConnect(target: Target): Socket {
  return target.transport === "unix"
    ? createConnection({ path: target.path })
    : createConnection({ host: target.host, port: target.port });
}

/**
 * Write `bytes` on a fresh connection and collect what comes back until the server closes,
 * `doneWhen(text)` is true, or EXCHANGE_MS_MAX passes. Returns the received text.
 */
export function rawExchange(
  target: Target,
  bytes: string,
  doneWhen: (received: string) => boolean,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = rawConnect(target);
    let received = "";
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(finish, EXCHANGE_MS_MAX);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.length > RAW_RESPONSE_BYTES_MAX || doneWhen(received)) finish();
    });
    socket.on("end", finish);
    socket.on("close", finish);
    socket.on("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/** Count complete HTTP/1.1 status lines in raw response text. */
export function statusLines(raw: string): number[] {
  return [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}

/** "Host" header value suitable for raw requests to the target. */
export function hostHeader(target: Target): string {
  return target.transport === "unix" ? "localhost" : `${target.host}:${target.port}`;
}
