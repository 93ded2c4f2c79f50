import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  type Attributes,
  type AttributeValue,
  type Context,
  context,
  propagation,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  trace,
  TraceFlags,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { createAsyncContextManager, createTracing, TRACER_NAME } from "./tracing.ts";

/** What the in-memory provider keeps of each span. */
interface Recorded {
  name: string;
  scope: string;
  spanId: string;
  traceId: string;
  parentSpanId: string | undefined;
  attributes: Attributes;
  status: SpanStatus | undefined;
  ends: number;
}

/** A tiny TracerProvider implementing the API interfaces (no SDK installed). */
function memoryProvider(): { provider: TracerProvider; spans: Recorded[] } {
  const spans: Recorded[] = [];
  let next = 1;
  const hex = (n: number, len: number) => n.toString(16).padStart(len, "0");
  const provider: TracerProvider = {
    getTracer(scope: string): Tracer {
      const startSpan = (name: string, options: SpanOptions = {}, ctx?: Context): Span => {
        const parent = ctx === undefined ? undefined : trace.getSpanContext(ctx);
        const rec: Recorded = {
          name,
          scope,
          spanId: hex(next++, 16),
          traceId: parent?.traceId ?? hex(next++, 32),
          parentSpanId: parent?.spanId,
          attributes: { ...options.attributes },
          status: undefined,
          ends: 0,
        };
        spans.push(rec);
        const sc: SpanContext = {
          traceId: rec.traceId,
          spanId: rec.spanId,
          traceFlags: TraceFlags.SAMPLED,
        };
        const span: Span = {
          spanContext: () => sc,
          setAttribute: (k: string, v: AttributeValue) => ((rec.attributes[k] = v), span),
          setAttributes: (a: Attributes) => (Object.assign(rec.attributes, a), span),
          addEvent: () => span,
          addLink: () => span,
          addLinks: () => span,
          setStatus: (s: SpanStatus) => ((rec.status = s), span),
          updateName: (n: string) => ((rec.name = n), span),
          end: () => void (rec.ends += 1),
          isRecording: () => true,
          recordException: () => {},
        };
        return span;
      };
      return {
        startSpan,
        startActiveSpan: (() => {
          throw new Error("not used by tracing.ts");
        }) as Tracer["startActiveSpan"],
      };
    },
  };
  return { provider, spans };
}

before(() => {
  assert.ok(context.setGlobalContextManager(createAsyncContextManager()));
});
after(() => {
  context.disable();
  propagation.disable();
});

test("stage spans nest, carry run attributes and end once", async () => {
  const { provider, spans } = memoryProvider();
  const tracing = createTracing({ provider });
  const attrs = { corrId: "c-9", tenant: "acme", runKey: "b3:" + "a".repeat(64) };
  const out = await tracing.withSpan("prepare", attrs, async () => {
    await new Promise((r) => setTimeout(r, 1)); // context survives an await
    return tracing.withSpan("compute", { ...attrs, costEstimateMs: 12.5, entries: 3 }, () => {
      return tracing.withSpan("invariants", attrs, () => 42);
    });
  });
  assert.equal(out, 42);
  assert.deepEqual(spans.map((s) => s.name), ["prepare", "compute", "invariants"]);
  const [prepare, compute, invariants] = spans;
  assert.equal(prepare!.scope, TRACER_NAME);
  assert.equal(prepare!.parentSpanId, undefined);
  assert.equal(compute!.parentSpanId, prepare!.spanId);
  assert.equal(invariants!.parentSpanId, compute!.spanId);
  assert.equal(invariants!.traceId, prepare!.traceId);
  assert.equal(compute!.attributes["rewarder.cost_estimate_ms"], 12.5);
  assert.equal(compute!.attributes["rewarder.corr_id"], "c-9");
  assert.equal(compute!.attributes["rewarder.tenant"], "acme");
  assert.equal(compute!.attributes["rewarder.run_key"], attrs.runKey);
  assert.deepEqual(spans.map((s) => s.ends), [1, 1, 1]);
  assert.deepEqual(spans.map((s) => s.status), [undefined, undefined, undefined]);
});

test("a throwing stage marks its span ERROR with the code/reason and rethrows", async () => {
  const { provider, spans } = memoryProvider();
  const tracing = createTracing({ provider });
  const boom = Object.assign(new Error("QUARANTINED: conservation"), {
    code: "QUARANTINED",
    reason: "conservation",
  });
  await assert.rejects(
    tracing.withSpan("seal", { corrId: "c-1" }, () => {
      throw boom;
    }),
    boom,
  );
  assert.equal(spans.length, 1);
  assert.equal(spans[0]!.status?.code, 2 /* SpanStatusCode.ERROR */);
  assert.equal(spans[0]!.attributes["rewarder.error_code"], "QUARANTINED");
  assert.equal(spans[0]!.attributes["rewarder.error_reason"], "conservation");
  assert.equal(spans[0]!.ends, 1);
});

test("the global provider path: no-op by default, recorded once registered", async () => {
  assert.equal(await createTracing().withSpan("emit", {}, () => "ran"), "ran");
  const { provider, spans } = memoryProvider();
  assert.ok(trace.setGlobalTracerProvider(provider));
  try {
    await createTracing().withSpan("emit", { runKey: "b3:x" }, () => undefined);
    assert.equal(spans.length, 1);
    assert.equal(spans[0]!.name, "emit");
  } finally {
    trace.disable();
  }
});

test("ledger headers carry the corr id and the propagator's context", async () => {
  const { provider } = memoryProvider();
  const tracing = createTracing({ provider });
  assert.deepEqual(tracing.ledgerHeaders("c-7"), { "X-Corr-ID": "c-7" });
  propagation.setGlobalPropagator({
    inject(ctx, carrier) {
      const sc = trace.getSpanContext(ctx);
      if (sc) (carrier as Record<string, string>).traceparent = `00-${sc.traceId}-${sc.spanId}-01`;
    },
    extract: (ctx) => ctx,
    fields: () => ["traceparent"],
  });
  const headers = await tracing.withSpan("emit", {}, () => tracing.ledgerHeaders("c-8"));
  assert.equal(headers["X-Corr-ID"], "c-8");
  assert.match(headers.traceparent ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
});
