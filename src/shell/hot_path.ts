/**
 * The request path's own state outside the registry (docs/ARCHITECTURE.md, "Caches"): the
 * verified tokens cache, emptied when the caps key ring changes, and the access log's bounded
 * buffer, flushed off the request path and at shutdown. Both are exported at `/metrics`
 * (`cache_*{cache="verified_tokens"}`, `access_log_dropped_total`).
 *
 * @module
 */
import type { Registry } from "prom-client";
import type { KeyRing } from "./caps/key_file.ts";
import { type VerifiedTokenCache, verifiedTokenCacheFor } from "./caps/verified_tokens.ts";
import { type AccessLogBuffer, createAccessLogBuffer } from "./observe/line_buffer.ts";

/** Builds the verified tokens cache over `keyRing` and the access log buffer. */
export function buildHotPath(
  deps: { keyRing: Pick<KeyRing, "subscribe">; metrics: Registry },
): { tokenCache: VerifiedTokenCache; accessLog: AccessLogBuffer } {
  return {
    tokenCache: verifiedTokenCacheFor(deps.keyRing, { metrics: deps.metrics }),
    accessLog: createAccessLogBuffer({ metrics: deps.metrics }),
  };
}
