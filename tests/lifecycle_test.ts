/**
 * The service's lifecycle, end to end (docs/DEPLOY.md "Stopping"): SIGTERM drains the listener,
 * then closes every service — dispatcher, audit sink (its queued lines flushed to disk), store,
 * keys — and only then exits 0, logging each step.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freshDataDir, startService } from "./support/service.ts";

/** Requests whose audit lines are still queued when SIGTERM arrives. */
const REJECTED_REQUESTS = 200;

Deno.test("SIGTERM: drain, then close services (audit lines on disk), then exit 0", async () => {
  const dataDir = await freshDataDir("lifecycle");
  const svc = await startService({ dataDir, transport: "tcp" });
  // Each rejected token is one audit line, appended without waiting for the disk: the answer
  // does not wait for it, so lines are still queued when the signal comes.
  const answers = await Promise.all(
    Array.from(
      { length: REJECTED_REQUESTS },
      () =>
        svc.fetch("/rewarder/epochs/e1", { headers: { authorization: "Macaroon AAAA" } })
          .then(async (r) => {
            await r.body?.cancel();
            return r.status;
          }),
    ),
  );
  assert.deepEqual(new Set(answers), new Set([401]));
  const code = await svc.stop();
  const out = svc.output();
  assert.equal(code, 0, `exit status after SIGTERM:\n${out.slice(-4000)}`);

  const lines = (await Deno.readTextFile(join(dataDir, "audit.jsonl"))).split("\n")
    .filter((l) => l.includes('"token_rejected"'));
  assert.equal(lines.length, REJECTED_REQUESTS, "every audited decision is on disk after SIGTERM");

  // The steps are logged, in order: drain started → drained → stopped.
  const started = out.indexOf("drain started");
  const drained = out.indexOf('"drained"');
  const stopped = out.indexOf('"stopped"');
  assert.ok(started >= 0 && drained > started && stopped > drained, `lifecycle log:\n${out}`);
  await Deno.remove(dataDir, { recursive: true });
});
