// Runs without --allow-write: `deno test --allow-read src/shell/store/memory_run_store_test.ts`
// proves the amnesia backend never touches the filesystem for writing.
import { createMemoryRunStore } from "./memory_run_store.ts";
import { runStoreConformance } from "./run_store_conformance.ts";

runStoreConformance("memory", { open: () => Promise.resolve(createMemoryRunStore()) });
