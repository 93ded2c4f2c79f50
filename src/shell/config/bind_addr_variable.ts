/**
 * BIND_ADDR for the configuration (contract §12): the listener's own grammar
 * (`src/shell/listen/bind_addr.ts`), so what starts the service is exactly what it can bind;
 * a refusal becomes a ConfigError naming BIND_ADDR.
 *
 * @module
 */
import { type BindTarget, parseBindAddr as parseListenAddr } from "../listen/bind_addr.ts";
import { ListenError } from "../listen/types.ts";
import { fail } from "./config_parse.ts";

/** Where the listener binds. */
export type BindAddr = BindTarget;

/** Parses a BIND_ADDR value; throws ConfigError naming BIND_ADDR. */
export function parseBindAddrVariable(value: string): BindAddr {
  try {
    return parseListenAddr(value);
  } catch (err) {
    if (err instanceof ListenError) {
      return fail("BIND_ADDR", "host:port, [ipv6]:port or unix:///absolute/path", value);
    }
    throw err;
  }
}
