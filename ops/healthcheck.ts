/**
 * Container health probe: GET http://127.0.0.1:8090/healthz with a hard deadline; exit 0 on
 * 200, 1 otherwise. Run by Docker's HEALTHCHECK with Deno itself (the image has no curl):
 *   deno run --cached-only --allow-net=127.0.0.1:8090 ops/healthcheck.ts
 * The port matches the image's BIND_ADDR (0.0.0.0:8090); override with the first argument
 * (a full URL on the same host and port, since --allow-net is pinned to it).
 *
 * @module
 */

/** Deadline of one probe; Docker's own --timeout (3 s) is the outer bound. */
export const HEALTHCHECK_TIMEOUT_MS = 2_000;
/** Where the service listens inside the container (Dockerfile BIND_ADDR). */
export const HEALTHCHECK_URL_DEFAULT = "http://127.0.0.1:8090/healthz";

/** Probes `url` once; true when it answers 200 before the deadline. */
export async function probeHealth(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false; // refused, reset or timed out: unhealthy, and nothing more to say
  }
}

if (import.meta.main) {
  const ok = await probeHealth(Deno.args[0] ?? HEALTHCHECK_URL_DEFAULT, HEALTHCHECK_TIMEOUT_MS);
  Deno.exit(ok ? 0 : 1);
}
