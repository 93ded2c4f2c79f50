/**
 * A slow-header client for the listener tests (tests/slow_headers_test.ts) and the isolation
 * scenario (tests/support/isolation_scenario.ts): one socket that never finishes its request.
 *
 * @module
 */

/** How a slow socket misbehaves. */
export type SlowKind = "silent" | "partial" | "trickle";

/** What happened to one slow socket. */
export interface SlowOutcome {
  kind: SlowKind;
  /** ms from connect to the server's close (EOF or reset); undefined: still open at the bound. */
  closedAfterMs: number | undefined;
  /** Why the connect itself failed (counted as not closed in time). */
  refused?: string;
}

/**
 * Opens one slow socket to 127.0.0.1:`port` and waits (at most `boundMs`) for the server to close
 * it: `silent` sends nothing, `partial` half a request, `trickle` adds a header line every
 * `trickleMs`. `connected` fires once the connect has settled.
 */
export async function slowSocket(
  port: number,
  kind: SlowKind,
  options: { boundMs: number; trickleMs: number; connected?: () => void },
): Promise<SlowOutcome> {
  const { boundMs, trickleMs } = options;
  const connected = options.connected ?? (() => {});
  // Before the connect: the server may accept before this side's connect promise resolves.
  const t0 = performance.now();
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (err) {
    connected();
    return { kind, closedAfterMs: undefined, refused: String(err) };
  }
  connected();
  let gaveUp = false;
  let closed = false;
  const bound = setTimeout(() => {
    gaveUp = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, boundMs);
  const write = (text: string) =>
    conn.write(new TextEncoder().encode(text)).catch(() => (closed = true));
  if (kind !== "silent") void write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  let trickle: ReturnType<typeof setInterval> | undefined;
  if (kind === "trickle") {
    let n = 0;
    trickle = setInterval(() => {
      if (closed || gaveUp) clearInterval(trickle);
      else void write(`X-Slow-${n++}: a\r\n`);
    }, trickleMs);
  }
  const buf = new Uint8Array(4096);
  let closedAfterMs: number | undefined;
  try {
    while ((await conn.read(buf)) !== null) { /* a 408 or 400 may come first */ }
    if (!gaveUp) closedAfterMs = performance.now() - t0;
  } catch {
    if (!gaveUp) closedAfterMs = performance.now() - t0; // reset by the server
  }
  closed = true;
  clearInterval(trickle);
  clearTimeout(bound);
  if (!gaveUp) {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return { kind, closedAfterMs };
}
