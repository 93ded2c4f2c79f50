/**
 * The engine pool's metrics (docs/RUNBOOK.md), registered on the service's registry. No label
 * carries a tenant (tenants are unbounded): the queue is shown as its total depth, the number
 * of tenants waiting and the deepest tenant's backlog (one tenant flooding shows as a deep
 * backlog with few tenants), plus the distribution of queue waits.
 *
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { EngineObserver } from "./engine_pool.ts";

/** Queue wait buckets, seconds: 1 ms .. 30 s. */
export const ENGINE_QUEUE_WAIT_BUCKETS_S: readonly number[] = [
  0.001,
  0.005,
  0.025,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Registers the engine metrics on `registry` and returns the pool's observer. */
export function createEngineMetrics(registry: Registry): EngineObserver {
  const registers = [registry];
  const depth = new Gauge({
    name: "engine_queue_jobs",
    help: "Compute jobs waiting for an engine worker (all tenants).",
    registers,
  });
  const tenants = new Gauge({
    name: "engine_queue_tenants",
    help: "Tenants with at least one compute job waiting.",
    registers,
  });
  const deepest = new Gauge({
    name: "engine_queue_tenant_jobs_max",
    help: "Jobs waiting of the tenant with the longest backlog.",
    registers,
  });
  const wait = new Histogram({
    name: "engine_queue_wait_seconds",
    help: "Time a compute job waited for an engine worker.",
    buckets: [...ENGINE_QUEUE_WAIT_BUCKETS_S],
    registers,
  });
  const started = new Counter({
    name: "engine_jobs_started_total",
    help: "Compute jobs given to an engine worker.",
    registers,
  });
  const cancelled = new Counter({
    name: "engine_jobs_cancelled_total",
    help: "Compute jobs cancelled by their own request (deadline or client gone), by state.",
    labelNames: ["state", "reason"] as const,
    registers,
  });
  const replaced = new Counter({
    name: "engine_worker_replacements_total",
    help: "Engine workers terminated and replaced (a cancelled running job, or a crash).",
    labelNames: ["cause"] as const,
    registers,
  });
  const workers = new Gauge({
    name: "engine_workers",
    help: "Engine workers by state (busy = running a job, idle = started and waiting).",
    labelNames: ["state"] as const,
    registers,
  });
  for (const state of ["queued", "running"]) {
    for (const reason of ["deadline", "client_gone"]) cancelled.inc({ state, reason }, 0);
  }
  for (const cause of ["cancelled", "crashed"]) replaced.inc({ cause }, 0);
  return {
    queue(jobs, tenantsWaiting, deepestJobs) {
      depth.set(jobs);
      tenants.set(tenantsWaiting);
      deepest.set(deepestJobs);
    },
    started(seconds) {
      started.inc();
      if (Number.isFinite(seconds) && seconds >= 0) wait.observe(seconds);
    },
    cancelled(state, reason) {
      cancelled.inc({ state, reason });
    },
    replaced(cause) {
      replaced.inc({ cause });
    },
    workers(busy, idle) {
      workers.set({ state: "busy" }, busy);
      workers.set({ state: "idle" }, idle);
    },
  };
}
