/**
 * Readiness that proves its dependencies (contract §10): every {@link PROBE_INTERVAL_MS} the
 * service probes each remote dependency it is configured with — the ledger (`LEDGER_URL`: a TCP
 * connection, and the TLS handshake for https), an `http(s)` inputs source (`INPUTS_SOURCE`,
 * the same), and PostgreSQL (`STORE=postgres`: `SELECT 1`). {@link PROBE_FAILURES_MAX}
 * failures in a row put the dependency down, and `/readyz` reports `dep_outage` until one of
 * its probes succeeds. A local journal and a local store need no probe.
 *
 * The state machine ({@link createDependencyProbes}) takes its probes and its scheduler as
 * arguments, so tests drive rounds directly (no sleeps); {@link dependencyProbesOf} builds the
 * real probes from the configuration.
 *
 * @module
 */
import type { Config } from "../config/config.ts";
import type { DownstreamTlsPem } from "../sources/downstream_tls.ts";
import { DOWNSTREAM_TLS_MIN_VERSION, readDownstreamTls } from "../sources/downstream_tls.ts";

/** How often each dependency is probed, ms (contract §10: every 5 s). */
export const PROBE_INTERVAL_MS = 5_000;
/** Failures in a row that put a dependency down (contract §10: three). */
export const PROBE_FAILURES_MAX = 3;
/** Longest one probe may take, ms, when the caller gives none (below the interval). */
export const PROBE_TIMEOUT_MS_DEFAULT = 2_000;

/** The probed dependencies: a closed set, the `dependency` label of the probe metrics. */
export const DEPENDENCIES = ["ledger", "inputs", "postgres"] as const;
/** One of {@link DEPENDENCIES}. */
export type Dependency = (typeof DEPENDENCIES)[number];

/** One probe: resolves when the dependency answered, rejects otherwise; honours `signal`. */
export type Probe = (signal: AbortSignal) => Promise<void>;

/** What a dependency looks like now. */
export interface DependencyState {
  dependency: Dependency;
  /** False once {@link PROBE_FAILURES_MAX} probes in a row failed, until one succeeds. */
  up: boolean;
  consecutiveFailures: number;
  /** Probes run so far. */
  probes: number;
}

/** Told of every probe result (metrics, logs). */
export interface ProbeObserver {
  probed(state: Readonly<DependencyState>, ok: boolean, error?: unknown): void;
}

/** Cancels a scheduled call. */
export type Cancel = () => void;
/** Runs `fn` once after `ms` (default: an unref'd setTimeout). */
export type Schedule = (fn: () => void, ms: number) => Cancel;

/** Options for {@link createDependencyProbes}. */
export interface DependencyProbesOptions {
  probes: Partial<Record<Dependency, Probe>>;
  /** Default {@link PROBE_INTERVAL_MS}. */
  intervalMs?: number;
  /** Default {@link PROBE_FAILURES_MAX}. */
  failuresMax?: number;
  /** Default {@link PROBE_TIMEOUT_MS_DEFAULT}. */
  timeoutMs?: number;
  observer?: ProbeObserver;
  schedule?: Schedule;
  /** Released when the probes stop (a probe's own connection pool). */
  close?: () => Promise<void>;
}

/** The probes of one service. */
export interface DependencyProbes {
  /** Probes every dependency once, concurrently; resolves when all results are in. */
  round(): Promise<void>;
  /** True while some dependency is down (`/readyz` cause `dep_outage`). */
  outage(): boolean;
  states(): DependencyState[];
  /** Starts a round now, then one every interval after the previous one ended. */
  start(): void;
  /** Stops scheduling, waits for a running round, releases resources. */
  stop(): Promise<void>;
}

function defaultSchedule(fn: () => void, ms: number): Cancel {
  const timer = setTimeout(fn, ms);
  // A probe timer alone must not keep the process alive.
  (timer as unknown as { unref?: () => void }).unref?.();
  if (typeof Deno !== "undefined" && typeof timer === "number") Deno.unrefTimer(timer);
  return () => clearTimeout(timer);
}

/**
 * Creates the probe state machine.
 *
 * @example
 * ```ts
 * const probes = createDependencyProbes({ probes: await dependencyProbesOf(config) });
 * probes.start();
 * if (probes.outage()) causes.push("dep_outage");
 * ```
 */
export function createDependencyProbes(options: DependencyProbesOptions): DependencyProbes {
  const intervalMs = options.intervalMs ?? PROBE_INTERVAL_MS;
  const failuresMax = options.failuresMax ?? PROBE_FAILURES_MAX;
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS_DEFAULT;
  for (
    const [name, v] of [["intervalMs", intervalMs], ["failuresMax", failuresMax], [
      "timeoutMs",
      timeoutMs,
    ]] as const
  ) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(
        `Cannot create dependency probes as ${name} must be a positive integer: current value is ${v}`,
      );
    }
  }
  const schedule = options.schedule ?? defaultSchedule;
  const entries = DEPENDENCIES.flatMap((d) => {
    const probe = options.probes[d];
    return probe === undefined ? [] : [{
      probe,
      state: { dependency: d, up: true, consecutiveFailures: 0, probes: 0 } as DependencyState,
    }];
  });
  let running: Promise<void> | undefined;
  let cancel: Cancel | undefined;
  let stopped = false;

  async function probeOnce(e: (typeof entries)[number]): Promise<void> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`probe timed out after ${timeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    let ok = true;
    let error: unknown;
    try {
      await Promise.race([e.probe(controller.signal), expired]);
    } catch (err) {
      ok = false;
      error = err;
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
    const s = e.state;
    s.probes += 1;
    if (ok) {
      s.consecutiveFailures = 0;
      s.up = true;
    } else {
      s.consecutiveFailures += 1;
      if (s.consecutiveFailures >= failuresMax) s.up = false;
    }
    options.observer?.probed({ ...s }, ok, error);
  }

  const round = (): Promise<void> => {
    running ??= Promise.all(entries.map(probeOnce)).then(() => {
      running = undefined;
    });
    return running;
  };

  const tick = (): void => {
    if (stopped) return;
    void round().finally(() => {
      if (!stopped) cancel = schedule(tick, intervalMs);
    });
  };

  return {
    round,
    outage: () => entries.some((e) => !e.state.up),
    states: () => entries.map((e) => ({ ...e.state })),
    start() {
      if (entries.length === 0 || cancel !== undefined || running !== undefined) return;
      tick();
    },
    async stop() {
      stopped = true;
      cancel?.();
      await running;
      await options.close?.();
    },
  };
}

/** Port of a URL, its scheme's default when absent. */
function portOf(url: URL): number {
  if (url.port !== "") return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
}

/** Host of a URL as a socket wants it (IPv6 without brackets). */
function hostOf(url: URL): string {
  const h = url.hostname;
  return h.startsWith("[") && h.endsWith("]") ? h.slice(1, -1) : h;
}

/**
 * A probe that opens a TCP connection to `url`'s host and port and, for `https:`, completes
 * the TLS handshake (hostname verified; `tls` as for the downstream client), then closes it.
 */
export function connectProbe(url: URL, tls?: DownstreamTlsPem): Probe {
  const host = hostOf(url);
  const port = portOf(url);
  const secure = url.protocol === "https:";
  return async (signal) => {
    const net = await import("node:net");
    const tlsMod = secure ? await import("node:tls") : undefined;
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const socket = tlsMod === undefined ? net.connect({ host, port }) : tlsMod.connect({
        host,
        port,
        servername: net.isIP(host) === 0 ? host : undefined,
        minVersion: DOWNSTREAM_TLS_MIN_VERSION,
        rejectUnauthorized: true,
        ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls?.cert === undefined || tls.key === undefined
          ? {}
          : { cert: tls.cert, key: tls.key }),
      });
      const done = (err?: unknown) => {
        signal.removeEventListener("abort", onAbort);
        socket.removeAllListeners();
        socket.on("error", () => {}); // late errors of a socket we are closing
        socket.destroy();
        if (err === undefined) resolve();
        else reject(err);
      };
      const onAbort = () => done(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      socket.once("error", (err: Error) => done(err));
      socket.once("close", () => done(new Error("connection closed before it was established")));
      socket.once(tlsMod === undefined ? "connect" : "secureConnect", () => done());
    });
  };
}

/** A PostgreSQL client able to run `SELECT 1` (the `postgres` package's tagged template). */
export interface SelectOneClient {
  select1(): Promise<void>;
  close(): Promise<void>;
}

/** Opens a one-connection client of `databaseUrl` for the probe (its own, apart from the store's pool). */
export async function postgresSelectOne(
  databaseUrl: string,
  connectTimeoutMs: number,
): Promise<SelectOneClient> {
  const { default: postgres } = await import("postgres");
  const sql = postgres(databaseUrl, {
    max: 1,
    connect_timeout: Math.max(1, Math.ceil(connectTimeoutMs / 1_000)),
    idle_timeout: Math.ceil(PROBE_INTERVAL_MS * 3 / 1_000),
    onnotice: () => {},
  });
  return {
    async select1() {
      await sql`SELECT 1`;
    },
    async close() {
      await sql.end({ timeout: 1 });
    },
  };
}

/** A probe running `SELECT 1` through `client`. */
export function selectOneProbe(client: Pick<SelectOneClient, "select1">): Probe {
  return (signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      client.select1().then(resolve, reject);
    });
}

/**
 * The probes the configuration calls for: the ledger when `LEDGER_URL` is set, the inputs
 * source when it is `http(s)`, PostgreSQL with `STORE=postgres`; with `close` for the
 * PostgreSQL client.
 */
export async function dependencyProbesOf(
  config: Pick<
    Config,
    | "ledgerUrl"
    | "inputsSource"
    | "store"
    | "databaseUrl"
    | "downstreamConnectMs"
    | "downstreamTls"
    | "downstreamCaPath"
    | "downstreamCertPath"
    | "downstreamKeyPath"
  >,
): Promise<{ probes: Partial<Record<Dependency, Probe>>; close: () => Promise<void> }> {
  const probes: Partial<Record<Dependency, Probe>> = {};
  const remote = Boolean(config.ledgerUrl) || config.inputsSource.kind === "http";
  const tls = remote ? await readDownstreamTls(config) : undefined;
  if (config.ledgerUrl) probes.ledger = connectProbe(new URL(config.ledgerUrl), tls);
  if (config.inputsSource.kind === "http") {
    probes.inputs = connectProbe(new URL(config.inputsSource.baseUrl), tls);
  }
  let close = () => Promise.resolve();
  if (config.store === "postgres" && config.databaseUrl !== undefined) {
    const client = await postgresSelectOne(config.databaseUrl, config.downstreamConnectMs);
    probes.postgres = selectOneProbe(client);
    close = () => client.close();
  }
  return { probes, close };
}
