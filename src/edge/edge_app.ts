/**
 * The edge app (contract §13): read-only retrieval of one tenant's publication from an
 * untrusted origin, for `edge.ts` (Deno Deploy, `deno serve`, Bun, Node) and the launcher.
 * Routes: `GET /rewarder/epochs/{epoch_id}` (the envelope's exact published bytes),
 * `GET /rewarder/epochs/{epoch_id}/proofs/{account}` (computed here from the envelope, in its
 * schema: v1 envelopes get v1 proofs), `GET /rewarder/keys` (the pinned keys document),
 * `/healthz`, `/metrics`.
 *
 * Nothing is served before `checkPublishedEpoch` passes (503 `origin_integrity`, counted,
 * otherwise). The edge holds no secret (§9): public mode, or gateway JWTs verified with
 * public keys (tenant must be the edge's, scope `rewarder.inspect`). Immutable answers carry
 * the strong ETag (the manifest hash) and `Cache-Control: public|private, max-age=31536000,
 * immutable`; a matching `If-None-Match` → 304 (§10). The request path is normalised as the
 * service does (§9). This module's graph does no I/O: the origin is an injected reader.
 *
 * @module
 */
import { Hono } from "hono";
import { canonicalBytes, canonicalJson } from "../core/canonical_json.ts";
import { RewarderError, statusOf } from "../core/errors.ts";
import { type EdgeJwtConfig, looksLikeJwt, verifyEdgeJwt } from "../core/gateway_jwt.ts";
import { ACCOUNT_PATTERN, EPOCH_ID_PATTERN, TENANT_PATTERN } from "../core/ids.ts";
import { keysDocumentOf } from "../core/keys_document.ts";
import { packedLeavesOf } from "../core/merkle.ts";
import { proofDocumentOf } from "../core/proof.ts";
import type { VerifyKey } from "../core/seal.ts";
import { normaliseRequestPath, rawPathOf } from "../../middleware/request_path.ts";
import { auditPage } from "../../routes/audit_page.ts";
import { ifNoneMatchHolds } from "../../routes/immutable.ts";
import { ByteLru } from "./byte_lru.ts";
import { EdgeMetrics, type EdgeMetrics as Metrics, type EdgeRoute } from "./edge_metrics.ts";
import { EPOCH_LOADER_LIMITS, epochLoader, type EpochLoaderLimits } from "./epoch_loader.ts";
import type { OriginReader } from "./origin.ts";

/** Longest `Authorization` header read, chars (a 4 KiB token and its scheme). */
const AUTHORIZATION_CHARS_MAX = 4096 + 16;
/** Max-age of immutable answers, s (contract §10: one year). */
const IMMUTABLE_MAX_AGE_S = 31_536_000;
/** Correlation ids kept from callers (the service's rule: 8..64 of `[A-Za-z0-9._-]`). */
const CORR_ID_RE = /^[A-Za-z0-9._-]{8,64}$/;
const CORR_ID_HEADER = "X-Corr-ID";

/** Bounds of the edge (loader bounds plus the proof leaves' budget). */
export interface EdgeLimits extends EpochLoaderLimits {
  /** Packed proof leaves kept (32 B per recipient): a large epoch's are built once. */
  proofLeavesBytesMax: number;
}

/** Defaults of {@link EdgeLimits}. */
export const EDGE_LIMITS: Readonly<EdgeLimits> = Object.freeze({
  ...EPOCH_LOADER_LIMITS,
  proofLeavesBytesMax: 64 * 1024 * 1024,
});

/** What an edge app needs; every field is validated once by {@link createEdgeApp}. */
export interface EdgeOptions {
  /** EDGE_TENANT: the one tenant served. */
  tenant: string;
  /** Reads the publication (ORIGIN_URL through `httpOrigin`, ORIGIN_DIR through the launcher). */
  origin: OriginReader;
  /** The pinned keys (EDGE_KEYS_PATH's document): the only trust anchor. */
  keys: readonly VerifyKey[];
  /** EDGE_PUBLIC=on: no authentication, `Cache-Control: public`. */
  public: boolean;
  /** Gateway JWT key file (public keys); required unless `public`. */
  jwt?: EdgeJwtConfig;
  /** REQUIRE_PQ_ON: demand an ML-DSA-65 signature on pointers and envelopes. */
  requirePq?: boolean;
  /** Clock for JWT times, ms since 1970 (default `Date.now`). */
  nowMs?: () => number;
  limits?: Partial<EdgeLimits>;
}

/** A built edge: its fetch handler and its counters. */
export interface EdgeApp {
  fetch(request: Request): Promise<Response>;
  metrics: Metrics;
}

function checkOptions(o: EdgeOptions): void {
  if (!TENANT_PATTERN.test(o.tenant)) {
    throw new TypeError("Cannot create edge as tenant must be 1..64 of [a-z0-9_-]");
  }
  if (!o.keys.some((k) => k.alg === "ed25519" && k.status !== "revoked")) {
    throw new TypeError("Cannot create edge as keys hold no usable Ed25519 key");
  }
  if (o.public === (o.jwt !== undefined)) {
    throw new TypeError("Cannot create edge as it must be either public or verify gateway JWTs");
  }
}

function errorAnswer(err: unknown, corrId: string): Response {
  const e = err instanceof RewarderError ? err : new RewarderError("INTERNAL", "internal");
  const status = statusOf(e);
  const body: Record<string, unknown> = { code: e.code, reason: e.reason, corr_id: corrId };
  if (e.path !== undefined) body.field = e.path;
  const headers = new Headers({
    "content-type": "application/json",
    "cache-control": "no-store", // a CDN must not keep a refusal
    [CORR_ID_HEADER]: corrId,
  });
  if (status === 429 || status === 503) headers.set("retry-after", String(e.retryAfterS ?? 1));
  return new Response(JSON.stringify({ error: body }), { status, headers });
}

function routeOf(path: string): EdgeRoute {
  if (path === "/healthz") return "healthz";
  if (path === "/metrics") return "metrics";
  if (path === "/rewarder/keys") return "keys";
  if (/^\/rewarder\/epochs\/[^/]+$/.test(path)) return "epoch";
  if (/^\/rewarder\/epochs\/[^/]+\/proofs\/[^/]+$/.test(path)) return "proof";
  return "other";
}

/**
 * Builds the edge app. Throws TypeError on options that cannot work (bad tenant, no usable
 * key, neither or both of public mode and JWT keys).
 *
 * @example
 * ```ts
 * const edge = createEdgeApp({ tenant: "acme", origin: httpOrigin(url), keys, public: true });
 * Deno.serve(edge.fetch);
 * ```
 */
export function createEdgeApp(options: EdgeOptions): EdgeApp {
  checkOptions(options);
  const limits: EdgeLimits = { ...EDGE_LIMITS, ...options.limits };
  const nowMs = options.nowMs ?? Date.now;
  const metrics = new EdgeMetrics();
  const loader = epochLoader({
    tenant: options.tenant,
    origin: options.origin,
    keys: options.keys,
    verify: options.requirePq ? { requirePq: true } : {},
    limits,
    metrics,
  });
  const leaves = new ByteLru<Uint8Array>({ bytesMax: limits.proofLeavesBytesMax, entriesMax: 64 });
  metrics.cacheBytes = () => ({ envelopes: loader.cacheBytes(), proof_leaves: leaves.bytes });
  const keysBody = canonicalBytes(keysDocumentOf(options.keys));
  const cacheControl = `${
    options.public ? "public" : "private"
  }, max-age=${IMMUTABLE_MAX_AGE_S}, immutable`;

  async function authorize(request: Request): Promise<void> {
    if (options.public) return;
    const header = request.headers.get("authorization");
    if (header === null) throw new RewarderError("UNAUTHENTICATED", "token_missing");
    if (header.length > AUTHORIZATION_CHARS_MAX) {
      throw new RewarderError("UNAUTHENTICATED", "token_oversize");
    }
    const space = header.indexOf(" ");
    const token = header.slice(space + 1);
    if (space <= 0 || header.slice(0, space).toLowerCase() !== "bearer" || !looksLikeJwt(token)) {
      throw new RewarderError("UNAUTHENTICATED", "token_malformed"); // an edge has no macaroon key
    }
    const claims = await verifyEdgeJwt(token, options.jwt!, nowMs());
    if (!claims.scopes.includes("rewarder.inspect")) {
      throw new RewarderError("UNAUTHORIZED", "scope");
    }
    // Contract §9: one tenant's epochs are 404 to another.
    if (claims.tenant !== options.tenant) throw new RewarderError("NOT_FOUND", "unknown_epoch");
  }

  function immutable(request: Request, manifestHash: string, body: Uint8Array): Response {
    const headers = new Headers({ "etag": `"${manifestHash}"`, "cache-control": cacheControl });
    if (ifNoneMatchHolds(request.headers.get("if-none-match") ?? undefined, manifestHash)) {
      return new Response(null, { status: 304, headers });
    }
    headers.set("content-type", "application/json");
    headers.set("content-length", String(body.byteLength));
    return new Response(body as Uint8Array<ArrayBuffer>, { status: 200, headers });
  }

  function param(value: string | undefined, pattern: RegExp, name: string): string {
    if (value === undefined || !pattern.test(value)) {
      throw new RewarderError("BAD_REQUEST", "schema", { path: name });
    }
    return value;
  }

  const app = new Hono({
    getPath: (request) => normaliseRequestPath(rawPathOf(request.url)) ?? "//",
  });
  app.use(async function edgeFrame(c, next) {
    const incoming = c.req.header(CORR_ID_HEADER);
    const corrId = incoming !== undefined && CORR_ID_RE.test(incoming)
      ? incoming
      : crypto.randomUUID();
    try {
      if (c.req.path === "//") throw new RewarderError("BAD_REQUEST", "path");
      // No API route takes a query: an unknown member's parent is the top level (§8: "").
      // The auditor's page takes `?epoch=…&account=…` (read by its script, in the browser).
      if (new URL(c.req.url).search !== "" && !/^\/audit(\/|$)/.test(c.req.path)) {
        throw new RewarderError("BAD_REQUEST", "schema", { path: "" });
      }
      await next();
      if (c.error !== undefined) throw c.error;
      c.res.headers.set(CORR_ID_HEADER, corrId);
    } catch (err) {
      c.res = errorAnswer(err, corrId);
    }
    metrics.response(routeOf(c.req.path), c.res.status);
  });
  app.onError((err) => {
    throw err; // answered by edgeFrame, in one place
  });
  app.notFound(() => {
    throw new RewarderError("NOT_FOUND", "no_route");
  });
  // The auditor's page (static files, its own CSP; `/audit/` is the one path kept with its
  // trailing `/`, middleware/request_path.ts).
  app.route("/", auditPage());
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get(
    "/metrics",
    (c) => c.body(metrics.render(), 200, { "content-type": "text/plain; version=0.0.4" }),
  );
  app.get("/rewarder/keys", () =>
    new Response(keysBody as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "application/json", "cache-control": "no-cache" },
    }));
  app.get("/rewarder/epochs/:epoch_id", async (c) => {
    await authorize(c.req.raw);
    const epochId = param(c.req.param("epoch_id"), EPOCH_ID_PATTERN, "epoch_id");
    const epoch = await loader.load(epochId);
    return immutable(c.req.raw, epoch.manifestHash, epoch.bytes);
  });
  app.get("/rewarder/epochs/:epoch_id/proofs/:account", async (c) => {
    await authorize(c.req.raw);
    const epochId = param(c.req.param("epoch_id"), EPOCH_ID_PATTERN, "epoch_id");
    const account = param(c.req.param("account"), ACCOUNT_PATTERN, "account");
    const epoch = await loader.load(epochId);
    let packed = leaves.get(epoch.manifestHash);
    metrics.cache("proof_leaves", packed !== undefined);
    if (packed === undefined) {
      packed = packedLeavesOf(epoch.envelope.manifest.payouts);
      leaves.set(epoch.manifestHash, packed, packed.byteLength);
    }
    const doc = proofDocumentOf(epoch.envelope, account, packed);
    if (doc === undefined) throw new RewarderError("NOT_FOUND", "no_payout");
    return immutable(c.req.raw, epoch.manifestHash, new TextEncoder().encode(canonicalJson(doc)));
  });
  return { fetch: async (request) => await app.fetch(request), metrics };
}
