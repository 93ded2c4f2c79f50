/**
 * Hono's default router (SmartRouter over RegExpRouter and TrieRouter) with its matches
 * remembered: once the routes are added, a match is a pure function of the method and the
 * request path (middleware/request_path.ts normalises it once), so the hot paths' repeated
 * matches are a Map lookup instead of a trie walk (docs/PROFILE.md). Adding a route forgets
 * everything remembered. The results are shared between requests: Hono only reads them.
 *
 * @example
 * ```ts
 * const app = new Hono<AppEnv>({ getPath: rp.getPath, router: rememberingRouter() });
 * ```
 *
 * @module
 */
import type { Result, Router } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";
import { createLru } from "../src/shell/cache/lru.ts";

/** Matches remembered (method and path). */
export const ROUTER_MATCHES_REMEMBERED_MAX = 1024;
/** Longest path whose match is remembered, chars (longer ones are matched each time). */
const REMEMBERED_PATH_CHARS_MAX = 512;

/** Creates the router; `inner` defaults to Hono's own default. */
export function rememberingRouter<T>(
  inner: Router<T> = new SmartRouter<T>({ routers: [new RegExpRouter(), new TrieRouter()] }),
): Router<T> {
  const known = createLru<Result<T>>({ entriesMax: ROUTER_MATCHES_REMEMBERED_MAX });
  return {
    get name() {
      return `remembering ${inner.name}`;
    },
    add(method, path, handler) {
      known.clear();
      inner.add(method, path, handler);
    },
    match(method, path) {
      if (path.length > REMEMBERED_PATH_CHARS_MAX) return inner.match(method, path);
      const key = `${method} ${path}`;
      let result = known.get(key);
      if (result === undefined) {
        result = inner.match(method, path);
        known.set(key, result);
      }
      return result;
    },
  };
}
