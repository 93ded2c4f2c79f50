/**
 * Tracing on the OpenTelemetry API (docs/RUNBOOK.md): tracer `svc-rewarder`, one span per stage of a
 * run (prepare, compute, invariants, seal, emit) tagged with corr_id, tenant, run_key and the
 * compute cost estimate.
 *
 * No exporter ships by default: until an SDK registers a global TracerProvider the API is a
 * no-op and {@link Tracing.withSpan} only runs its function. Nesting spans under one another
 * needs a context manager; {@link createAsyncContextManager} is a small AsyncLocalStorage-based
 * one that works on Deno, Bun and Node (`context.setGlobalContextManager(...)` at start).
 *
 * Attribute names are namespaced `rewarder.*` (OpenTelemetry convention for non-standard
 * attributes). They carry ids only, never tokens or amounts per account.
 *
 * @example
 * ```ts
 * const tracing = createTracing();
 * const manifest = await tracing.withSpan("compute", { corrId, tenant, runKey, costEstimateMs },
 *   () => computeManifest(inputs, policy));
 * ```
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  type ContextManager,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
  type TracerProvider,
} from "@opentelemetry/api";
import { AsyncLocalStorage } from "node:async_hooks";

/** Instrumentation scope name of every span. */
export const TRACER_NAME = "svc-rewarder";
/** The run's stages (contract §5 order) plus the request and one ledger attempt. */
export const SPAN_NAMES = [
  "request",
  "prepare",
  "compute",
  "invariants",
  "seal",
  "emit",
  "ledger_attempt",
] as const;
/** One of {@link SPAN_NAMES}. */
export type SpanName = (typeof SPAN_NAMES)[number];

/** What a span may be tagged with; every field optional. */
export interface RunSpanAttrs {
  corrId?: string;
  tenant?: string;
  runKey?: string;
  epochId?: string;
  /** The cost estimator's figure for this run, in milliseconds. */
  costEstimateMs?: number;
  dryRun?: boolean;
  /** Number of input entries (size of the work). */
  entries?: number;
}

/** Maps {@link RunSpanAttrs} to OpenTelemetry attributes (`rewarder.*`). */
export function spanAttributes(a: RunSpanAttrs): Attributes {
  const out: Attributes = {};
  if (a.corrId !== undefined) out["rewarder.corr_id"] = a.corrId;
  if (a.tenant !== undefined) out["rewarder.tenant"] = a.tenant;
  if (a.runKey !== undefined) out["rewarder.run_key"] = a.runKey;
  if (a.epochId !== undefined) out["rewarder.epoch_id"] = a.epochId;
  if (a.costEstimateMs !== undefined) out["rewarder.cost_estimate_ms"] = a.costEstimateMs;
  if (a.dryRun !== undefined) out["rewarder.dry_run"] = a.dryRun;
  if (a.entries !== undefined) out["rewarder.entries"] = a.entries;
  return out;
}

/** The tracing helpers the app uses. */
export interface Tracing {
  /**
   * Runs `fn` inside a span `name` (a child of the active span), ends the span when `fn`
   * settles, marks it ERROR (with the error's code/reason) and rethrows when `fn` throws.
   */
  withSpan<T>(name: SpanName, attrs: RunSpanAttrs, fn: (span: Span) => T | Promise<T>): Promise<T>;
  /** Headers for the ledger call: `X-Corr-ID` plus the registered propagator's (traceparent). */
  ledgerHeaders(corrId: string): Record<string, string>;
}

/** Builds the helpers on `provider` (default: the global provider, a no-op until set). */
export function createTracing(
  options: { provider?: TracerProvider; version?: string } = {},
): Tracing {
  const provider = options.provider ?? trace.getTracerProvider();
  const tracer = provider.getTracer(TRACER_NAME, options.version);
  return {
    withSpan: async function withSpan(name, attrs, fn) {
      const parent = context.active();
      const span = tracer.startSpan(name, { attributes: spanAttributes(attrs) }, parent);
      try {
        return await context.with(trace.setSpan(parent, span), () => fn(span));
      } catch (err) {
        const e = err as { code?: unknown; reason?: unknown; name?: unknown };
        span.setAttribute("rewarder.error", typeof e?.name === "string" ? e.name : "Error");
        if (typeof e?.code === "string") span.setAttribute("rewarder.error_code", e.code);
        if (typeof e?.reason === "string") span.setAttribute("rewarder.error_reason", e.reason);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw err;
      } finally {
        span.end();
      }
    },
    ledgerHeaders: function ledgerHeaders(corrId) {
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      carrier["X-Corr-ID"] = corrId;
      return carrier;
    },
  };
}

/**
 * A minimal OpenTelemetry ContextManager on `AsyncLocalStorage` (what
 * `@opentelemetry/context-async-hooks` does, without the extra dependency).
 */
export function createAsyncContextManager(): ContextManager {
  const als = new AsyncLocalStorage<Context>();
  const manager: ContextManager = {
    active: () => als.getStore() ?? ROOT_CONTEXT,
    with: (ctx, fn, thisArg, ...args) => als.run(ctx, () => fn.call(thisArg, ...args)),
    bind: <T>(ctx: Context, target: T): T => {
      if (typeof target !== "function") return target;
      const f = target as unknown as (...a: unknown[]) => unknown;
      return function bound(this: unknown, ...a: unknown[]) {
        return als.run(ctx, () => f.apply(this, a));
      } as unknown as T;
    },
    enable: () => manager,
    disable: () => {
      als.disable();
      return manager;
    },
  };
  return manager;
}
