/**
 * Metrics of admission before authentication and of the dependency probes (docs/RUNBOOK.md,
 * "Pre-auth budget", "Anonymous rate limit", "Dependency probes"), registered on the service's
 * registry. Labels are closed sets: the dependency names of src/shell/observe/probes.ts, never
 * a peer address or a tenant.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { PreAuthBudget } from "../admission/preauth_budget.ts";
import type { RateLimiter } from "../admission/rate_limiter.ts";
import { DEPENDENCIES, type ProbeObserver } from "./probes.ts";

/** What the admission metrics read and count. */
export interface AdmissionMetrics {
  /** Counts one anonymous refusal (the limiter's `onAnonymousRefused`). */
  anonymousRefused(): void;
  /** Counts one pre-auth budget refusal (the budget's observer). */
  preAuthRefused(): void;
  /** Counts one anonymous refusal held before its answer, or answered at once (hold full). */
  anonymousRefusalHeld(held: boolean): void;
  /** Reads the gauges from these (called once, after both exist). */
  watch(budget: PreAuthBudget, limiter: RateLimiter): void;
}

/** Registers the admission metrics on `registry`. */
export function createAdmissionMetrics(registry: Registry): AdmissionMetrics {
  const registers = [registry];
  let budget: PreAuthBudget | undefined;
  let limiter: RateLimiter | undefined;
  new Gauge({
    name: "preauth_held_bytes",
    help: "Bytes reserved now by requests not yet authenticated (the pre-auth budget in use).",
    registers,
    collect() {
      this.set(budget?.stats().heldBytes ?? 0);
    },
  });
  new Gauge({
    name: "preauth_budget_bytes",
    help: "The pre-auth budget: bytes all unauthenticated requests may hold together.",
    registers,
    collect() {
      this.set(budget?.stats().budgetBytes ?? 0);
    },
  });
  const preAuthRejections = new Counter({
    name: "preauth_rejections_total",
    help: "Requests refused 503 preauth_budget because the pre-auth budget was spent.",
    registers,
  });
  const anonRejections = new Counter({
    name: "anon_rate_limited_total",
    help: "Requests without a valid token refused 429 by their peer's anonymous bucket.",
    registers,
  });
  const anonHeld = new Counter({
    name: "anon_refusals_total",
    help:
      "Anonymous 429 refusals by whether they were held ANON_REFUSAL_HOLD_MS before the answer (held) or answered at once (the hold was full).",
    labelNames: ["held"] as const,
    registers,
  });
  for (const held of ["held", "at_once"]) anonHeld.inc({ held }, 0);
  new Gauge({
    name: "anon_peer_buckets",
    help: "Anonymous peer-address buckets held now (bounded LRU map).",
    registers,
    collect() {
      this.set(limiter?.stats().anonPeers ?? 0);
    },
  });
  return {
    anonymousRefused: () => anonRejections.inc(),
    anonymousRefusalHeld: (held) => anonHeld.inc({ held: held ? "held" : "at_once" }),
    preAuthRefused: () => preAuthRejections.inc(),
    watch(b, l) {
      budget = b;
      limiter = l;
    },
  };
}

/** Registers the probe metrics on `registry` and returns the probes' observer. */
export function createProbeMetrics(registry: Registry): ProbeObserver {
  const registers = [registry];
  const up = new Gauge({
    name: "dependency_up",
    help: "1 while the dependency is up, 0 once its probes failed 3 times in a row (dep_outage).",
    labelNames: ["dependency"] as const,
    registers,
  });
  const failing = new Gauge({
    name: "dependency_probe_consecutive_failures",
    help: "Probes of the dependency that failed in a row (0 after a success).",
    labelNames: ["dependency"] as const,
    registers,
  });
  const probes = new Counter({
    name: "dependency_probes_total",
    help: "Dependency probes run, by dependency and result (ok, fail).",
    labelNames: ["dependency", "result"] as const,
    registers,
  });
  for (const dependency of DEPENDENCIES) {
    for (const result of ["ok", "fail"]) probes.inc({ dependency, result }, 0);
  }
  return {
    probed(state, ok) {
      const dependency = state.dependency;
      up.set({ dependency }, state.up ? 1 : 0);
      failing.set({ dependency }, state.consecutiveFailures);
      probes.inc({ dependency, result: ok ? "ok" : "fail" });
    },
  };
}
