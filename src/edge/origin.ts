/**
 * Reading a publication (contract §13) from its origin. The origin is not trusted: what it
 * returns is only bytes, checked by `checkPublishedEpoch` before anything is served; here we
 * only bound how much we read and how long we wait. An `http(s)://` base (a bucket, a CDN,
 * any static host) is read with `fetch`; a directory is read by a reader the launcher
 * injects (`origin_dir.ts`), so this module and the edge app touch no file system.
 *
 * @module
 */
import { RewarderError } from "../core/errors.ts";
import { readBodyCapped } from "../shell/http/read_body_capped.ts";

/** What the origin holds at a path: its bytes, or nothing (404/410 or no such file). */
export type OriginAnswer = { found: true; bytes: Uint8Array } | { found: false };

/**
 * Reads `path` (relative to the publication root, e.g. `tenants/acme/epochs/e1.json`) with at
 * most `bytesMax` bytes. Throws RewarderError DEPENDENCY_UNAVAILABLE: `source_unreachable`,
 * `source_status` (anything but 2xx, 404, 410; redirects included), `source_oversize`.
 */
export type OriginReader = (path: string, bytesMax: number) => Promise<OriginAnswer>;

/** Time allowed for one origin read, headers and body, ms. */
export const ORIGIN_READ_MS_MAX = 10_000;

/** Options of {@link httpOrigin}. */
export interface HttpOriginOptions {
  /** The `fetch` to use (default the global one; injectable for tests). */
  fetch?: typeof fetch;
  /** Budget of one read, ms (default {@link ORIGIN_READ_MS_MAX}). */
  readMsMax?: number;
}

function unavailable(reason: "source_unreachable" | "source_status" | "source_oversize") {
  return new RewarderError("DEPENDENCY_UNAVAILABLE", reason, { retryAfterS: 1 });
}

/** Reads a body to the end, refusing more than `bytesMax` bytes without buffering them. */
export async function readCapped(response: Response, bytesMax: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > bytesMax) {
    await response.body?.cancel();
    throw unavailable("source_oversize");
  }
  return await readBodyCapped(response.body, bytesMax, () => unavailable("source_oversize"));
}

/**
 * An origin reader over `http(s)://` (`ORIGIN_URL`): `GET <base>/<path>`, each path segment
 * percent-encoded (epoch ids may hold `:`). Redirects are not followed: a static origin has
 * no reason to send one, and a hostile one could point the edge at internal addresses.
 *
 * @example
 * ```ts
 * const origin = httpOrigin("https://bucket.example/pub");
 * const pointer = await origin("tenants/acme/epochs/2026-11.json", 64 * 1024);
 * ```
 */
export function httpOrigin(baseUrl: string, options: HttpOriginOptions = {}): OriginReader {
  const base = new URL(baseUrl);
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError("Cannot read origin as its URL must be http(s)");
  }
  const root = base.href.replace(/\/+$/, "");
  const doFetch = options.fetch ?? globalThis.fetch;
  const readMsMax = options.readMsMax ?? ORIGIN_READ_MS_MAX;
  return async function readHttpOrigin(path, bytesMax) {
    const url = `${root}/${path.split("/").map(encodeURIComponent).join("/")}`;
    const signal = AbortSignal.timeout(readMsMax);
    let response: Response;
    try {
      response = await doFetch(url, { redirect: "manual", signal });
    } catch {
      throw unavailable("source_unreachable");
    }
    if (response.status === 404 || response.status === 410) {
      await response.body?.cancel();
      return { found: false };
    }
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel();
      throw unavailable("source_status");
    }
    try {
      return { found: true, bytes: await readCapped(response, bytesMax) };
    } catch (err) {
      if (err instanceof RewarderError) throw err;
      throw unavailable("source_unreachable"); // the body broke off or timed out
    }
  };
}
