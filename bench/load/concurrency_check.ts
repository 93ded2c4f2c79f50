/**
 * Concurrency check (MAX_INFLIGHT, contract §12): hold MAX_INFLIGHT compute requests in flight behind a slow
 * accounting service (INPUTS_SOURCE pointing at a loopback server that waits HOLD_MS before
 * answering — a realistic slow downstream, no test knob in the service), then check that
 * request 513 gets 503 OVERLOADED with Retry-After, that the rest of 600 do too, and that
 * `/healthz` stays fast meanwhile.
 *
 * @module
 */
import { casGet } from "../../src/shell/sources/cas.ts";
import { type Runtime, startServer } from "./servers.ts";

/** The cap under test (MAX_INFLIGHT's default, contract §12). */
export const INFLIGHT_MAX = 512;
/** Requests offered in total. */
export const OFFERED = 600;
/** How long the slow source holds each request (ms); below REQUEST_TIMEOUT_MS (5 s). */
export const HOLD_MS = 3_000;
/** Interval of the /healthz probe during the hold (ms). */
const PROBE_EVERY_MS = 50;
/** Bound on waiting for the held requests to reach the source (ms). */
const ARRIVAL_WAIT_MS = 10_000;
/** Bound on waiting for every answer (ms). */
const ANSWER_WAIT_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  code: string | undefined;
  retryAfter: string | null;
  ms: number;
  /** Answer time since the start of the run (ms). */
  endT: number;
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, p50Ms: r(at(50)), p99Ms: r(at(99)), maxMs: r(s.at(-1) ?? NaN) };
}

function histogram(answers: Answer[]): Record<string, number> {
  const h: Record<string, number> = {};
  for (const a of answers) {
    const k = `${a.status}${a.code ? " " + a.code : ""}`;
    h[k] = (h[k] ?? 0) + 1;
  }
  return h;
}

/** Runs the check against the service on `rt`. */
export async function concurrencyCheck(
  rt: Runtime,
  dataDir: string,
  token: string,
  sample: { epochId: string; inputsCid: string; policyId: string; policyHash: string },
) {
  const inputs = await casGet(dataDir, sample.inputsCid);
  let arrived = 0;
  const ac = new AbortController();
  const source = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, async (req) => {
    arrived++;
    await sleep(HOLD_MS);
    return new URL(req.url).pathname.endsWith(`/${sample.inputsCid}`)
      ? new Response(new Uint8Array(inputs))
      : new Response("not found", { status: 404 });
  });
  const env = {
    DATA_DIR: dataDir,
    INPUTS_SOURCE: `http://127.0.0.1:${source.addr.port}/cas`,
    MAX_INFLIGHT: String(INFLIGHT_MAX),
    MAX_RPS: "100000",
    RATE_BURST: "100000",
    TENANT_RPS_MAX: "100000",
  };
  const server = await startServer("service", rt, env);
  try {
    const base = server.url;
    const healthz = async () => {
      const t = performance.now();
      const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5_000) });
      await r.arrayBuffer();
      return { ok: r.status === 200, ms: performance.now() - t };
    };
    const baseline: number[] = [];
    for (let i = 0; i < 5; i++) await healthz(); // warm-up, not recorded
    for (let i = 0; i < 20; i++) baseline.push((await healthz()).ms);

    const compute = async (): Promise<Answer> => {
      const t = performance.now();
      const r = await fetch(`${base}/rewarder/epochs/${sample.epochId}/compute`, {
        method: "POST",
        headers: { Authorization: `Macaroon ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          inputs_cid: sample.inputsCid,
          policy_id: sample.policyId,
          policy_hash: sample.policyHash,
        }),
        signal: AbortSignal.timeout(ANSWER_WAIT_MS),
      });
      const text = await r.text();
      let code: string | undefined;
      if (r.status !== 200) {
        try {
          const e = JSON.parse(text).error;
          code = `${e.code}/${e.reason}`;
        } catch {
          code = "unparsed";
        }
      }
      const end = performance.now();
      return {
        status: r.status,
        code,
        retryAfter: r.headers.get("retry-after"),
        ms: end - t,
        endT: end - t0,
      };
    };
    const failed = (e: unknown): Answer => ({
      status: 0,
      code: `network:${e instanceof Error ? e.name : "error"}`,
      retryAfter: null,
      ms: NaN,
      endT: NaN,
    });

    // /healthz probe over the whole run.
    const t0 = performance.now();
    const probe: { t: number; ms: number; ok: boolean }[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        const t = performance.now() - t0;
        const h = await healthz().catch(() => ({ ok: false, ms: NaN }));
        probe.push({ t, ...h });
        await sleep(PROBE_EVERY_MS);
      }
    })();

    const held = Array.from({ length: INFLIGHT_MAX }, () => compute().catch(failed));
    while (arrived < INFLIGHT_MAX && performance.now() - t0 < ARRIVAL_WAIT_MS) await sleep(10);
    const allHeldMs = performance.now() - t0;
    const heldAtSource = arrived;
    const ready = await fetch(`${base}/readyz`).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    const inflightGauge = Number(
      /^\w*http_inflight_requests(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? NaN,
    );
    const the513th = await compute().catch(failed);
    const rest = await Promise.all(
      Array.from({ length: OFFERED - INFLIGHT_MAX - 1 }, () => compute().catch(failed)),
    );
    const rejectedPhaseEndMs = performance.now() - t0;
    const heldAnswers = await Promise.all(held);
    probing = false;
    await prober;
    const firstHeldAnswerMs = Math.min(...heldAnswers.map((a) => a.endT).filter(Number.isFinite));
    const summarize = (xs: typeof probe) => ({
      ...stats(xs.map((p) => p.ms)),
      failures: xs.filter((p) => !p.ok).length,
    });
    return {
      runtime: rt,
      config: { INFLIGHT_MAX, OFFERED, HOLD_MS, REQUEST_TIMEOUT_MS: 5000 },
      serviceCommand: server.command.replace(
        /INPUTS_SOURCE=\S+/,
        "INPUTS_SOURCE=http://127.0.0.1:<slow source>/cas",
      ),
      heldAtSource,
      allHeldAfterMs: Math.round(allHeldMs),
      inflightGauge,
      readyz: ready,
      the513th,
      rest: {
        histogram: histogram(rest),
        latency: stats(rest.map((a) => a.ms)),
        retryAfter: [...new Set(rest.map((a) => a.retryAfter))],
      },
      rejectedPhaseEndMs: Math.round(rejectedPhaseEndMs),
      heldFinal: {
        histogram: histogram(heldAnswers),
        latency: stats(heldAnswers.map((a) => a.ms)),
      },
      healthzBaseline: stats(baseline),
      // Saturated: from all 512 held until the first held request is answered.
      firstHeldAnswerMs: Math.round(firstHeldAnswerMs),
      healthzWhileSaturated: summarize(
        probe.filter((p) => p.t >= allHeldMs && p.t + p.ms <= firstHeldAnswerMs),
      ),
      // Whole run: arrival, saturation, release of the 512 into the engine, drain.
      healthzWholeRun: summarize(probe),
      sourceRequestsTotal: arrived,
      command: `deno run --allow-all bench/load/run.ts --runtimes ${rt} --checks ${rt} --skip-perf`,
    };
  } finally {
    await server.stop();
    ac.abort();
    await source.finished.catch(() => {});
  }
}
