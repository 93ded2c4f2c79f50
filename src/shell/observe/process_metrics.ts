/**
 * Process metrics that read true on every runtime.
 *
 * prom-client's default process collectors read `/proc/self/*`. Deno grants those paths only
 * under `--allow-all` (measured: `--allow-read` is not enough), and the collectors swallow the
 * error, so `process_resident_memory_bytes`, `process_heap_bytes` and `process_open_fds` read 0
 * under the service's least-privilege permissions. This module probes `/proc/self` once; where it
 * cannot be read, it replaces the memory gauges with ones fed by `process.memoryUsage()` (no
 * permission needed) and removes the gauges it cannot feed (descriptor counts), so a dashboard
 * sees either a true value or no series — never a flat 0.
 *
 * @module
 */
import { readdirSync } from "node:fs";
import process from "node:process";
import { Gauge, type Registry } from "prom-client";

/** Default gauges that need `/proc/self` and have no permission-free source. */
const PROC_ONLY_GAUGES = ["process_open_fds", "process_max_fds", "process_virtual_memory_bytes"];

/** True when this process may read `/proc/self` (Linux with the permission to). */
export function procSelfReadable(): boolean {
  if (process.platform !== "linux") return false;
  try {
    readdirSync("/proc/self/fd");
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the default process gauges of `registry` honest where `/proc/self` cannot be read:
 * resident memory and heap from `process.memoryUsage()`, descriptor gauges removed.
 * Answers whether the fallback was installed.
 */
export function installProcessMetricsFallback(
  registry: Registry,
  readable: boolean = procSelfReadable(),
): boolean {
  if (readable || process.platform !== "linux") return false;
  for (const name of ["process_resident_memory_bytes", "process_heap_bytes", ...PROC_ONLY_GAUGES]) {
    registry.removeSingleMetric(name);
  }
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
  new Gauge({
    name: "process_heap_bytes",
    help: "Process heap size in bytes (V8 heap total plus external memory).",
    registers: [registry],
    collect() {
      const m = process.memoryUsage();
      this.set(m.heapTotal + m.external);
    },
  });
  return true;
}
