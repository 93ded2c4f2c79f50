/**
 * The Hono app: the middleware stack (its order: docs/ARCHITECTURE.md) around the routes of contract §10.
 * No runtime-specific side effects at import time: it deploys to an edge runtime as is
 * (READ_ONLY=1 registers only the GET routes).
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { accessLog } from "../middleware/access_log.ts";
import { auth, routeFacts } from "../middleware/auth.ts";
import { requestPath } from "../middleware/request_path.ts";
import { rememberingRouter } from "../middleware/remembering_router.ts";
import { compression } from "../middleware/compression.ts";
import { concurrencyLimit, type ConcurrencyLimitHandler } from "../middleware/concurrency.ts";
import type { AppEnv } from "../middleware/context.ts";
import { corrId } from "../middleware/corr_id.ts";
import { readBody } from "../middleware/read_body.ts";
import { errorBoundary, errorHandler, notFoundHandler } from "../middleware/error_mapper.ts";
import { labelOfReason, type Reason } from "./core/reasons.ts";
import { admitCaller, preAuthHold } from "../middleware/admission.ts";
import { createPreAuthBudget } from "./shell/admission/preauth_budget.ts";
import { secureHeaders } from "../middleware/secure_headers.ts";
import { timeout } from "../middleware/timeout.ts";
import { auditPage } from "../routes/audit_page.ts";
import { computeHandlers } from "../routes/compute.ts";
import { IMMUTABLE_PATH_PATTERN } from "../routes/immutable.ts";
import { epochHandlers, runHandlers, runsHandlers } from "../routes/inspect.ts";
import { policyHandlers } from "../routes/policy.ts";
import { proofHandlers } from "../routes/proofs.ts";
import { computeJsonSchema, quarantineHandlers, readyHandler } from "../routes/ops.ts";
import {
  computeBodySchema,
  envelopeSchema,
  epochParamSchema,
  keysSchema,
  policyParamSchema,
  policyQuerySchema,
  proofParamSchema,
  proofSchema,
  quarantineSchema,
  readySchema,
  runAnswerSchema,
  runParamSchema,
  runRecordSchema,
  runsAnswerSchema,
  runsQuerySchema,
} from "./api/schemas.ts";
import type { AppServices } from "./shell/app_services.ts";
import { getLogger } from "./shell/observe/log.ts";
import { openApiDocument, type RouteDoc } from "./openapi.ts";

type Handler = (c: Context<AppEnv>) => Promise<Response> | Response;

interface Route extends RouteDoc {
  honoPath: string;
  /** The route's validators (params, query, body) and its handler, from `routes/`. */
  handlers: readonly unknown[];
  /** Mutating routes are absent in READ_ONLY mode. */
  write?: boolean;
}

/** The contract this service implements (`/version`, OpenAPI). */
export const CONTRACT_VERSION = "v2";

/** Builds the app and returns it with the concurrency limiter (for readiness and tests). */
export function buildApp(
  s: AppServices,
): { app: Hono<AppEnv>; concurrency: ConcurrencyLimitHandler } {
  const c = s.config;
  // `rejected_total{reason}` of an answered error: its reason's label in the reasons table.
  const countRejection = (reason: Reason) => s.metrics.recordRejected(labelOfReason(reason));
  const concurrency = concurrencyLimit({ inflightMax: c.inflightMax });
  const q = quarantineHandlers(s);

  const routes: Route[] = [
    {
      method: "post",
      path: "/rewarder/epochs/{epoch_id}/compute",
      honoPath: "/rewarder/epochs/:epoch_id/compute",
      scope: "rewarder.run",
      summary: "Compute, seal and record an epoch's run",
      params: epochParamSchema,
      body: computeBodySchema,
      answer: runRecordSchema,
      handlers: computeHandlers(s),
      write: true,
    },
    {
      method: "get",
      path: "/rewarder/epochs/{epoch_id}",
      honoPath: "/rewarder/epochs/:epoch_id",
      scope: "rewarder.inspect",
      summary: "Sealed envelope of the epoch's committed run",
      params: epochParamSchema,
      answer: envelopeSchema,
      handlers: epochHandlers(s),
      immutable: true,
    },
    {
      method: "get",
      path: "/rewarder/epochs/{epoch_id}/proofs/{account}",
      honoPath: "/rewarder/epochs/:epoch_id/proofs/:account",
      scope: "rewarder.inspect",
      summary: "One recipient's payout proof document (v2; v1 shape for v1 envelopes)",
      params: proofParamSchema,
      answer: proofSchema,
      handlers: proofHandlers(s),
      immutable: true,
    },
    {
      method: "get",
      path: "/rewarder/runs/{run_key}",
      honoPath: "/rewarder/runs/:run_key",
      scope: "rewarder.inspect",
      summary: "A run record and its envelope",
      params: runParamSchema,
      answer: runAnswerSchema,
      handlers: runHandlers(s),
    },
    {
      method: "get",
      path: "/rewarder/runs",
      honoPath: "/rewarder/runs",
      scope: "rewarder.inspect",
      summary: "Runs by epoch, policy hash, inputs CID or status (paginated)",
      query: runsQuerySchema,
      answer: runsAnswerSchema,
      handlers: runsHandlers(s),
    },
    {
      method: "get",
      path: "/rewarder/policy/{policy_id}",
      honoPath: "/rewarder/policy/:policy_id",
      scope: "rewarder.inspect",
      summary: "Signed policy envelope (newest, or ?hash=)",
      params: policyParamSchema,
      query: policyQuerySchema,
      handlers: policyHandlers(s),
    },
    {
      method: "get",
      path: "/rewarder/keys",
      honoPath: "/rewarder/keys",
      scope: null,
      summary: "Published manifest verification keys",
      answer: keysSchema,
      handlers: only((ctx) => ctx.json({ keys: s.signer.published() })),
    },
    {
      method: "get",
      path: "/rewarder/quarantine",
      honoPath: "/rewarder/quarantine",
      scope: "rewarder.quarantine",
      summary: "Quarantine-only mode",
      answer: quarantineSchema,
      handlers: q.get,
    },
    {
      method: "put",
      path: "/rewarder/quarantine",
      honoPath: "/rewarder/quarantine",
      scope: "rewarder.quarantine",
      summary: "Enter or leave quarantine-only mode",
      body: quarantineSchema,
      answer: quarantineSchema,
      handlers: q.put,
      write: true,
    },
    {
      method: "get",
      path: "/healthz",
      honoPath: "/healthz",
      scope: null,
      summary: "Liveness",
      handlers: only((ctx) => ctx.json({ ok: true })),
    },
    {
      method: "get",
      path: "/readyz",
      honoPath: "/readyz",
      scope: null,
      summary: "Readiness with causes",
      answer: readySchema,
      handlers: only(readyHandler(s, concurrency)),
    },
    {
      method: "get",
      path: "/metrics",
      honoPath: "/metrics",
      scope: null,
      summary: "Prometheus metrics",
      handlers: only(async (ctx) =>
        ctx.body(await s.metrics.render(), 200, { "Content-Type": s.metrics.contentType })
      ),
    },
    {
      method: "get",
      path: "/version",
      honoPath: "/version",
      scope: null,
      summary: "Service and contract version",
      handlers: only((ctx) =>
        ctx.json({ service: "svc-rewarder", version: s.version, contract: CONTRACT_VERSION })
      ),
    },
    {
      method: "get",
      path: "/schema/compute.json",
      honoPath: "/schema/compute.json",
      scope: null,
      summary: "JSON Schema of the compute body",
      handlers: only((ctx) => ctx.json(computeJsonSchema())),
    },
  ];
  const active = routes.filter((r) => !(c.readOnly && r.write));
  // The document describes every active route, itself included.
  active.push({
    method: "get",
    path: "/openapi.json",
    honoPath: "/openapi.json",
    scope: null,
    summary: "This document",
    handlers: only((ctx) => ctx.json(openapi)),
  });
  const openapi = openApiDocument(active, s.version);

  // One normalised request path for routing and caveats (contract §9).
  const normalisedPath = requestPath();
  // Matches remembered by method and normalised path (middleware/remembering_router.ts).
  const app = new Hono<AppEnv>({ getPath: normalisedPath.getPath, router: rememberingRouter() });
  // Every rejection reaches onError exactly once: it is counted here and only here (the
  // middlewares get no onReject, or each rejection would be counted twice).
  const log = getLogger("http");
  const mapError = errorHandler({
    jitterMsMax: c.errorJitterMsMax,
    onReject: countRejection,
    // Unexpected errors become a bare 500; the log keeps the corr_id and the error's name and
    // message (the logger's redaction strips anything secret-shaped), never the request.
    onUnexpected: (err, corrId) =>
      log.error("unexpected error", {
        corr_id: corrId,
        reason: err instanceof Error ? `${err.name}: ${err.message}` : "non-error thrown",
      }),
  });
  // The mapper counts each answered error once (a handler failing after its deadline was
  // answered reaches onError a second time and is not counted again: middleware/error_mapper.ts).
  app.onError(mapError);
  app.notFound(notFoundHandler({ jitterMsMax: c.errorJitterMsMax, onReject: countRejection }));
  app.use(errorBoundary());
  app.use(countResponses(s));
  app.use(corrId());
  app.use(normalisedPath.middleware); // 400 `path` before any authorisation, on every route
  app.use("/rewarder/*", accessLog({ logger: getLogger("access"), buffer: s.accessLog }));
  // The auditor's page sets its own CSP: mounted before secureHeaders() (routes/audit_page.ts).
  app.route("/", auditPage());
  app.use(secureHeaders());
  // Immutable answers are never content-coded (contract §10): their ETag names the bytes.
  const compress = compression();
  app.use(async function compressionUnlessImmutable(ctx, next) {
    if (ctx.req.method === "GET" && IMMUTABLE_PATH_PATTERN.test(ctx.req.path)) return await next();
    return await compress(ctx, next);
  });
  // Edge caps apply to the service surface; probes (/healthz, /readyz, /metrics) stay cheap
  // and answer even when the service is saturated. Nothing expensive before authentication
  // (docs/ARCHITECTURE.md, "Order of the middleware"; this departs from the seed's order on
  // purpose): a request holds at most one read chunk under the global pre-auth budget, then
  // the deadline and the in-flight cap; per route, authentication, the caller's buckets, and
  // only then the body (content type, streaming cap, decompression).
  app.use("/rewarder/*", preAuthHold({ budget: s.preAuthBudget ?? createPreAuthBudget() }));
  app.use("/rewarder/*", timeout({ timeoutMs: c.requestTimeoutMs }));
  app.use("/rewarder/*", concurrency);
  // Content type, streaming cap, decompression: one middleware (a GET skips all three).
  const body = readBody({
    bodyCap: { bodyBytesMax: c.reqBodyBytesMax, readTimeoutMs: c.requestTimeoutMs },
    decompress: {
      bodyBytesMax: c.reqBodyBytesMax,
      inflatedBytesMax: c.postInflateBytesMax,
      ratioMax: c.decompRatioMax,
    },
  });

  for (const r of active) {
    const chain: MiddlewareHandler<AppEnv>[] = [];
    if (r.scope !== null) {
      const scope = r.scope;
      chain.push(admitCaller({
        limiter: s.limiter,
        ...(s.refusalHold === undefined ? {} : { refusalHold: s.refusalHold }),
        authenticate: auth({
          keyRing: s.keyRing,
          operatorTenant: c.operatorTenant,
          factsFor: routeFacts(r.honoPath),
          ...(s.tokenCache === undefined ? {} : { tokenCache: s.tokenCache }),
          // Edge instance (EDGE_JWT_KEYS): JWT-then-macaroon; otherwise the macaroon verifier.
          ...(s.edgeJwtVerifier === undefined ? {} : { verifier: s.edgeJwtVerifier }),
          scopeFor: () => scope,
          nowMs: s.nowMs,
          onFailure: (sc, reason, corrId) => {
            s.metrics.recordAuthFailure(sc); // rejected_total{reason="unauth"}: in onError
            // Counted per minute and reason, never a line (or a disk wait) per request.
            s.audit.count("token_rejected", reason, corrId ?? null);
          },
        }),
      }));
      chain.push(body);
    } else if (r.honoPath.startsWith("/rewarder/")) {
      // A public route of the service surface: its callers are anonymous; it reads no body.
      chain.push(admitCaller({
        limiter: s.limiter,
        ...(s.refusalHold === undefined ? {} : { refusalHold: s.refusalHold }),
      }));
    }
    app.on([r.method.toUpperCase()], [r.honoPath], ...chain, ...(r.handlers as Handler[]));
  }
  return { app, concurrency };
}

/** The `rejected_total{reason}` label of an error answer, from the reasons table. */
/** A route whose only handler is `handler` (no inputs to validate). */
function only(handler: Handler): readonly unknown[] {
  return [handler];
}

function countResponses(s: AppServices): MiddlewareHandler<AppEnv> {
  return async function responseCounter(ctx, next) {
    await next();
    s.metrics.recordHttpResponse(ctx.res.status);
  };
}
