/**
 * The attack of the isolation scenario (tests/support/isolation_scenario.ts), run in a process
 * of its own so that the honest tenant's client, in the test's process, shares nothing with the
 * attack's clients but the machine: its measured latency is the service's, not the wait of an
 * event loop that also drives 300 slow sockets and a dozen flooding clients. Against the service
 * on 127.0.0.1:`port`, until told to stop:
 *
 * - one tenant starts big computes and hangs up once the service reports a job started
 *   (`engine_jobs_started_total`, polled), `attackers` at a time;
 * - anonymous clients send 1 MiB bodies a 64 KiB chunk at a time (trickle);
 * - anonymous clients flood GET /rewarder/runs;
 * - `slowSockets` sockets that never finish their headers (silent, a partial request line and
 *   headers, headers trickled a line at a time) are held open: each one the server closes is
 *   replaced by a new one while the attack lasts.
 *
 * As a process: `deno run -A tests/support/isolation_attack.ts '<AttackConfig JSON>'` prints
 * one JSON line `{"event":"in_force"}` once every slow socket is open and an attacker's job has
 * started, runs until its standard input ends, then prints `{"event":"done","result":…}` and
 * exits. Every loop is bounded and stops with the attack; every wait is for an event (a
 * response, a socket's close, a metric read) and bounded.
 *
 * @module
 */
import process from "node:process";
import { type SlowKind, type SlowOutcome, slowSocket } from "./slow_socket.ts";

/** What the attack process is told. */
export interface AttackConfig {
  port: number;
  attackerToken: string;
  bigEpoch: string;
  bigCid: string;
  policy: { policy_id: string; policy_hash: string };
  attackers: number;
  trickleClients: number;
  floodClients: number;
  slowSockets: number;
  headerDeadlineMs: number;
  closeSlackMs: number;
}

/** What the attack reports when it stops. */
export interface AttackResult {
  slow: SlowOutcome[];
  /** Anonymous trickled bodies: status of each answer ("none": no answer), bytes sent by then. */
  trickle: { status: string; sentBytes: number }[];
  /** Anonymous GETs by status ("error": no answer). */
  flood: Record<string, number>;
  hangUps: number;
  /** CPU time the attack process used, ms (user + system), and its wall time, ms. */
  cpuMs?: number;
  wallMs?: number;
}

/** Size of an anonymous trickled body, bytes. */
export const TRICKLE_BODY_BYTES = 1024 * 1024;
/** One trickled write, bytes (the server's read chunk). */
export const TRICKLE_CHUNK_BYTES = 64 * 1024;
/** Pace of the trickled body chunks and slow header lines, ms (a client's pace). */
export const TRICKLE_MS = 100;
/** Pace of the `/metrics` watcher of the attackers, ms (a poll, not a wait for time). */
const POLL_MS = 25;
/** Longest wait for an observed event (an attacker's job started, the sockets connected), ms. */
export const OBSERVE_MS_MAX = 30_000;
/** Longest one request of the scenario may take, ms (an answer later than this is a failure). */
export const REQUEST_MS_MAX = 30_000;

export const SLOW_KINDS: SlowKind[] = ["silent", "partial", "trickle"];

/** A delay that a stop can cut short (its timer is always cleared). */
export function pace(ms: number, stop: Promise<void>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    new Promise<void>((r) => (timer = setTimeout(r, ms))),
    stop,
  ]).finally(() => clearTimeout(timer));
}

/** One sample of a series from `/metrics` (labels as written); NaN when the read failed. */
export async function metric(origin: string, series: string): Promise<number> {
  let text: string;
  try {
    const res = await fetch(origin + "/metrics", { headers: { "accept-encoding": "identity" } });
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
export function startedWatcher(origin: string) {
  const waiters: { n: number; resolve: () => void; reject: (e: Error) => void; t: number }[] = [];
  let stopped = false;
  let last = 0;
  let wake: () => void = () => {};
  const stop = new Promise<void>((r) => (wake = r));
  const loop = (async () => {
    while (!stopped) {
      const read = await metric(origin, "engine_jobs_started_total");
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

/**
 * Runs the attack until `stop` resolves; `inForce` is called once every slow socket is open and
 * an attacker's job has started (rejects if that is not seen within OBSERVE_MS_MAX).
 */
export async function runAttack(
  c: AttackConfig,
  stop: Promise<void>,
  inForce: () => void,
): Promise<AttackResult> {
  const origin = `http://127.0.0.1:${c.port}`;
  let attacking = true;
  const attackStop = stop.then(() => {
    attacking = false;
  });
  const watcher = startedWatcher(origin);
  const startedBefore = await metric(origin, "engine_jobs_started_total");
  let hangUps = 0;
  const attacker = async () => {
    while (attacking) {
      const before = watcher.current();
      const ctrl = new AbortController();
      const bound = setTimeout(() => ctrl.abort(), REQUEST_MS_MAX);
      const answer = fetch(`${origin}/rewarder/epochs/${c.bigEpoch}/compute`, {
        method: "POST",
        headers: {
          authorization: `Macaroon ${c.attackerToken}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ inputs_cid: c.bigCid, ...c.policy }),
        signal: ctrl.signal,
      }).then((res) => res.body?.cancel(), () => undefined);
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
      const t = await trickleBody(c.port);
      trickle.push(t);
      if (t.status === "none") await pace(TRICKLE_MS, attackStop); // no spin on failures
    }
  };
  const flood: Record<string, number> = {};
  const flooder = async () => {
    while (attacking) {
      let key = "error";
      try {
        const res = await fetch(`${origin}/rewarder/runs`);
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
    if (++connectedCount === c.slowSockets) allConnected();
  };
  if (c.slowSockets === 0) allConnected();
  const boundMs = c.headerDeadlineMs + c.closeSlackMs;
  const slowHolder = async (slot: number) => {
    let first = true;
    let n = 0;
    while (attacking || first) {
      const kind = SLOW_KINDS[(slot + n++) % SLOW_KINDS.length]!;
      const outcome = await slowSocket(c.port, kind, {
        boundMs,
        trickleMs: TRICKLE_MS,
        connected: first ? onConnected : () => {},
      });
      slow.push(outcome);
      first = false;
      if (outcome.refused !== undefined) await pace(TRICKLE_MS, attackStop); // no spin
    }
  };

  const running: Promise<unknown>[] = [];
  for (let i = 0; i < c.slowSockets; i++) running.push(slowHolder(i));
  for (let i = 0; i < c.attackers; i++) running.push(attacker());
  for (let i = 0; i < c.trickleClients; i++) running.push(trickler());
  for (let i = 0; i < c.floodClients; i++) running.push(flooder());
  try {
    let bound: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([slowConnected, c.attackers > 0 ? watcher.after(startedBefore) : undefined]),
      new Promise((_, reject) =>
        bound = setTimeout(() => reject(new Error("the attack did not start")), OBSERVE_MS_MAX)
      ),
    ]).finally(() => clearTimeout(bound));
    inForce();
    await attackStop;
  } finally {
    attacking = false;
    await watcher.stop();
    await Promise.all(running);
  }
  return { slow, trickle, flood, hangUps };
}

if (import.meta.main) {
  const config = JSON.parse(Deno.args[0]!) as AttackConfig;
  // Stop when the parent closes standard input (or is gone).
  const stop = (async () => {
    const buf = new Uint8Array(64);
    while ((await Deno.stdin.read(buf).catch(() => null)) !== null) { /* nothing to read */ }
  })();
  const line = async (v: unknown) => {
    const bytes = new TextEncoder().encode(JSON.stringify(v) + "\n");
    for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = await runAttack(config, stop, () => void line({ event: "in_force" }));
  const cpu = process.cpuUsage(cpu0);
  await line({
    event: "done",
    result: { ...result, cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - t0 },
  });
}
