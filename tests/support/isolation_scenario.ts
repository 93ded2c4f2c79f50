/**
 * The hostile-load scenario shared by tests/isolation_acceptance.ts (which asserts facts) and
 * bench/isolation_bench.ts (which writes the absolute figures): the REAL service (`main.ts`) on
 * loopback, an honest tenant's fresh small computes measured first alone (the baseline), then
 * again while, at the same time,
 *
 * - another tenant starts big computes and hangs up once the service reports a job started
 *   (`engine_jobs_started_total`, polled), {@link ScenarioOptions.attackers} at a time;
 * - anonymous clients send 1 MiB bodies a 64 KiB chunk at a time (trickle);
 * - anonymous clients flood GET /rewarder/runs;
 * - {@link ScenarioOptions.slowSockets} sockets that never finish their headers (silent, a
 *   partial request line and headers, headers trickled a line at a time) are held open: each
 *   one the server closes is replaced by a new one while the attack lasts;
 * - /healthz is read at a steady pace and the service's RSS sampled from /proc.
 *
 * Every loop is bounded and stops with the attack; every wait is for an event (a response, a
 * socket's close, a metric read) and bounded. The only timers are a client's pace (the
 * trickle, the probes, a retry after Retry-After) and the bounds.
 *
 * @module
 */
import { casPut } from "../../src/shell/sources/cas.ts";
import { generateEpochInputs } from "../../vectors/generate_epoch.ts";
import { prepareFixtures } from "./fixtures.ts";
import { answerOf, freshDataDir, type Service, startService, tokenMinter } from "./service.ts";
import { type SlowKind, type SlowOutcome, slowSocket } from "./slow_socket.ts";
export type { SlowOutcome };

/** What to run; every field has the default of the acceptance scenario. */
export interface ScenarioOptions {
  /** Fresh small computes of the honest tenant, alone and then under attack (each). */
  honestComputes: number;
  /** Recipients of each honest epoch. */
  honestRecipients: number;
  /** Concurrent abandoning computes of the attacking tenant. */
  attackers: number;
  /** Recipients of the attacker's epoch (≈ 8 MB of inputs at 100k). */
  bigRecipients: number;
  /** Concurrent anonymous clients trickling 1 MiB bodies. */
  trickleClients: number;
  /** Concurrent anonymous clients flooding GETs. */
  floodClients: number;
  /** Slow-header sockets held open at once. */
  slowSockets: number;
  /** HEADER_DEADLINE_MS given to the service, ms. */
  headerDeadlineMs: number;
  /** How long after the deadline a slow socket is still counted as closed in time, ms. */
  closeSlackMs: number;
  /** Extra environment for the service. */
  env: Record<string, string>;
  /** Progress lines (default: none). */
  log: (line: string) => void;
}

/** The acceptance scenario (issue's "Done when"): 20 honest computes, 300 slow sockets. */
export const SCENARIO_DEFAULTS: ScenarioOptions = {
  honestComputes: 20,
  honestRecipients: 50,
  attackers: 4,
  bigRecipients: 100_000,
  trickleClients: 8,
  floodClients: 4,
  slowSockets: 300,
  headerDeadlineMs: 1_000,
  closeSlackMs: 3_000,
  env: {},
  log: () => {},
};

/** Size of an anonymous trickled body, bytes. */
export const TRICKLE_BODY_BYTES = 1024 * 1024;
/** One trickled write, bytes (the server's read chunk). */
export const TRICKLE_CHUNK_BYTES = 64 * 1024;
/** Pace of the trickled body chunks and slow header lines, ms (a client's pace). */
const TRICKLE_MS = 100;
/** Pace of the /healthz reader, ms. */
const HEALTHZ_EVERY_MS = 100;
/** Pace of the RSS sampler, ms. */
const RSS_EVERY_MS = 200;
/** Pace of the `/metrics` watcher of the attackers, ms (a poll, not a wait for time). */
const POLL_MS = 25;
/** Longest wait for an observed event (an attacker's job started, the sockets connected), ms. */
const OBSERVE_MS_MAX = 30_000;
/** Longest one request of the scenario may take, ms (an answer later than this is a failure). */
const REQUEST_MS_MAX = 30_000;
/** Longest wait for a Retry-After before the one retry, s. */
const RETRY_AFTER_S_MAX = 5;

/** One honest compute. */
export interface HonestOutcome {
  epochId: string;
  status: number;
  /** The error reason when not 200. */
  reason: string | undefined;
  retries: number;
  /** From the first send to the final answer (retry included), ms. */
  ms: number;
  text: string;
}

const SLOW_KINDS: SlowKind[] = ["silent", "partial", "trickle"];

/** The scenario's record. */
export interface ScenarioResult {
  options: Omit<ScenarioOptions, "log" | "env">;
  baseline: HonestOutcome[];
  underAttack: HonestOutcome[];
  /** ms of the final answers, by phase. */
  baselineP50Ms: number;
  baselineP95Ms: number;
  attackP50Ms: number;
  attackP95Ms: number;
  slow: SlowOutcome[];
  /** Anonymous trickled bodies: status of each answer ("none": no answer), bytes sent by then. */
  trickle: { status: string; sentBytes: number }[];
  /** Anonymous GETs by status ("error": no answer). */
  flood: Record<string, number>;
  hangUps: number;
  /** engine_jobs_cancelled_total{state="running"} (client_gone + deadline). */
  runningStopped: number;
  /** engine_worker_replacements_total{cause="cancelled"}. */
  workersReplaced: number;
  /** /healthz latencies during the attack, ms, sorted; failed reads counted apart. */
  healthzMs: number[];
  healthzFailures: number;
  /** Largest VmRSS sampled during the run, bytes, and the process's VmHWM at the end. */
  rssSampledPeakBytes: number;
  rssHwmBytes: number;
  /** Service exit code after SIGTERM. */
  exitCode: number;
  /** Lines of the service's output that look like errors (for a failure message). */
  errorLines: string[];
}

/** The q-quantile (nearest rank) of sorted values. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * q) - 1))]!;
}

/** A delay that a stop can cut short (its timer is always cleared). */
function pace(ms: number, stop: Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    new Promise<void>((r) => (timer = setTimeout(r, ms))),
    stop,
  ]).finally(() => clearTimeout(timer));
}

/** One sample of a series from `/metrics` (labels as written); NaN when the read failed. */
async function metric(service: Service, series: string): Promise<number> {
  let text: string;
  try {
    const res = await service.fetch("/metrics", { headers: { "accept-encoding": "identity" } });
    text = await res.text();
  } catch {
    return Number.NaN; // a read cut short under load: the next poll reads again
  }
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/**
 * One reader of `engine_jobs_started_total` shared by the attackers: `after(n)` resolves once
 * the service reports more than `n` jobs started (rejects after OBSERVE_MS_MAX).
 */
function startedWatcher(service: Service) {
  const waiters: { n: number; resolve: () => void; reject: (e: Error) => void; t: number }[] = [];
  let stopped = false;
  let last = 0;
  let wake: () => void = () => {};
  const stop = new Promise<void>((r) => (wake = r));
  const loop = (async () => {
    while (!stopped) {
      const read = await metric(service, "engine_jobs_started_total");
      if (!Number.isNaN(read)) last = read;
      const now = performance.now();
      for (const w of [...waiters]) {
        if (last > w.n || now - w.t > OBSERVE_MS_MAX) {
          waiters.splice(waiters.indexOf(w), 1);
          if (last > w.n) w.resolve();
          else w.reject(new Error("not observed: a compute job started"));
        }
      }
      await pace(POLL_MS, stop);
    }
    for (const w of waiters) w.resolve();
  })();
  return {
    current: () => last,
    after: (n: number) =>
      new Promise<void>((resolve, reject) =>
        waiters.push({ n, resolve, reject, t: performance.now() })
      ),
    stop: async () => {
      stopped = true;
      wake();
      await loop;
    },
  };
}

/**
 * One anonymous 1 MiB body sent a chunk per TRICKLE_MS until the server answers (or closes);
 * resolves with the answer's status ("none" without one) and the bytes sent by then.
 */
async function trickleBody(port: number): Promise<{ status: string; sentBytes: number }> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch {
    return { status: "none", sentBytes: 0 };
  }
  let status = "none";
  let done = false;
  let finish: () => void = () => {};
  const answered = new Promise<void>((r) => (finish = r));
  const bound = setTimeout(() => {
    done = true;
    finish();
  }, REQUEST_MS_MAX);
  const reader = (async () => {
    const buf = new Uint8Array(4096);
    let text = "";
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
        const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
        if (m) {
          status = m[1]!;
          break;
        }
      }
    } catch { /* reset */ }
    done = true;
    finish();
  })();
  let sentBytes = 0;
  const head = `POST /rewarder/epochs/trickle/compute HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${TRICKLE_BODY_BYTES}\r\n\r\n`;
  const chunk = new Uint8Array(TRICKLE_CHUNK_BYTES).fill(0x20);
  const send = async (bytes: Uint8Array): Promise<boolean> => {
    let off = 0;
    while (off < bytes.length && !done) {
      const n = await Promise.race([
        conn.write(bytes.subarray(off)).catch(() => -1),
        answered.then(() => -1),
      ]);
      if (n < 0) return false;
      off += n;
    }
    return !done;
  };
  if (await send(new TextEncoder().encode(head))) {
    while (!done && sentBytes < TRICKLE_BODY_BYTES) {
      if (!(await send(chunk))) break;
      sentBytes += chunk.length;
      await pace(TRICKLE_MS, answered);
    }
  }
  await answered;
  clearTimeout(bound);
  try {
    conn.close();
  } catch { /* closed */ }
  await reader;
  return { status, sentBytes };
}

/** VmRSS and VmHWM of a process, bytes (0 when /proc cannot be read). */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  try {
    const text = await Deno.readTextFile(`/proc/${pid}/status`);
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
    return { rss: (kib("VmRSS") || 0) * 1024, hwm: (kib("VmHWM") || 0) * 1024 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/** Runs the scenario and returns what happened; the service is stopped before it returns. */
export async function runIsolationScenario(
  overrides: Partial<ScenarioOptions> = {},
): Promise<ScenarioResult> {
  const o: ScenarioOptions = { ...SCENARIO_DEFAULTS, ...overrides };
  const dataDir = await freshDataDir("isolation_scenario");
  const fx = await prepareFixtures(dataDir);
  const policy = { policy_id: fx.generated.policy_id, policy_hash: fx.generated.policy_hash };
  const bigEpoch = "attack-big";
  const bigCid = await casPut(
    dataDir,
    new TextEncoder().encode(generateEpochInputs(bigEpoch, o.bigRecipients)),
  );
  const honestCids = new Map<string, string>();
  const epochsOf = (phase: string) =>
    Array.from({ length: o.honestComputes }, (_, i) => `honest-${phase}-${i}`);
  for (const epochId of ["honest-warm", ...epochsOf("alone"), ...epochsOf("attack")]) {
    honestCids.set(
      epochId,
      await casPut(
        dataDir,
        new TextEncoder().encode(generateEpochInputs(epochId, o.honestRecipients)),
      ),
    );
  }
  const minter = tokenMinter(dataDir);
  const attackerToken = await minter.mint({ tenant: "attacker" });
  const honestToken = await minter.mint({ tenant: "honest" });
  const service = await startService({
    dataDir,
    transport: "tcp",
    env: { HEADER_DEADLINE_MS: String(o.headerDeadlineMs), ...o.env },
  });
  const port = Number(new URL(service.origin).port);
  o.log(`service pid ${service.pid} on port ${port}`);

  const compute = (token: string, epochId: string, cid: string, signal?: AbortSignal) =>
    service.fetch(`/rewarder/epochs/${epochId}/compute`, {
      method: "POST",
      headers: { authorization: `Macaroon ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ inputs_cid: cid, ...policy }),
      signal: signal ?? AbortSignal.timeout(REQUEST_MS_MAX),
    });

  /** One honest compute, retried once after a 503's Retry-After (contract §8) or a failure. */
  const honestCompute = async (epochId: string): Promise<HonestOutcome> => {
    const cid = honestCids.get(epochId)!;
    const t0 = performance.now();
    let retries = 0;
    for (;;) {
      let status = 0;
      let reason: string | undefined = "no_answer";
      let text = "";
      let retryAfterS = 1;
      try {
        const a = await answerOf(await compute(honestToken, epochId, cid));
        status = a.status;
        reason = status === 200 ? undefined : String(a.body?.error?.reason ?? "");
        text = a.text;
        retryAfterS = Number(a.headers.get("retry-after") ?? "1");
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        text = cause === undefined ? String(err) : `${err} (${cause})`;
      }
      const retryable = status === 503 || status === 0;
      if (!retryable || retries >= 1) {
        return { epochId, status, reason, retries, ms: performance.now() - t0, text };
      }
      retries++;
      const waitS = Math.min(RETRY_AFTER_S_MAX, Number.isFinite(retryAfterS) ? retryAfterS : 1);
      await new Promise((r) => setTimeout(r, waitS * 1000)); // the client's pace (Retry-After)
    }
  };

  const result: Partial<ScenarioResult> = {};
  let rssSampledPeakBytes = 0;
  let stopRss: () => void = () => {};
  const rssStop = new Promise<void>((r) => (stopRss = r));
  let sampling = true;
  const rssSampler = (async () => {
    while (sampling) {
      rssSampledPeakBytes = Math.max(rssSampledPeakBytes, (await memoryOf(service.pid)).rss);
      await pace(RSS_EVERY_MS, rssStop);
    }
  })();

  try {
    // ---- baseline: the honest tenant alone --------------------------------------------------
    await honestCompute("honest-warm"); // first compute warms the workers; not measured
    const baseline: HonestOutcome[] = [];
    for (const epochId of epochsOf("alone")) baseline.push(await honestCompute(epochId));
    o.log(`baseline done: ${baseline.map((h) => h.ms.toFixed(0)).join(" ")} ms`);

    // ---- the attack ---------------------------------------------------------------------------
    let attacking = true;
    let stopAttack: () => void = () => {};
    const attackStop = new Promise<void>((r) => (stopAttack = r));
    const watcher = startedWatcher(service);
    const startedBefore = await metric(service, "engine_jobs_started_total");
    let hangUps = 0;
    const attacker = async () => {
      while (attacking) {
        const before = watcher.current();
        const ctrl = new AbortController();
        const bound = setTimeout(() => ctrl.abort(), REQUEST_MS_MAX);
        const answer = compute(attackerToken, bigEpoch, bigCid, ctrl.signal).then(
          (res) => res.body?.cancel(),
          () => undefined,
        );
        // Hang up once a job started after this one was sent (its own, or it is still queued:
        // either way an abandoned request).
        await watcher.after(before).catch(() => undefined);
        ctrl.abort();
        clearTimeout(bound);
        hangUps++;
        await answer;
      }
    };
    const trickle: { status: string; sentBytes: number }[] = [];
    const trickler = async () => {
      while (attacking) {
        const t = await trickleBody(port);
        trickle.push(t);
        if (t.status === "none") await pace(TRICKLE_MS, attackStop); // no spin on failures
      }
    };
    const flood: Record<string, number> = {};
    const flooder = async () => {
      while (attacking) {
        let key = "error";
        try {
          const res = await service.fetch("/rewarder/runs");
          await res.body?.cancel();
          key = String(res.status);
        } catch { /* counted as error */ }
        flood[key] = (flood[key] ?? 0) + 1;
        if (key === "error") await pace(TRICKLE_MS, attackStop); // no spin on failures
      }
    };
    const slow: SlowOutcome[] = [];
    let connectedCount = 0;
    let allConnected: () => void = () => {};
    const slowConnected = new Promise<void>((r) => (allConnected = r));
    const onConnected = () => {
      if (++connectedCount === o.slowSockets) allConnected();
    };
    if (o.slowSockets === 0) allConnected();
    const boundMs = o.headerDeadlineMs + o.closeSlackMs;
    const slowHolder = async (slot: number) => {
      let first = true;
      let n = 0;
      while (attacking || first) {
        const kind = SLOW_KINDS[(slot + n++) % SLOW_KINDS.length]!;
        const outcome = await slowSocket(port, kind, {
          boundMs,
          trickleMs: TRICKLE_MS,
          connected: first ? onConnected : () => {},
        });
        slow.push(outcome);
        first = false;
        if (outcome.refused !== undefined) await pace(TRICKLE_MS, attackStop); // no spin
      }
    };
    const healthzMs: number[] = [];
    let healthzFailures = 0;
    const healthz = async () => {
      while (attacking) {
        const t0 = performance.now();
        try {
          const res = await service.fetch("/healthz");
          await res.body?.cancel();
          if (res.status === 200) healthzMs.push(performance.now() - t0);
          else healthzFailures++;
        } catch {
          healthzFailures++;
        }
        await pace(HEALTHZ_EVERY_MS, attackStop);
      }
    };

    const running: Promise<unknown>[] = [];
    for (let i = 0; i < o.slowSockets; i++) running.push(slowHolder(i));
    for (let i = 0; i < o.attackers; i++) running.push(attacker());
    for (let i = 0; i < o.trickleClients; i++) running.push(trickler());
    for (let i = 0; i < o.floodClients; i++) running.push(flooder());
    running.push(healthz());
    const underAttack: HonestOutcome[] = [];
    try {
      // The attack is in force once every slow socket is open and an attacker's job started.
      let bound: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([slowConnected, o.attackers > 0 ? watcher.after(startedBefore) : undefined]),
        new Promise((_, reject) =>
          bound = setTimeout(
            () => reject(new Error("the attack did not start")),
            OBSERVE_MS_MAX,
          )
        ),
      ]).finally(() => clearTimeout(bound));
      o.log("attack in force");
      for (const epochId of epochsOf("attack")) underAttack.push(await honestCompute(epochId));
    } finally {
      attacking = false;
      stopAttack();
      await watcher.stop();
      await Promise.all(running);
    }
    o.log(`under attack done: ${underAttack.map((h) => h.ms.toFixed(0)).join(" ")} ms`);

    const sortedMs = (hs: HonestOutcome[]) => hs.map((h) => h.ms).sort((a, b) => a - b);
    Object.assign(result, {
      baseline,
      underAttack,
      baselineP50Ms: quantile(sortedMs(baseline), 0.5),
      baselineP95Ms: quantile(sortedMs(baseline), 0.95),
      attackP50Ms: quantile(sortedMs(underAttack), 0.5),
      attackP95Ms: quantile(sortedMs(underAttack), 0.95),
      slow,
      trickle,
      flood,
      hangUps,
      runningStopped: (await metric(
        service,
        'engine_jobs_cancelled_total{state="running",reason="client_gone"}',
      )) +
        (await metric(service, 'engine_jobs_cancelled_total{state="running",reason="deadline"}')),
      workersReplaced: await metric(service, 'engine_worker_replacements_total{cause="cancelled"}'),
      healthzMs: healthzMs.sort((a, b) => a - b),
      healthzFailures,
    });
  } finally {
    sampling = false;
    stopRss();
    await rssSampler;
    const { hwm } = await memoryOf(service.pid);
    result.rssHwmBytes = hwm;
    result.rssSampledPeakBytes = rssSampledPeakBytes;
    result.exitCode = await service.stop();
    result.errorLines = service.output().split("\n").filter((l) => /error|warn/i.test(l)).slice(
      -20,
    );
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
  const { log: _log, env: _env, ...options } = o;
  return { ...result, options } as ScenarioResult;
}

/** Slow sockets closed by the server within the deadline plus slack, and the earliest close. */
export function slowSummary(r: ScenarioResult) {
  const closed = r.slow.filter((s) => s.closedAfterMs !== undefined);
  const ms = closed.map((s) => s.closedAfterMs!).sort((a, b) => a - b);
  return {
    sockets: r.slow.length,
    closed: closed.length,
    byKind: Object.fromEntries(
      SLOW_KINDS.map((k) => [k, closed.filter((s) => s.kind === k).length]),
    ) as Record<SlowKind, number>,
    refused: r.slow.filter((s) => s.refused !== undefined).length,
    refusedWhy: [...new Set(r.slow.flatMap((s) => s.refused ?? []))].slice(0, 3),
    minMs: Math.round(ms[0] ?? Number.NaN),
    medianMs: Math.round(quantile(ms, 0.5)),
    maxMs: Math.round(ms.at(-1) ?? Number.NaN),
  };
}
