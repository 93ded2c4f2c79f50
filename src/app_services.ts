/**
 * What the routes need from the shell, as one interface, so the app can be built around real
 * components in `main.ts` and around the same components in tests.
 *
 * @module
 */
import type { MasterSecretSource, Verifier } from "./shell/caps/verifier.ts";
import type { Config } from "./shell/config.ts";
import type { EngineRunner } from "./shell/engine_runner.ts";
import type { Metrics } from "./shell/metrics.ts";
import type { PolicyRegistry } from "./shell/policy_registry.ts";
import type { RateLimiter } from "./shell/admission/rate_limiter.ts";
import type { RunRegistry } from "./shell/registry/run_registry.ts";
import type { Signer } from "./shell/signer.ts";
import type { InputsSource } from "./shell/sources.ts";
import type { AuditEntry } from "./shell/audit.ts";
import type { RunStore } from "./shell/store/run_store.ts";
import type { Tracing } from "./shell/tracing.ts";

/** Everything the HTTP app is built from. */
export interface AppServices {
  config: Config;
  nowMs: () => number;
  keyRing: MasterSecretSource & { status(): "ok" | "unreadable" };
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
  audit: (entry: AuditEntry) => void;
  /** Readiness inputs beyond the app's own (breaker, store health…). */
  readinessCauses: () => Promise<string[]>;
  version: string;
}
