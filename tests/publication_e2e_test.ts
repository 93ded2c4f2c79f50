// Publication end to end (contract §13): the REAL service (main.ts, file store) publishes what
// it commits under PUBLISH_DIR; a plain static HTTP server serves that directory; the edge
// (`deno serve edge.ts` under --deny-read/write/run/ffi, then the same edge bundled on Bun and
// Node) reads it and serves the same envelope (same manifest hash), ETag/304 and proofs that
// verify, and refuses a changed object byte and a pointer copied under another epoch's name
// with 503 origin_integrity. Before that, a crash between commit and publication: the first
// process cannot write PUBLISH_DIR and is killed; the queue entries survive and the next
// process publishes them. `rewarder publish --out` then writes the same bytes from the store,
// is idempotent, and never overwrites a different file. The auditor's page answers on both.
import assert from "node:assert/strict";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { canonicalBytes } from "../src/core/canonical_json.ts";
import { verifyProofDocument } from "../src/core/proof.ts";
import { objectPath, pointerPath } from "../src/core/publication.ts";
import { parsePublishedKeys } from "../src/shell/keys/key_files.ts";
import { AUDIT_PAGE_CSP } from "../routes/audit_page.ts";
import { prepareFixtures } from "./support/fixtures.ts";
import {
  bundleEdgeLauncher,
  bunPath,
  DENO_SERVE_EDGE_ARGS,
  DENO_SERVE_PORT_LINE,
  LAUNCHER_PORT_LINE,
  startProcess,
  staticServer,
  stop,
} from "./support/edge_processes.ts";
import { caller, freshDataDir, startService, tokenMinter, waitFor } from "./support/service.ts";

const REPO = new URL("../", import.meta.url).pathname;
const TENANT = "dev";
/** Longest wait for the publisher to catch up (it polls every 500 ms; a loaded machine). */
const PUBLISH_WAIT_MS_MAX = 30_000;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function metric(svc: { fetch(p: string): Promise<Response> }, name: string) {
  const text = await (await svc.fetch("/metrics")).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m === null ? undefined : Number(m[1]);
}

async function runCli(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/cli/rewarder.ts", ...args],
    cwd: REPO,
    env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function assertRefused(base: string, epoch: string, field: RegExp) {
  const res = await fetch(`${base}/rewarder/epochs/${epoch}`);
  const body = await res.json();
  assert.equal(res.status, 503, `${epoch}: ${JSON.stringify(body)}`);
  assert.equal(res.headers.get("etag"), null, "nothing of it is served");
  assert.equal(body.error.reason, "origin_integrity");
  assert.match(body.error.field, field);
}

Deno.test({
  name: "publication: the service publishes (a crash loses nothing), the edge serves it checked",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dataDir = await freshDataDir("pub_e2e");
    const fx = await prepareFixtures(dataDir);
    const work = await Deno.makeTempDir({ prefix: "pub_e2e_" });
    const publishDir = join(work, "publication");
    const token = await tokenMinter(dataDir).mint();
    const epochs = [
      { epochId: fx.hamilton.epochId, ref: fx.hamilton },
      { epochId: "interop-1", ref: fx.interop },
    ];
    const hashes = new Map<string, string>();
    let keysDoc: unknown;
    const cleanups: (() => Promise<unknown>)[] = [];
    try {
      await t.step("a crash between commit and publication loses nothing", async () => {
        // The first process cannot create PUBLISH_DIR (a parent is a file): its publications
        // fail and stay queued. It crashes (exit 137, no cleanup) right after its second
        // commit, before answering it.
        const blocker = join(work, "not-a-dir");
        await writeFile(blocker, "x");
        const first = await startService({
          dataDir,
          transport: "tcp",
          env: {
            PUBLISH_DIR: join(blocker, "publication"),
            REWARDER_TEST_CRASH_AT: "after_commit#2",
          },
        });
        const compute = (svc: typeof first, e: (typeof epochs)[number]) =>
          caller(svc)("POST", `/rewarder/epochs/${e.epochId}/compute`, {
            token,
            json: {
              inputs_cid: e.ref.inputs_cid,
              policy_id: e.ref.policy_id,
              policy_hash: e.ref.policy_hash,
            },
          });
        try {
          const a = await compute(first, epochs[0]!);
          assert.equal(a.status, 200, a.text);
          assert.ok(
            await waitFor(
              async () => ((await metric(first, "publication_failures_total")) ?? 0) >= 1,
              PUBLISH_WAIT_MS_MAX,
            ),
            "publication failures are counted",
          );
          assert.equal(await metric(first, "publication_queue_entries"), 1);
          assert.ok((await metric(first, "publication_lag_seconds"))! >= 0);
          assert.match(first.output(), /publication failed/, "one line for the failure streak");
          await assert.rejects(compute(first, epochs[1]!), "the crash answers nothing");
        } finally {
          assert.equal(await first.stop(), 137, "crashed at its second commit");
        }
        const second = await startService({
          dataDir,
          transport: "tcp",
          env: { PUBLISH_DIR: publishDir },
        });
        try {
          const pointers = epochs.map((e) => join(publishDir, pointerPath(TENANT, e.epochId)));
          assert.ok(
            await waitFor(async () => {
              for (const p of pointers) if (!(await exists(p))) return false;
              return (await metric(second, "publication_queue_entries")) === 0;
            }, PUBLISH_WAIT_MS_MAX),
            "the queued publications are written after the restart",
          );
          assert.equal(await metric(second, "publication_lag_seconds"), 0);
          const call = caller(second);
          for (const e of epochs) {
            const got = await call("GET", `/rewarder/epochs/${e.epochId}`, { token });
            assert.equal(got.status, 200, `${e.epochId} was committed: ${got.text}`);
            hashes.set(e.epochId, got.body.manifest_hash);
          }
          keysDoc = (await call("GET", "/rewarder/keys")).body;
          assert.deepEqual(
            JSON.parse(await Deno.readTextFile(join(publishDir, "keys.json"))),
            keysDoc,
            "keys.json is the GET /rewarder/keys document",
          );
          for (const e of epochs) {
            const served = await call("GET", `/rewarder/epochs/${e.epochId}`, { token });
            const object = await readFile(
              join(publishDir, objectPath(TENANT, hashes.get(e.epochId)!)),
            );
            assert.deepEqual(
              new Uint8Array(object),
              canonicalBytes(served.body),
              "the object is the committed envelope's JCS",
            );
          }
          // The auditor's page is mounted on the service, with its own CSP.
          const page = await second.fetch(`/audit/?epoch=${fx.hamilton.epochId}`);
          assert.equal(page.status, 200);
          assert.equal(page.headers.get("content-security-policy"), AUDIT_PAGE_CSP);
          await page.body?.cancel();
        } finally {
          await second.stop();
        }
      });

      await t.step(
        "rewarder publish --out: the same bytes from the store, idempotent",
        async () => {
          const out = join(work, "by-cli");
          const env = { DATA_DIR: dataDir };
          const first = await runCli(["publish", "--out", out], env);
          assert.equal(first.code, 0, first.stderr);
          assert.match(
            first.stdout,
            /published: 2 committed epochs, 4 files written, keys\.json written/,
          );
          for (const e of epochs) {
            for (
              const path of [
                pointerPath(TENANT, e.epochId),
                objectPath(TENANT, hashes.get(e.epochId)!),
              ]
            ) {
              assert.deepEqual(
                await readFile(join(out, path)),
                await readFile(join(publishDir, path)),
                path,
              );
            }
          }
          const again = await runCli(["publish", "--out", out], env);
          assert.equal(again.code, 0, again.stderr);
          assert.match(again.stdout, /2 committed epochs, 0 files written, keys\.json unchanged/);
          const pointer = join(out, pointerPath(TENANT, "interop-1"));
          await writeFile(pointer, "{}");
          const conflict = await runCli(["publish", "--out", out], env);
          assert.equal(conflict.code, 1);
          assert.match(conflict.stderr, /conflict: .*interop-1\.json: a different file exists/);
          assert.equal(await Deno.readTextFile(pointer), "{}", "never overwritten");
          const memory = await runCli(["publish", "--out", out], { ...env, STORE: "memory" });
          assert.equal(memory.code, 2);
          assert.match(memory.stderr, /STORE: memory holds nothing/);
        },
      );

      // The origin turns hostile: one byte of interop-1's object changed, hamilton's pointer
      // copied under another epoch's name.
      const interopObject = join(publishDir, objectPath(TENANT, hashes.get("interop-1")!));
      const bytes = await readFile(interopObject);
      const at = bytes.indexOf(new TextEncoder().encode('"amount_minor":"')) + 16;
      bytes[at] = bytes[at] === 0x31 ? 0x32 : 0x31;
      await writeFile(interopObject, bytes);
      await copyFile(
        join(publishDir, pointerPath(TENANT, fx.hamilton.epochId)),
        join(publishDir, pointerPath(TENANT, "copied")),
      );
      const origin = staticServer(publishDir);
      cleanups.push(() => origin.server.shutdown());
      const keys = parsePublishedKeys(keysDoc);
      const env = {
        EDGE_TENANT: TENANT,
        ORIGIN_URL: origin.url,
        EDGE_KEYS_JSON: JSON.stringify(keysDoc),
        EDGE_PUBLIC: "on",
        NO_COLOR: "1",
        PATH: Deno.env.get("PATH") ?? "",
      };
      const hamilton = fx.hamilton.epochId;
      const hamiltonHash = hashes.get(hamilton)!;

      const serves = async (base: string) => {
        const res = await fetch(`${base}/rewarder/epochs/${hamilton}`);
        assert.equal(res.status, 200);
        const envelope = await res.json();
        assert.equal(envelope.manifest_hash, hamiltonHash, "the same envelope");
        const etag = `"${hamiltonHash}"`;
        assert.equal(res.headers.get("etag"), etag);
        const again = await fetch(`${base}/rewarder/epochs/${hamilton}`, {
          headers: { "if-none-match": etag },
        });
        assert.equal(again.status, 304);
        await again.body?.cancel();
        for (const p of envelope.manifest.payouts.slice(0, 3)) {
          const proof =
            await (await fetch(`${base}/rewarder/epochs/${hamilton}/proofs/${p.account}`))
              .json();
          const verified = verifyProofDocument(proof, keys);
          assert.ok(verified.ok, verified.ok ? "" : verified.error.reason);
          assert.equal(proof.amount_minor, p.amount_minor);
        }
        await assertRefused(base, "interop-1", /^object/);
        await assertRefused(base, "copied", /^pointer\.epoch_id$/);
      };

      await t.step(
        "deno serve edge.ts (deny read/write/run/ffi) over the publication",
        async () => {
          const edge = await startProcess(
            Deno.execPath(),
            [...DENO_SERVE_EDGE_ARGS],
            env,
            DENO_SERVE_PORT_LINE,
          );
          try {
            await serves(edge.base);
            const page = await fetch(`${edge.base}/audit/?epoch=${hamilton}`);
            assert.equal(page.status, 200, "the auditor's page, query and all, on the edge");
            assert.equal(page.headers.get("content-security-policy"), AUDIT_PAGE_CSP);
            await page.body?.cancel();
            const metrics = await (await fetch(`${edge.base}/metrics`)).text();
            assert.match(metrics, /^edge_origin_integrity_failures_total 2$/m);
          } finally {
            await stop(edge.child);
          }
        },
      );

      await t.step("the same edge bundled, on Bun and on Node", async () => {
        const bundle = await bundleEdgeLauncher(work);
        for (const [name, cmd] of [["node", "node"], ["bun", bunPath()]] as const) {
          const edge = await startProcess(cmd, [bundle], env, LAUNCHER_PORT_LINE);
          try {
            await serves(edge.base);
          } catch (err) {
            throw new Error(`${name}: ${(err as Error).message}; output: ${edge.output()}`);
          } finally {
            await stop(edge.child);
          }
        }
      });
    } finally {
      for (const c of cleanups) await c();
      await Deno.remove(work, { recursive: true });
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
