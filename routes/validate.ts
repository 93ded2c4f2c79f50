/**
 * Request validation the Hono way: every route declares its path parameters, query and body
 * with `zValidator` and reads `c.req.valid(…)`. A failure is one typed 400 whose `field` is
 * the schema path of the first fault in schema order, never a value (contract §8): for an
 * unknown key, its parent's path (`""` at the top level). The body is first read by the
 * strict I-JSON parser (contract §1: duplicate names, lone surrogates, depth → 400 `json`);
 * only then does the body validator see it.
 *
 * @example
 * ```ts
 * factory.createHandlers(validParam(epochParam), strictJsonBody(), validJson(body), handler);
 * ```
 *
 * @module
 */
import { zValidator } from "@hono/zod-validator";
import type { Context, MiddlewareHandler } from "hono";
import type { z } from "zod";
import { RewarderError } from "../src/core/errors.ts";
import { parseStrictJson } from "../src/core/strict_json.ts";
import { formatPath } from "../src/core/zod_issue.ts";
import type { AppEnv } from "../middleware/context.ts";
import { createLru } from "../src/shell/cache/lru.ts";

type Issue = z.core.$ZodIssue;

/**
 * The first fault in schema order: the issue whose top-level key comes first among the
 * schema's declared keys; an unknown key ranks after every declared one; ties keep zod's order.
 */
export function firstIssue(issues: readonly Issue[], keys: readonly string[]): Issue | undefined {
  const rank = (issue: Issue) => {
    const head = issue.path[0];
    if (issue.code === "unrecognized_keys" && issue.path.length === 0) return keys.length;
    const at = typeof head === "string" ? keys.indexOf(head) : -1;
    return at < 0 ? keys.length : at;
  };
  let best: Issue | undefined;
  for (const issue of issues) if (best === undefined || rank(issue) < rank(best)) best = issue;
  return best;
}

/** The 400 of a failed validation: reason `schema`, field = the first fault's schema path. */
export function validationError(
  error: z.core.$ZodError,
  keys: readonly string[],
  prefix: readonly PropertyKey[] = [],
): RewarderError {
  const issue = firstIssue(error.issues, keys);
  return new RewarderError("BAD_REQUEST", "schema", {
    path: formatPath([...prefix, ...(issue?.path ?? [])], ""),
  });
}

function keysOf(schema: z.ZodObject): string[] {
  return Object.keys(schema.shape);
}

function hookFor(schema: z.ZodObject) {
  const keys = keysOf(schema);
  return (result: { success: boolean; error?: z.core.$ZodError }) => {
    if (!result.success && result.error !== undefined) throw validationError(result.error, keys);
  };
}

/** Validated inputs remembered per validator (an LRU of their source texts). */
export const VALIDATED_INPUTS_REMEMBERED_MAX = 1024;

/**
 * `zValidator(target, schema)` that remembers what it validated, by the text the input is
 * parsed from (`keyOf`: the request path for parameters, the query string for the query): the
 * same text always gives the same input, so the same validated value (kept frozen). A fault is
 * never remembered: it is found again, with its 400, on every request.
 */
function rememberingValidator<T extends z.ZodObject, K extends "param" | "query" | "json">(
  target: K,
  schema: T,
  keyOf: (c: Context<AppEnv>) => string | undefined | Promise<string | undefined>,
) {
  const inner = zValidator(target, schema, hookFor(schema));
  const memo = createLru<object>({ entriesMax: VALIDATED_INPUTS_REMEMBERED_MAX });
  const remembering: MiddlewareHandler<AppEnv> = async function rememberingValidator(c, next) {
    const key = await keyOf(c);
    const known = key === undefined ? undefined : memo.get(key);
    if (known !== undefined) {
      c.req.addValidatedData(target, known);
      await next();
      return;
    }
    await inner(c as never, async () => {
      if (key !== undefined) memo.set(key, Object.freeze(c.req.valid(target as never) as object));
      await next();
    });
  };
  return remembering as unknown as typeof inner;
}

/** Longest body text whose verdicts are remembered, chars (a compute body is ~250). */
export const REMEMBERED_BODY_CHARS_MAX = 4096;

/** Hono's validator reads a JSON body only under this media type (validator.js `jsonRegex`). */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * The key of a JSON body's validation: its text (what `c.req.json()` parses), when Hono's
 * validator reads it at all (a JSON media type) and it is short enough to remember.
 */
async function jsonBodyKey(c: Context<AppEnv>): Promise<string | undefined> {
  const type = c.req.header("content-type");
  if (type === undefined || !JSON_MEDIA_TYPE.test(type.split(";")[0]!.trim().toLowerCase())) {
    return undefined;
  }
  const text = await c.req.text();
  return text.length <= REMEMBERED_BODY_CHARS_MAX ? text : undefined;
}

/** The request's query string (from `?`), or "" (Hono reads the query from `c.req.url`). */
function queryTextOf(c: Context<AppEnv>): string {
  const url = c.req.url;
  const at = url.indexOf("?");
  return at < 0 ? "" : url.slice(at);
}

/**
 * Path parameters: `c.req.valid("param")`; a bad one is 400 with `field` = its name. Keyed by
 * the request path: within one route, its parameters are a function of the path.
 */
export function validParam<T extends z.ZodObject>(schema: T) {
  return rememberingValidator("param", schema, (c) => c.req.path);
}

/** The query: `c.req.valid("query")`; an unknown parameter is 400 with `field` `""`. */
export function validQuery<T extends z.ZodObject>(schema: T) {
  return rememberingValidator("query", schema, queryTextOf);
}

/** The JSON body, after {@link strictJsonBody}: `c.req.valid("json")`. */
export function validJson<T extends z.ZodObject>(schema: T) {
  return rememberingValidator("json", schema, jsonBodyKey);
}

/** Fetch's "UTF-8 decode" (a leading BOM dropped, invalid sequences replaced). */
const utf8 = new TextDecoder();
/** A one-to-one decoding of UTF-8 (a BOM kept); invalid UTF-8 throws. */
const utf8Exact = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text of `bytes` if they are valid UTF-8, one text per byte sequence; else undefined. */
function exactText(bytes: Uint8Array): string | undefined {
  try {
    return utf8Exact.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Reads the body as I-JSON (contract §1) before any validator: a body that is not → 400
 * `json` (no field: the fault is in the text, not in a member).
 */
export function strictJsonBody(): MiddlewareHandler<AppEnv> {
  // Bodies already read as I-JSON, by their exact text (UTF-8, a BOM kept: one text per
  // byte sequence): the verdict is a function of the bytes, and a replay resends them.
  const good = createLru<true>({ entriesMax: VALIDATED_INPUTS_REMEMBERED_MAX });
  return async function strictJsonBody(c, next) {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const exact = bytes.byteLength <= REMEMBERED_BODY_CHARS_MAX ? exactText(bytes) : undefined;
    if (exact === undefined || good.get(exact) === undefined) {
      const parsed = parseStrictJson(bytes);
      if (!parsed.ok) throw new RewarderError("BAD_REQUEST", "json");
      if (exact !== undefined) good.set(exact, true);
    }
    // The body validator's `c.req.json()` reads the text from Hono's body cache: decoded here
    // as Fetch's `text()` would (UTF-8, a leading BOM dropped), without a Response built for it.
    // (Hono keeps each read's promise in the cache; its type names the resolved values.)
    // (For valid UTF-8 Fetch's text is the exact text without its leading BOM.)
    const text = exact === undefined
      ? utf8.decode(bytes)
      : exact.charCodeAt(0) === 0xfeff
      ? exact.slice(1)
      : exact;
    (c.req.bodyCache as unknown as { text?: Promise<string> }).text ??= Promise.resolve(text);
    await next();
  };
}
