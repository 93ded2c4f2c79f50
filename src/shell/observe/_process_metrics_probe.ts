// Test probe for process_metrics_test.ts: prints the process gauges of a fresh metrics set.
import { createMetrics } from "./metrics.ts";

const metrics = createMetrics();
const text = await metrics.registry.metrics();
const values: Record<string, number> = {};
for (const line of text.split("\n")) {
  const m = /^(process_resident_memory_bytes|process_heap_bytes|process_open_fds) (\S+)$/.exec(
    line,
  );
  if (m) values[m[1]!] = Number(m[2]);
}
console.log(JSON.stringify(values));
