/**
 * Denial-of-service suite (issue 9 item 2) against the real server (`main.ts`, embedded
 * default) on 127.0.0.1, bounded in connections, bytes and time (~1 min on Deno). For each
 * attack: the bad requests get the contract's status, a normal client's `/healthz` keeps
 * answering, with never more than HEALTHZ_MS_MAX of the service's own event-loop work (its main
 * thread's CPU time) while one probe is out: wall time on a busy machine also counts waits for
 * a core, so it is reported next to a control server's, not judged, and the server's VmRSS stays under
 * RSS_MIB_MAX. No step waits for a fixed time where it waits for something to happen (probes
 * taken, connections cut), and every such wait is bounded. Figures are printed
 * (`dos <attack>: {...}`) and recorded in docs/RESULTS.md "Hostile input".
 *
 *   deno test --allow-all tests/dos_test.ts                 # Deno.serve (default listener)
 *   DOS_RUNTIME=bun deno test --allow-all tests/dos_test.ts # main.ts under Bun
 *   DOS_LISTEN_ENGINE=node deno test --allow-all tests/dos_test.ts # Deno, node:http listener
 *
 * Slow clients: Deno.serve has no header timeout (RUNTIME-NOTES), so slowloris sockets are
 * held there; the suite asserts that the service keeps serving meanwhile and reports the
 * held count, it does not pretend they are closed. Slow bodies on /rewarder/* are cut by
 * the body cap's read timeout (REQUEST_TIMEOUT_MS, 5 s → 503).
 */
import assert from "node:assert/strict";
import process from "node:process";
import zlib from "node:zlib";
import { casPut } from "../src/shell/sources/cas.ts";
import { haveSlowhttptest, rawRequest, slowClients, slowhttptest } from "./dos/clients.ts";
import {
  type DosRuntime,
  type DosServer,
  PROBE_TIMEOUT_MS,
  startServer,
  type Watch,
  watch,
} from "./dos/server.ts";

/**
 * Most CPU time the service's event loop may spend while one /healthz probe is out, during
 * every attack (ms): the stall a normal client sees on a quiet machine.
 */
const HEALTHZ_MS_MAX = 2_000;
/** Probe rounds of the baseline step before its compute. */
const BASELINE_PROBES = 20;
/** Bound on waiting for them, ms. */
const BASELINE_WAIT_MS_MAX = 60_000;
/** Request deadline and cost guard of the huge-values server (see that step), ms. */
const HUGE_DEADLINE_MS = 120_000;
/** Bound on the slow-body window: it ends when the server has cut every connection, ms. */
const SLOW_BODY_WINDOW_MS_MAX = 60_000;
/** The server's resident memory must stay under this during every attack (MiB). */
const RSS_MIB_MAX = 1_024;
/** The app's body cap (REQ_BODY_MAX default, bytes). */
const BODY_MAX = 1_048_576;
/** Depth of the deeply nested JSON documents. */
const JSON_DEPTH = 100_000;

const runtime = (process.env.DOS_RUNTIME ?? "deno") as DosRuntime;
const figures: Record<string, unknown> = {};

function check(name: string, w: Watch, extra: Record<string, unknown>): void {
  figures[name] = { ...extra, ...w };
  console.log(`dos ${runtime} ${name}: ${JSON.stringify({ ...extra, ...w })}`);
  assert.ok(w.healthzCount > 0, `${name}: no healthz probe ran`);
  assert.equal(w.healthzFailed, 0, `${name}: healthz failed ${w.healthzFailed} times`);
  // What the attack costs the service's own loop: the CPU time its main thread used while one
  // probe was out. Wall time is reported, not judged: on a machine with more runnable work than
  // cores it also counts the waits for a core (a 2.1 s probe next to a 0.25 s control was seen
  // at a load average of 22 during the first compute, with no attack running).
  assert.ok(
    w.loopCpuMaxMs < HEALTHZ_MS_MAX,
    `${name}: the event loop ran ${w.loopCpuMaxMs} ms of CPU while one healthz probe was out ` +
      `(healthz max ${w.healthzMaxMs} ms, control max ${w.controlMaxMs} ms)`,
  );
  assert.ok(w.rssMaxMib < RSS_MIB_MAX, `${name}: RSS reached ${w.rssMaxMib} MiB`);
}

function statusOf(o: Awaited<ReturnType<typeof rawRequest>>): string {
  return "status" in o ? String(o.status) : "closed" in o ? "closed" : "timeout";
}

/** Attempts of a request answered 503 (engine cold start or CPU contention under
 * `deno test --parallel`: the contract's shed answer, retried like a client would). */
const SHED_RETRIES_MAX = 10;

async function post(
  srv: DosServer,
  path: string,
  body: BodyInit,
  headers: Record<string, string> = {},
): Promise<number> {
  const replayable = typeof body === "string" || body instanceof Uint8Array;
  let status = 0;
  for (let attempt = 0; attempt < (replayable ? SHED_RETRIES_MAX : 1); attempt++) {
    status = await postOnce(srv, path, body, headers);
    if (status !== 503) break;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return status;
}

async function postOnce(
  srv: DosServer,
  path: string,
  body: BodyInit,
  headers: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`http://${srv.host}:${srv.port}${path}`, {
    method: "POST",
    headers: {
      authorization: `Macaroon ${srv.token}`,
      "content-type": "application/json",
      ...headers,
    },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test({
  name: `dos suite (${runtime})`,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const engine = process.env.DOS_LISTEN_ENGINE; // "node": Deno via node:http (LISTEN_ENGINE)
    const baseEnv: Record<string, string> = engine ? { LISTEN_ENGINE: engine } : {};
    const srv = await startServer(runtime, baseEnv);
    const compute = `/rewarder/epochs/${srv.sampleEpoch}/compute`;
    const url = (p: string) => `http://${srv.host}:${srv.port}${p}`;
    try {
      await t.step("baseline", async () => {
        const { value, watch: w } = await watch(srv, async ({ probes }) => {
          const deadline = Date.now() + BASELINE_WAIT_MS_MAX;
          while (probes() < BASELINE_PROBES && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 50));
          }
          return await post(srv, compute, JSON.stringify({ ...srv.sampleBody, dry_run: true }));
        });
        assert.equal(value, 200);
        check("baseline", w, { compute: value });
      });

      await t.step(
        "slowloris (hand-written: 50 sockets, a header line per second, 12 s)",
        async () => {
          const { value, watch: w } = await watch(srv, () =>
            slowClients(srv.host, srv.port, {
              count: 50,
              dripMs: 1_000,
              windowMs: 12_000,
              mode: "headers",
              path: compute,
            }));
          check("slowloris", w, value as unknown as Record<string, unknown>);
        },
      );

      await t.step(
        "slow body (20 sockets, 1 byte per second, until the server cuts them)",
        async () => {
          const { value, watch: w } = await watch(srv, () =>
            slowClients(srv.host, srv.port, {
              count: 20,
              dripMs: 1_000,
              windowMs: SLOW_BODY_WINDOW_MS_MAX,
              untilAllClosed: true,
              mode: "body",
              path: compute,
              // Authenticated: a request without a token is refused before its body is read.
              headers: { Authorization: `Macaroon ${srv.token}` },
            }));
          // The body cap's read timeout (REQUEST_TIMEOUT_MS = 5 s) answers 503 TIMEOUT.
          assert.equal(value.heldAtEnd, 0, "slow bodies must be cut by the body read timeout");
          for (const code of Object.keys(value.statuses)) {
            assert.ok(["503", "408", "400"].includes(code), code);
          }
          check("slow_body", w, value as unknown as Record<string, unknown>);
        },
      );

      await t.step("slowhttptest -H and -B (30 connections, 8 s each)", async () => {
        if (!(await haveSlowhttptest())) {
          if (process.env.CI === "true") {
            assert.fail("slowhttptest missing in CI (.ci/setup.d/60-slowhttptest.sh)");
          }
          console.log("SKIP slowhttptest: not installed (apt-get install slowhttptest)");
          return;
        }
        const opts = { connections: 30, durationS: 8, probeS: PROBE_TIMEOUT_MS / 1_000 };
        const explain = (r: Awaited<ReturnType<typeof slowhttptest>>) =>
          `${r.summary} (exit ${r.exitCode} ${r.signal ?? ""})\n${r.raw}`;
        const h = await watch(srv, () => slowhttptest(url("/healthz"), "-H", opts));
        assert.match(h.value.summary, /available=YES/, explain(h.value));
        check("slowhttptest_headers", h.watch, { result: h.value.summary });
        const b = await watch(srv, () => slowhttptest(url(compute), "-B", opts));
        assert.match(b.value.summary, /available=YES/, explain(b.value));
        check("slowhttptest_body", b.watch, { result: b.value.summary });
      });

      await t.step("gzip/zstd bombs and nested encodings", async () => {
        const zeros = new Uint8Array(64 << 20);
        const gz = new Uint8Array(zlib.gzipSync(zeros, { level: 9 }));
        const nested = new Uint8Array(zlib.gzipSync(gz, { level: 9 }));
        const zstd = (zlib as unknown as { zstdCompressSync?: (b: Uint8Array) => Uint8Array })
          .zstdCompressSync;
        const { value, watch: w } = await watch(srv, async () => {
          const out: Record<string, number> = {};
          for (let i = 0; i < 5; i++) {
            out.gzip_64m = await post(srv, compute, gz, { "content-encoding": "gzip" });
          }
          out.gzip_in_gzip = await post(srv, compute, nested, { "content-encoding": "gzip" });
          out.gzip_gzip_header = await post(srv, compute, nested, {
            "content-encoding": "gzip, gzip",
          });
          if (zstd) {
            out.zstd_64m = await post(srv, compute, new Uint8Array(zstd(zeros)), {
              "content-encoding": "zstd",
            });
          }
          out.truncated = await post(srv, compute, gz.subarray(0, gz.length >> 1), {
            "content-encoding": "gzip",
          });
          return out;
        });
        assert.equal(value.gzip_64m, 413);
        assert.ok([413, 415].includes(value.gzip_in_gzip!), `nested: ${value.gzip_in_gzip}`);
        assert.equal(value.gzip_gzip_header, 415);
        if (value.zstd_64m !== undefined) {
          assert.ok([413, 415].includes(value.zstd_64m), `zstd ${value.zstd_64m}`);
        }
        assert.ok([413, 415].includes(value.truncated!), `truncated: ${value.truncated}`);
        check("bombs", w, { compressedBytes: gz.length, statuses: value });
      });

      await t.step("oversize bodies with and without Content-Length", async () => {
        const big = new Uint8Array(BODY_MAX * 4).fill(0x20);
        const { value, watch: w } = await watch(srv, async () => {
          const withLength = await post(srv, compute, big);
          let sent = 0;
          const stream = new ReadableStream<Uint8Array>({
            pull(ctrl) {
              if (sent >= 4 * BODY_MAX) return ctrl.close();
              sent += 65_536;
              ctrl.enqueue(new Uint8Array(65_536).fill(0x20));
            },
          });
          const chunked = await post(srv, compute, stream).catch(() => -1);
          const lying = await rawRequest(
            srv.host,
            srv.port,
            `POST ${compute} HTTP/1.1\r\nHost: x\r\nAuthorization: Macaroon ${srv.token}\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n`,
            "{}",
          );
          return { withLength, chunked, lyingLength: statusOf(lying) };
        });
        assert.equal(value.withLength, 413);
        assert.ok(value.chunked === 413 || value.chunked === -1, `chunked: ${value.chunked}`);
        assert.equal(value.lyingLength, "413");
        check("oversize", w, value);
      });

      await t.step("conflicting framing headers (raw node:net)", async () => {
        const head = (extra: string) =>
          `POST ${compute} HTTP/1.1\r\nHost: x\r\nAuthorization: Macaroon ${srv.token}\r\nContent-Type: application/json\r\n${extra}\r\n`;
        const { value, watch: w } = await watch(srv, async () => ({
          cl_and_te: statusOf(
            await rawRequest(
              srv.host,
              srv.port,
              head("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"),
              "2\r\n{}\r\n0\r\n\r\n",
            ),
          ),
          two_cl: statusOf(
            await rawRequest(
              srv.host,
              srv.port,
              head("Content-Length: 2\r\nContent-Length: 40\r\n"),
              "{}",
            ),
          ),
          cl_list: statusOf(
            await rawRequest(srv.host, srv.port, head("Content-Length: 2, 40\r\n"), "{}"),
          ),
          te_gzip_chunked: statusOf(
            await rawRequest(
              srv.host,
              srv.port,
              head("Transfer-Encoding: gzip, chunked\r\n"),
              "2\r\n{}\r\n0\r\n\r\n",
            ),
          ),
          te_obfuscated: statusOf(
            await rawRequest(
              srv.host,
              srv.port,
              head("Content-Length: 2\r\nTransfer-Encoding : chunked\r\n"),
              "{}",
            ),
          ),
        }));
        // Contract: a request with ambiguous framing is refused (400) or the connection is
        // closed without an answer; never 2xx (smuggling) and never 5xx.
        for (const [k, v] of Object.entries(value)) {
          assert.ok(v === "400" || v === "closed" || v === "415", `${k}: ${v}`);
        }
        check("framing", w, value);
      });

      await t.step("100k-deep JSON as compute body and as inputs in the CAS", async () => {
        const deep = "[".repeat(JSON_DEPTH) + "]".repeat(JSON_DEPTH);
        const deepObj = '{"a":'.repeat(JSON_DEPTH) + "1" + "}".repeat(JSON_DEPTH);
        const cidArr = await casPut(srv.dataDir, new TextEncoder().encode(deep));
        const cidObj = await casPut(srv.dataDir, new TextEncoder().encode(`{"schema":${deepObj}}`));
        const { value, watch: w } = await watch(srv, async () => ({
          body_array: await post(srv, compute, deep),
          body_object: await post(srv, compute, deepObj),
          inputs_array: await post(
            srv,
            compute,
            JSON.stringify({ ...srv.sampleBody, inputs_cid: cidArr }),
          ),
          inputs_object: await post(
            srv,
            compute,
            JSON.stringify({ ...srv.sampleBody, inputs_cid: cidObj }),
          ),
        }));
        for (const [k, v] of Object.entries(value)) assert.equal(v, 400, `${k}: ${v}`);
        check("deep_json", w, value);
      });

      // Parsing the 32 MiB document is CPU-bound: on a busy machine it can outlast the default
      // request deadline, and the answer is then the shed one (503 TIMEOUT), which says nothing
      // about the refusal. So this step runs on its own server with a deadline far beyond what
      // contention costs here, and the refusal (400) and its memory are what is observed.
      await t.step("huge numbers and strings (largest allowed sizes)", async () => {
        const big = await startServer(runtime, {
          ...baseEnv,
          REQUEST_TIMEOUT_MS: String(HUGE_DEADLINE_MS),
          MAX_EPOCH_COST_MS: String(HUGE_DEADLINE_MS),
        });
        try {
          const room = BODY_MAX - 512;
          const hugeNumber = "9".repeat(room);
          const bigInputs = new TextEncoder().encode(
            `{"schema":"svc-rewarder.inputs.v1","epoch_id":"${big.sampleEpoch}","asset":"roc","entries":[{"account":"${
              "a".repeat(32 << 20)
            }","metrics":{}}]}`,
          );
          const cidBig = await casPut(big.dataDir, bigInputs);
          const moneyInputs = new TextEncoder().encode(
            `{"schema":"svc-rewarder.inputs.v1","epoch_id":"${big.sampleEpoch}","asset":"roc","pool_minor":"${
              "9".repeat(8 << 20)
            }","entries":[]}`,
          );
          const cidMoney = await casPut(big.dataDir, moneyInputs);
          const { value, watch: w } = await watch(big, async () => ({
            notes_1mib: await post(
              big,
              compute,
              JSON.stringify({ ...big.sampleBody, notes: "a".repeat(room) }),
            ),
            number_1mib: await post(big, compute, `{"dry_run":${hugeNumber}}`),
            exponent: await post(
              big,
              compute,
              JSON.stringify({ ...big.sampleBody }).replace("}", `,"dry_run":1e999999}`),
            ),
            inputs_32mib_account: await post(
              big,
              compute,
              JSON.stringify({ ...big.sampleBody, inputs_cid: cidBig }),
            ),
            inputs_8mib_money: await post(
              big,
              compute,
              JSON.stringify({ ...big.sampleBody, inputs_cid: cidMoney }),
            ),
          }));
          for (const [k, v] of Object.entries(value)) assert.equal(v, 400, `${k}: ${v}`);
          check("huge_values", w, value);
        } finally {
          await big.stop();
        }
      });

      await t.step("still serving after the suite", async () => {
        assert.equal(await post(srv, compute, JSON.stringify(srv.sampleBody)), 200);
      });
    } finally {
      await srv.stop();
      if (process.env.DOS_FIGURES) {
        await Deno.writeTextFile(
          process.env.DOS_FIGURES,
          JSON.stringify({ runtime, figures }, null, 2),
        );
      }
    }
  },
});
