import assert from "node:assert/strict";

const PROBE = new URL("./_process_metrics_probe.ts", import.meta.url).pathname;

/** Runs the probe under the service's permissions (`deno task start`), not `-A`. */
async function probe(): Promise<Record<string, number>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      "--allow-sys",
      "--deny-run",
      "--deny-ffi",
      PROBE,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("process metrics under the service's permissions: memory is true, never a flat 0", async () => {
  const values = await probe();
  assert.ok((values.process_resident_memory_bytes ?? 0) > 1024 * 1024, JSON.stringify(values));
  assert.ok((values.process_heap_bytes ?? 0) > 0, JSON.stringify(values));
  // Descriptor counts cannot be read without --allow-all on Deno: absent, not 0.
  if ("process_open_fds" in values) assert.ok(values.process_open_fds! > 0);
});
