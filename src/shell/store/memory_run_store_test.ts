// Runs without --allow-write: `deno test --allow-read src/shell/store/memory_run_store_test.ts`
// proves the amnesia backend never touches the filesystem for writing.
import { createMemoryRunStore } from "./memory_run_store.ts";
import { runStoreConformance } from "../../../tests/support/run_store_conformance.ts";

runStoreConformance("memory", { open: () => Promise.resolve(createMemoryRunStore()) });

import assert from "node:assert/strict";
import { createRetentionSweep } from "./retention_sweep.ts";
import { fakeRun, storedRunOf } from "../../../tests/support/ledger_fixtures.ts";

Deno.test("retention sweep purges expired dry runs by the injected clock, bounded", async () => {
  const store = createMemoryRunStore();
  for (const v of ["a", "b", "c"]) {
    await store.putRun(
      storedRunOf(fakeRun({ variant: v, epochId: `e${v}` }), { dryRun: true, seq: 1, atMs: 0 }),
    );
  }
  let now = 89 * 86_400_000;
  const sweep = createRetentionSweep({ store, nowMs: () => now, batchMax: 2 });
  assert.deepEqual(await sweep(), { purgedRuns: 0, more: false });
  now = 91 * 86_400_000;
  assert.deepEqual(await sweep(), { purgedRuns: 2, more: true });
  assert.deepEqual(await sweep(), { purgedRuns: 1, more: false });
});
