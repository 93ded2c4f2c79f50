/**
 * The service's lifecycle, end to end (docs/DEPLOY.md "Stopping"): SIGTERM drains the listener,
 * then closes every service — dispatcher, audit trail (the open minute's summary lines written
 * and flushed to disk), store, keys — and only then exits 0, logging each step.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freshDataDir, startService } from "./support/service.ts";

/** Requests with a forged token sent before SIGTERM (401, or 429 past the peer's bucket). */
const REJECTED_REQUESTS = 200;

Deno.test("SIGTERM: drain, then close services (audit summaries on disk), then exit 0", async () => {
  const dataDir = await freshDataDir("lifecycle");
  const svc = await startService({ dataDir, transport: "tcp" });
  // Rejected tokens are counted per minute and reason (docs/RUNBOOK.md, "Audit log"): the
  // counts are still in memory when the signal comes, and shutdown writes them.
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
  // Authentication comes first (docs/ARCHITECTURE.md, "Order of the middleware"): every forged
  // token is a rejected token, counted once; an unauthenticated peer is then charged to a rate
  // bucket of its own, and past it the answer is 429 rather than 401.
  assert.deepEqual(answers.filter((s) => s !== 401 && s !== 429), []);
  assert.ok(answers.some((s) => s === 401));
  const code = await svc.stop();
  const out = svc.output();
  assert.equal(code, 0, `exit status after SIGTERM:\n${out.slice(-4000)}`);

  const summaries = (await Deno.readTextFile(join(dataDir, "audit.jsonl"))).trimEnd().split("\n")
    .map((l) => JSON.parse(l)).filter((l) => l.event === "summary" && l.of === "token_rejected");
  assert.ok(summaries.length >= 1 && summaries.length <= 2, "one line per minute and reason");
  assert.equal(
    summaries.reduce((n, l) => n + l.count, 0),
    REJECTED_REQUESTS,
    "every counted rejection is on disk after SIGTERM",
  );

  // The steps are logged, in order: drain started → drained → stopped.
  const started = out.indexOf("drain started");
  const drained = out.indexOf('"drained"');
  const stopped = out.indexOf('"stopped"');
  assert.ok(started >= 0 && drained > started && stopped > drained, `lifecycle log:\n${out}`);
  await Deno.remove(dataDir, { recursive: true });
});
