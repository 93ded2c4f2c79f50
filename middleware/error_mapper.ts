/**
 * The one place errors become responses (contract §8): an `onError` handler and a
 * `notFound` handler. Body `{"error":{"code","reason","corr_id"}}`, plus `field` (the schema
 * path of the offending field, never its value) when the error names one, plus the error's
 * `extra` fields; status from {@link statusOf}; `Retry-After` on 429/503; `Cache-Control: no-store`.
 * Anything that is not a {@link RewarderError} becomes a bare 500 INTERNAL `internal`.
 * Nothing from the request is ever echoed.
 *
 * @module
 */
import type { Context, ErrorHandler, MiddlewareHandler, NotFoundHandler } from "hono";
import { RewarderError, statusOf } from "../src/core/errors.ts";
import type { Reason } from "../src/core/reasons.ts";
import type { AppEnv } from "./context.ts";
import { CORR_ID_HEADER, isCorrId } from "./corr_id.ts";

/** Largest allowed jitter option: more would only slow errors down, not hide more. */
export const ERROR_JITTER_MS_LIMIT = 1_000;
/** Default `Retry-After` when an error carries none (contract §8: 429/503 carry one). */
export const RETRY_AFTER_S_DEFAULT = 1;
/** Keys of `extra` that may not override the envelope. */
const RESERVED_KEYS: ReadonlySet<string> = new Set(["code", "reason", "corr_id", "field"]);

/** Options for {@link errorHandler} and {@link notFoundHandler}. */
export interface ErrorMapperOptions {
  /** Upper bound of the random delay before non-auth error responses, ms (0 disables). */
  jitterMsMax: number;
  /** Uniform random integer in [0, maxInclusive]; default uses `crypto.getRandomValues`. */
  randomInt?: (maxInclusive: number) => number;
  /** Sleep used for jitter; injectable for tests. */
  sleepMs?: (ms: number) => Promise<void>;
  /** Called once per answered request with its error's reason (for `rejected_total{reason}`). */
  onReject?: (reason: Reason) => void;
  /** Called with errors that are not RewarderErrors (log them; the client sees only 500). */
  onUnexpected?: (err: unknown, corrId: string) => void;
}

function validate(options: ErrorMapperOptions): void {
  const j = options.jitterMsMax;
  if (!Number.isInteger(j) || j < 0 || j > ERROR_JITTER_MS_LIMIT) {
    throw new RangeError(
      `Cannot create error mapper as jitterMsMax must be an integer in 0..${ERROR_JITTER_MS_LIMIT}: current value is ${j}`,
    );
  }
}

/** Uniform integer in [0, maxInclusive] from the platform CSPRNG (rejection sampling). */
export function cryptoRandomInt(maxInclusive: number): number {
  if (maxInclusive <= 0) return 0;
  const range = maxInclusive + 1;
  const limit = Math.floor(0x1_0000_0000 / range) * range;
  const word = new Uint32Array(1);
  // Bounded: each draw is accepted with probability > 1/2; 64 draws all failing is ~2^-64.
  for (let i = 0; i < 64; i += 1) {
    crypto.getRandomValues(word);
    const v = word[0] ?? 0;
    if (v < limit) return v % range;
  }
  return 0;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function corrIdOf(c: Context<AppEnv>): string {
  const id = c.get("corrId");
  return isCorrId(id) ? id : crypto.randomUUID();
}

/**
 * Builds the contract's error response for `err` (no jitter). Exported for code that must
 * answer an error outside the Hono chain (e.g. a listener-level guard).
 */
export function errorResponse(err: RewarderError, corrId: string): Response {
  const status = statusOf(err);
  const body: Record<string, unknown> = { code: err.code, reason: err.reason, corr_id: corrId };
  if (err.path !== undefined) body["field"] = err.path; // §8: "" is the top level
  for (const [key, value] of Object.entries(err.extra ?? {})) {
    if (!RESERVED_KEYS.has(key)) body[key] = value;
  }
  const headers = new Headers({
    "content-type": "application/json",
    "cache-control": "no-store",
    [CORR_ID_HEADER]: corrId,
  });
  if (status === 429 || status === 503) {
    const s = err.retryAfterS;
    const retry = s !== undefined && Number.isInteger(s) && s >= 0 ? s : RETRY_AFTER_S_DEFAULT;
    headers.set("retry-after", String(retry));
  }
  // With its length, so that response compression leaves a small error body as it is.
  const bytes = new TextEncoder().encode(JSON.stringify({ error: body }));
  headers.set("content-length", String(bytes.byteLength));
  return new Response(bytes, { status, headers });
}

/** Maps any thrown value to a RewarderError: unknown values become INTERNAL `internal`. */
export function asRewarderError(err: unknown): RewarderError {
  return err instanceof RewarderError ? err : new RewarderError("INTERNAL", "internal");
}

function makeMapper(options: ErrorMapperOptions) {
  validate(options);
  const randomInt = options.randomInt ?? cryptoRandomInt;
  const sleepMs = options.sleepMs ?? sleep;
  return async function mapError(err: unknown, c: Context<AppEnv>): Promise<Response> {
    const id = corrIdOf(c);
    const mapped = asRewarderError(err);
    if (!(err instanceof RewarderError)) options.onUnexpected?.(err, id);
    // One error answer per request. A handler that fails after its deadline has already been
    // answered (middleware/timeout.ts) reaches onError a second time through Hono's inner
    // dispatch: that late failure is neither counted nor jittered again (its answer is unused).
    if (c.get("errorAnswered") === true) return errorResponse(mapped, id);
    c.set("errorAnswered", true);
    options.onReject?.(mapped.reason);
    const status = statusOf(mapped);
    // Seed appendix: jitter non-auth errors to blur cross-tenant timing; auth answers stay
    // prompt (they carry no tenant data and delaying them only helps brute-force pacing).
    if (status !== 401 && status !== 403 && options.jitterMsMax > 0) {
      const delayMs = randomInt(options.jitterMsMax);
      if (delayMs > 0) await sleepMs(delayMs);
    }
    return errorResponse(mapped, id);
  };
}

/**
 * Creates the app's `onError` handler.
 *
 * @example
 * ```ts
 * app.onError(errorHandler({ jitterMsMax: config.errorJitterMs }));
 * ```
 */
export function errorHandler(options: ErrorMapperOptions): ErrorHandler<AppEnv> {
  const mapError = makeMapper(options);
  return async function onError(err, c) {
    return await mapError(err, c);
  };
}

/** Creates the app's `notFound` handler: 404 NOT_FOUND `no_route`, never naming the path. */
export function notFoundHandler(options: ErrorMapperOptions): NotFoundHandler<AppEnv> {
  const mapError = makeMapper(options);
  return async function notFound(c) {
    return await mapError(new RewarderError("NOT_FOUND", "no_route"), c);
  };
}

/**
 * Outermost middleware that turns thrown non-Error values (`throw "x"`) into Errors: Hono
 * passes only `Error` instances to `onError` and lets anything else escape `app.fetch`.
 * With this first in the chain every failure reaches {@link errorHandler} (500 INTERNAL).
 *
 * @example
 * ```ts
 * app.use(errorBoundary());
 * ```
 */
export function errorBoundary(): MiddlewareHandler<AppEnv> {
  return async function errorBoundary(_c, next) {
    try {
      await next();
    } catch (err) {
      if (err instanceof Error) throw err;
      throw new Error("non-Error value thrown", { cause: err });
    }
  };
}
