/**
 * BIND_ADDR parsing (contract §12): `host:port` (IPv4, `[IPv6]` or a hostname) or
 * `unix:///absolute/path.sock`.
 *
 * @module
 */
import { fail } from "./config_parse.ts";

/** Where the listener binds. */
export type BindAddr =
  | { transport: "tcp"; hostname: string; port: number }
  | { transport: "unix"; path: string };

/** Longest Unix socket path, bytes: sockaddr_un.sun_path is 108 bytes on Linux, NUL included. */
export const UNIX_PATH_BYTES_MAX = 107;

const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6_RE = /^[0-9A-Fa-f:.]{2,45}$/;

/** Parses a BIND_ADDR value; throws ConfigError naming BIND_ADDR. */
export function parseBindAddr(value: string): BindAddr {
  const name = "BIND_ADDR";
  if (value.startsWith("unix://")) {
    const p = value.slice("unix://".length);
    if (!p.startsWith("/") || p.endsWith("/") || p.includes("/../") || p.endsWith("/..")) {
      fail(name, "unix:///absolute/path for a socket", value);
    }
    if (new TextEncoder().encode(p).byteLength > UNIX_PATH_BYTES_MAX) {
      fail(name, `a socket path of at most ${UNIX_PATH_BYTES_MAX} bytes`, value);
    }
    return { transport: "unix", path: p };
  }
  const m = /^(\[[^\]]*\]|[^:[\]]+):([0-9]{1,5})$/.exec(value);
  const rule = "host:port, [ipv6]:port or unix:///absolute/path";
  if (m === null) return fail(name, rule, value);
  const host = m[1] ?? "";
  const port = Number(m[2]);
  if (port > 65_535) fail(name, "a port in 0..65535", value);
  if (host.startsWith("[")) {
    const inner = host.slice(1, -1);
    if (!IPV6_RE.test(inner) || !inner.includes(":")) fail(name, rule, value);
    return { transport: "tcp", hostname: inner, port };
  }
  if (!HOSTNAME_RE.test(host)) fail(name, rule, value);
  return { transport: "tcp", hostname: host, port };
}
