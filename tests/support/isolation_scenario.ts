/**
 * The hostile-load scenario shared by tests/isolation_acceptance.ts (which asserts facts) and
 * bench/isolation_bench.ts (which writes the absolute figures): the REAL service (`main.ts`) on
 * loopback, an honest tenant's fresh small computes measured first alone (the baseline), then
 * again while the attack of tests/support/isolation_attack.ts runs in a process of its own
 * (abandoned big computes of another tenant, anonymous 1 MiB bodies trickled, an anonymous GET
 * flood, slow-header sockets held). The honest client and the `/healthz` reader run here, in a
 * process that drives nothing else, so their latencies are the service's; `/healthz` is read at
 * a steady pace and the service's RSS sampled from /proc.
 *
 * Every loop is bounded and stops with the attack; every wait is for an event (a response, a
 * line of the attack process, its exit) and bounded. The only timers are a client's pace (the
 * probes, a retry after Retry-After) and the bounds.
 *
 * @module
 */
import { casPut } from "../../src/shell/sources/cas.ts";
import { generateEpochInputs } from "../../vectors/generate_epoch.ts";
import { prepareFixtures } from "./fixtures.ts";
import { answerOf, freshDataDir, startService, tokenMinter } from "./service.ts";
import type { SlowKind, SlowOutcome } from "./slow_socket.ts";
import {
  type AttackConfig,
  type AttackResult,
  metric,
  OBSERVE_MS_MAX,
  pace,
  REQUEST_MS_MAX,
  SLOW_KINDS,
} from "./isolation_attack.ts";
export type { SlowOutcome };
export { TRICKLE_BODY_BYTES, TRICKLE_CHUNK_BYTES } from "./isolation_attack.ts";

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

/** Pace of the /healthz reader, ms. */
const HEALTHZ_EVERY_MS = 100;
/** Pace of the RSS sampler, ms. */
const RSS_EVERY_MS = 200;
/** Longest wait for a Retry-After before the one retry, s. */
const RETRY_AFTER_S_MAX = 5;
/**
 * The honest tenant's pace, ms: one compute starts this long after the previous one started
 * (or when it is answered, if later), in both phases alike. The 20 computes then sample two
 * seconds of the attack (its start and its steady state, the slow sockets' reconnect waves
 * included) rather than the half second back-to-back computes take.
 */
const HONEST_EVERY_MS = 100;

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

/** Longest wait for the attack process to report after it was told to stop, ms. */
const ATTACK_STOP_MS_MAX = 60_000;
/** Largest output kept from the attack process, characters. */
const ATTACK_OUTPUT_CHARS_MAX = 16 * 1024 * 1024;

/**
 * Starts tests/support/isolation_attack.ts as a process: `inForce` resolves on its
 * `in_force` line (rejects if it exits first or OBSERVE_MS_MAX passes), `stop()` ends its
 * standard input and resolves with its result.
 */
function startAttack(config: AttackConfig) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./isolation_attack.ts", import.meta.url).pathname,
      JSON.stringify(config),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let text = "";
  let onLine: () => void = () => {};
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      if (text.length < ATTACK_OUTPUT_CHARS_MAX) text += decoder.decode(chunk, { stream: true });
      onLine();
    }
    onLine();
  })();
  // Complete lines only: the last piece may be a line still being written.
  const events = () =>
    text.split("\n").slice(0, -1).filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l) as { event: string; result?: AttackResult }
    );
  const waitFor = (event: string, boundMs: number) =>
    new Promise<{ event: string; result?: AttackResult }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`attack: no ${event} line`)), boundMs);
      const check = () => {
        const found = events().find((e) => e.event === event);
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      onLine = check;
      check();
      void reading.then(() => {
        check();
        clearTimeout(timer);
        reject(new Error(`attack: exited without a ${event} line`));
      });
    });
  const inForce = waitFor("in_force", OBSERVE_MS_MAX).then(() => undefined);
  return {
    inForce,
    async stop(): Promise<AttackResult> {
      await stdin.close().catch(() => {});
      try {
        const done = await waitFor("done", ATTACK_STOP_MS_MAX);
        return done.result!;
      } finally {
        await reading.catch(() => {});
        await child.status;
      }
    },
  };
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

  /** Resolves with `compute`'s outcome no earlier than HONEST_EVERY_MS after it started. */
  const paced = async (compute: Promise<HonestOutcome>): Promise<HonestOutcome> => {
    const pace = new Promise((r) => setTimeout(r, HONEST_EVERY_MS)); // the client's pace
    const [outcome] = await Promise.all([compute, pace]);
    return outcome;
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
    for (const epochId of epochsOf("alone")) baseline.push(await paced(honestCompute(epochId)));
    o.log(`baseline done: ${baseline.map((h) => h.ms.toFixed(0)).join(" ")} ms`);

    // ---- the attack, in a process of its own ----------------------------------------------------
    const attack = startAttack({
      port,
      attackerToken,
      bigEpoch,
      bigCid,
      policy,
      attackers: o.attackers,
      trickleClients: o.trickleClients,
      floodClients: o.floodClients,
      slowSockets: o.slowSockets,
      headerDeadlineMs: o.headerDeadlineMs,
      closeSlackMs: o.closeSlackMs,
    });
    let attacking = true;
    let stopProbes: () => void = () => {};
    const probesStop = new Promise<void>((r) => (stopProbes = r));
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
        await pace(HEALTHZ_EVERY_MS, probesStop);
      }
    };
    const underAttack: HonestOutcome[] = [];
    let attackResult: AttackResult;
    let prober: Promise<void> | undefined;
    try {
      await attack.inForce;
      o.log("attack in force");
      prober = healthz();
      for (const epochId of epochsOf("attack")) {
        underAttack.push(await paced(honestCompute(epochId)));
      }
    } finally {
      attacking = false;
      stopProbes();
      await prober;
      attackResult = await attack.stop();
    }
    o.log(`under attack done: ${underAttack.map((h) => h.ms.toFixed(0)).join(" ")} ms`);
    o.log(
      `attack process: ${Math.round(attackResult.cpuMs ?? NaN)} ms CPU in ${
        Math.round(attackResult.wallMs ?? NaN)
      } ms`,
    );

    const sortedMs = (hs: HonestOutcome[]) => hs.map((h) => h.ms).sort((a, b) => a - b);
    Object.assign(result, {
      baseline,
      underAttack,
      baselineP50Ms: quantile(sortedMs(baseline), 0.5),
      baselineP95Ms: quantile(sortedMs(baseline), 0.95),
      attackP50Ms: quantile(sortedMs(underAttack), 0.5),
      attackP95Ms: quantile(sortedMs(underAttack), 0.95),
      slow: attackResult.slow,
      trickle: attackResult.trickle,
      flood: attackResult.flood,
      hangUps: attackResult.hangUps,
      runningStopped: (await metric(
        service.origin,
        'engine_jobs_cancelled_total{state="running",reason="client_gone"}',
      )) +
        (await metric(
          service.origin,
          'engine_jobs_cancelled_total{state="running",reason="deadline"}',
        )),
      workersReplaced: await metric(
        service.origin,
        'engine_worker_replacements_total{cause="cancelled"}',
      ),
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
