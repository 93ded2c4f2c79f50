/**
 * Parse BIND_ADDR: `host:port`, `[v6]:port` or `unix:///absolute/path`.
 *
 * @module
 */
import { UNIX_PATH_BYTES_MAX } from "./limits.ts";
import { ListenError } from "./types.ts";

/** A parsed bind address (port may be 0 = any free port). */
export type BindTarget =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

const UNIX_PREFIX = "unix://";
/** RFC 1123 host names and IPv4 literals: dot-separated labels of letters, digits, hyphens. */
const HOST_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Parse a bind address.
 *
 * @example parseBindAddr("127.0.0.1:8090") // {transport: "tcp", hostname: "127.0.0.1", port: 8090}
 * @example parseBindAddr("unix:///run/rewarder/api.sock") // {transport: "unix", path: "/run/..."}
 * @throws {ListenError} `bind_addr_invalid` (the message never repeats the input).
 */
export function parseBindAddr(bindAddr: string): BindTarget {
  if (bindAddr.startsWith(UNIX_PREFIX)) return parseUnix(bindAddr.slice(UNIX_PREFIX.length));
  const bracketed = /^\[([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)\]:(\d{1,5})$/.exec(bindAddr);
  const plain = /^([^:[\]]+):(\d{1,5})$/.exec(bindAddr);
  const match = bracketed ?? plain;
  const hostname = match?.[1];
  const port = Number(match?.[2]);
  if (hostname === undefined || !Number.isInteger(port) || port > 65_535) {
    throw new ListenError("bind_addr_invalid", "expected host:port, [v6]:port or unix:///path");
  }
  if (plain !== null && !HOST_PATTERN.test(hostname)) {
    throw new ListenError("bind_addr_invalid", "host must be an IP literal or a DNS name");
  }
  return { transport: "tcp", hostname, port };
}

function parseUnix(path: string): BindTarget {
  if (
    !path.startsWith("/") || path.endsWith("/") || path.includes("\0") ||
    path.split("/").includes("..")
  ) {
    throw new ListenError(
      "bind_addr_invalid",
      "unix socket path must be an absolute file path, without '..'",
    );
  }
  if (new TextEncoder().encode(path).length > UNIX_PATH_BYTES_MAX) {
    throw new ListenError(
      "bind_addr_invalid",
      `unix socket path over ${UNIX_PATH_BYTES_MAX} bytes`,
    );
  }
  return { transport: "unix", path };
}
