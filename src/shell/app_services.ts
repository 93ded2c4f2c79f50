/**
 * What the routes need from the shell, as one interface, so the app can be built around real
 * components in `main.ts` and around the same components in tests.
 *
 * @module
 */
import type { MasterSecretSource, Verifier } from "./caps/verifier.ts";
import type { VerifiedTokenCache } from "./caps/verified_tokens.ts";
import type { AccessLogBuffer } from "./observe/line_buffer.ts";
import type { Config } from "./config/config.ts";
import type { EngineRunner } from "./engine/engine_runner.ts";
import type { Metrics } from "./observe/metrics.ts";
import type { PolicyRegistry } from "./sources/policy_registry.ts";
import type { RateLimiter } from "./admission/rate_limiter.ts";
import type { PreAuthBudget } from "./admission/preauth_budget.ts";
import type { RefusalHold } from "./admission/refusal_hold.ts";
import type { RunRegistry } from "./registry/run_registry.ts";
import type { Signer } from "./keys/signer.ts";
import type { InputsSource } from "./sources/sources.ts";
import type { AuditTrail } from "./observe/audit_trail.ts";
import type { RunStore } from "./store/run_store.ts";
import type { Tracing } from "./observe/tracing.ts";

/** Everything the HTTP app is built from. */
export interface AppServices {
  config: Config;
  nowMs: () => number;
  keyRing: MasterSecretSource & { status(): "ok" | "unreadable" };
  /** Verified tokens, shared by every route (docs/ARCHITECTURE.md, "Caches"); none: no cache. */
  tokenCache?: VerifiedTokenCache;
  /** Access lines batched off the request path (flushed at shutdown); none: written at once. */
  accessLog?: AccessLogBuffer;
  /** Edge instances only (EDGE_JWT_KEYS): gateway JWT → internal macaroon, then macaroons. */
  edgeJwtVerifier?: Verifier;
  registry: RunRegistry;
  store: RunStore;
  policies: PolicyRegistry;
  inputs: InputsSource;
  signer: Signer;
  engine: EngineRunner;
  metrics: Metrics;
  /** OpenTelemetry spans (no-op without a registered provider). */
  tracing: Tracing;
  limiter: RateLimiter;
  /** Bytes held by requests not yet authenticated (default: a budget of the named limits). */
  preAuthBudget?: PreAuthBudget;
  /** Holds anonymous 429s before their answer (refusal_hold.ts); absent: answered at once. */
  refusalHold?: RefusalHold;
  /** Decisions (awaited, fail-closed) and counted events (docs/RUNBOOK.md, "Audit log"). */
  audit: Pick<AuditTrail, "decide" | "count" | "status" | "assertWritable">;
  /** Readiness inputs beyond the app's own (breaker, store health…). */
  readinessCauses: () => Promise<string[]>;
  version: string;
}
