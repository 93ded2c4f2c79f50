/**
 * In-flight request cap (MAX_INFLIGHT, contract §12, default 512): beyond it the request is
 * answered at once with 503 OVERLOADED `overloaded` and `Retry-After`. The handler returned
 * also exposes `inflight()` and `nearCap()` for `/readyz` (`backpressure`) and metrics.
 *
 * A request counts until its handler really finishes — also after a timeout answered it —
 * because its work still holds resources.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { RewarderError } from "../src/core/errors.ts";
import type { AppEnv } from "./context.ts";
import { INFLIGHT_MAX_LIMIT } from "../src/shell/admission/limits.ts";

/** Default share of the cap from which `/readyz` reports backpressure. */
export const NEAR_CAP_RATIO_DEFAULT = 0.9;

/** Options for {@link concurrencyLimit}. */
export interface ConcurrencyLimitOptions {
  /** Most requests in flight at once (MAX_INFLIGHT, default 512). */
  inflightMax: number;
  /** `nearCap()` is true from `ceil(inflightMax × nearCapRatio)` in flight (default 0.9). */
  nearCapRatio?: number;
  /** `Retry-After` on rejection, seconds (default 1). */
  retryAfterS?: number;
  /** Called with `overloaded` on each rejection. */
  onReject?: (reason: string) => void;
}

/** The middleware plus its gauges. */
export type ConcurrencyLimitHandler = MiddlewareHandler<AppEnv> & {
  /** Requests in flight now. */
  inflight(): number;
  /** True when in flight ≥ the near-cap threshold (report `backpressure` on /readyz). */
  nearCap(): boolean;
  /** The configured cap. */
  readonly inflightMax: number;
};

function validate(o: ConcurrencyLimitOptions): void {
  if (!Number.isInteger(o.inflightMax) || o.inflightMax < 1 || o.inflightMax > INFLIGHT_MAX_LIMIT) {
    throw new RangeError(
      `Cannot create concurrencyLimit as inflightMax must be an integer in 1..${INFLIGHT_MAX_LIMIT}: current value is ${o.inflightMax}`,
    );
  }
  const r = o.nearCapRatio;
  if (r !== undefined && !(r > 0 && r <= 1)) {
    throw new RangeError(
      `Cannot create concurrencyLimit as nearCapRatio must be in (0, 1]: current value is ${r}`,
    );
  }
}

/**
 * Creates the concurrency limit.
 *
 * @example
 * ```ts
 * const limit = concurrencyLimit({ inflightMax: config.maxInflight });
 * app.use(limit);
 * const backpressure = limit.nearCap();
 * ```
 */
export function concurrencyLimit(options: ConcurrencyLimitOptions): ConcurrencyLimitHandler {
  validate(options);
  const { inflightMax, onReject } = options;
  const retryAfterS = options.retryAfterS ?? 1;
  const nearCapAt = Math.ceil(inflightMax * (options.nearCapRatio ?? NEAR_CAP_RATIO_DEFAULT));
  let inflight = 0;
  const handler: MiddlewareHandler<AppEnv> = async function concurrencyLimit(_c, next) {
    if (inflight >= inflightMax) {
      onReject?.("overloaded");
      throw new RewarderError("OVERLOADED", "overloaded", { retryAfterS });
    }
    inflight += 1;
    try {
      await next();
    } finally {
      inflight -= 1;
    }
  };
  return Object.assign(handler, {
    inflight: () => inflight,
    nearCap: () => inflight >= nearCapAt,
    inflightMax,
  });
}
