/**
 * Slow clients cannot hold sockets: the real service (`main.ts`) with a short header deadline
 * (HEADER_DEADLINE_MS) closes connections whose request headers do not arrive, while an
 * honest request is still answered; an idle kept-alive connection is closed after
 * KEEPALIVE_IDLE_MS. Every wait below is for an event (a socket's close, a response) and is
 * bounded; the deadlines are checked with slack, never by sleeping.
 *
 *   deno test --allow-all --unstable-no-legacy-abort tests/slow_headers_test.ts
 *   SLOW_HEADERS_RUNTIMES=deno,bun,node deno test --allow-all tests/slow_headers_test.ts
 *
 * Deno (the default listener: Deno's HTTP engine under the connection guard) always runs; Bun
 * runs where `bun` is on PATH; Node (dist/main.mjs, built by scripts/bundle.sh) when named in
 * SLOW_HEADERS_RUNTIMES. A control case shows what the test catches: plain `Deno.serve`
 * (`unguarded: true`) holds every slow socket past the same bound. With TLS the Deno default is
 * node:https (Deno's engine cannot close a connection stalled in its TLS handshake): a last case
 * checks that handshake deadline.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../src/shell/config/config.ts";
import { BUN_HEADERS_TIMEOUT_MS } from "../src/shell/listen/limits.ts";
import { listen } from "../src/shell/listen/listen.ts";
import { freshDataDir, startService } from "./support/service.ts";
import { type SlowKind, type SlowOutcome, slowSocket } from "./support/slow_socket.ts";

/** HEADER_DEADLINE_MS given to the service, ms. */
const DEADLINE_MS = 1_000;
/** KEEPALIVE_IDLE_MS given to the service, ms (distinct from the header deadline). */
const KEEPALIVE_MS = 1_500;
/** Slow sockets opened at once. */
const SOCKETS = 300;
/** Share of them the server must close within the deadline plus slack. */
const CLOSED_SHARE_MIN = 0.9;
/** Slack after the deadline, ms, per runtime: Node sweeps its timeouts once a second
 * (CONNECTIONS_CHECK_INTERVAL_MS); Bun's idle timer ticks in seconds. A busy 2-core machine
 * (the tests of other suites) adds its own delay. */
const SLACK_MS: Record<Runtime, number> = { deno: 3_000, node: 4_000, bun: 6_000 };
/** A close earlier than this share of the deadline would be some other cause. */
const EARLY_SHARE = 0.9;
/** Period at which the trickling sockets send one more header line, ms (a client's pace, not
 * a synchronisation). */
const TRICKLE_MS = 200;
/** Longest the honest request may take under the attack, ms. */
const HONEST_MS_MAX = 5_000;
/** Longest a spawned Bun/Node service may take to print its listening line, ms. */
const START_MS_MAX = 60_000;

type Runtime = "deno" | "bun" | "node";

const ROOT = new URL("../", import.meta.url).pathname;
const wanted = (Deno.env.get("SLOW_HEADERS_RUNTIMES") ?? "deno,bun").split(",");

const KINDS: SlowKind[] = ["silent", "partial", "trickle"];

/** Opens SOCKETS slow sockets (the three kinds in turn), and while they are held checks that
 * `honest` succeeds; resolves with every socket's outcome and the honest request's time. */
async function attack(
  port: number,
  boundMs: number,
  honest: () => Promise<void>,
  sockets = SOCKETS,
): Promise<{ outcomes: SlowOutcome[]; honestMs: number }> {
  const pending: Promise<SlowOutcome>[] = [];
  for (let i = 0; i < sockets; i++) {
    pending.push(slowSocket(port, KINDS[i % KINDS.length]!, { boundMs, trickleMs: TRICKLE_MS }));
  }
  const started = performance.now();
  await honest();
  const honestMs = performance.now() - started;
  return { outcomes: await Promise.all(pending), honestMs };
}

function summary(outcomes: SlowOutcome[]) {
  const closed = outcomes.filter((o) => o.closedAfterMs !== undefined);
  const ms = closed.map((o) => o.closedAfterMs!).sort((a, b) => a - b);
  const byKind = Object.fromEntries(
    KINDS.map((k) => [k, closed.filter((o) => o.kind === k).length]),
  );
  return {
    sockets: outcomes.length,
    closed: closed.length,
    byKind,
    minMs: Math.round(ms[0] ?? NaN),
    medianMs: Math.round(ms[Math.floor(ms.length / 2)] ?? NaN),
    maxMs: Math.round(ms.at(-1) ?? NaN),
  };
}

/** Opens a kept-alive connection, sends one honest request, reads the whole response and
 * waits (bounded) for the server to close the idle connection; ms from the response's end. */
async function keepAliveIdle(port: number, boundMs: number): Promise<number | undefined> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
    ),
  );
  const buf = new Uint8Array(16_384);
  let text = "";
  let bodyEnd: number | undefined;
  while (bodyEnd === undefined || text.length < bodyEnd) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed before the response ended: ${text}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
    const head = text.indexOf("\r\n\r\n");
    const length = /\r\ncontent-length: *(\d+)/i.exec(text);
    if (head >= 0 && length) bodyEnd = head + 4 + Number(length[1]);
  }
  assert.match(text, /^HTTP\/1\.1 200 /);
  const t0 = performance.now();
  let gaveUp = false;
  const bound = setTimeout(() => {
    gaveUp = true;
    conn.close();
  }, boundMs);
  try {
    while ((await conn.read(buf)) !== null) { /* nothing more is expected */ }
  } catch { /* reset */ }
  clearTimeout(bound);
  if (gaveUp) return undefined;
  conn.close();
  return performance.now() - t0;
}

/** A service on Bun or Node (the bundle) with `env`, on a fresh data dir. */
async function spawnService(runtime: "bun" | "node", env: Record<string, string>) {
  const dataDir = await freshDataDir(`slowhdr_${runtime}`);
  const cmd = runtime === "bun" ? ["bun", "main.ts"] : ["node", "dist/main.mjs"];
  const child = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    cwd: ROOT,
    env: { DATA_DIR: dataDir, BIND_ADDR: "127.0.0.1:0", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), START_MS_MAX);
  let port: number | undefined;
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd.join(" ")} exited before listening: ${text}`);
    text += value;
    const m = /listening tcp [0-9.]+:(\d+)/.exec(text);
    if (m) port = Number(m[1]);
  }
  clearTimeout(timer);
  void (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return {
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

async function onPath(name: string): Promise<boolean> {
  try {
    return (await new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" })
      .output()).success;
  } catch {
    return false;
  }
}

const SERVICE_ENV = {
  HEADER_DEADLINE_MS: String(DEADLINE_MS),
  KEEPALIVE_IDLE_MS: String(KEEPALIVE_MS),
};

async function checkRuntime(
  runtime: Runtime,
  port: number,
): Promise<void> {
  const slack = SLACK_MS[runtime];
  // Bun cannot be given a header deadline: uWebSockets' fixed one applies (limits.ts).
  const deadlineMs = runtime === "bun" ? BUN_HEADERS_TIMEOUT_MS : DEADLINE_MS;
  const honest = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, {
      signal: AbortSignal.timeout(HONEST_MS_MAX),
    });
    assert.equal(r.status, 200);
    await r.body?.cancel();
  };
  const { outcomes, honestMs } = await attack(port, deadlineMs + slack, honest);
  const s = summary(outcomes);
  console.log(
    `slow headers ${runtime}: ${JSON.stringify({ ...s, honestMs: Math.round(honestMs) })}`,
  );
  assert.ok(
    s.closed >= CLOSED_SHARE_MIN * SOCKETS,
    `${runtime}: only ${s.closed}/${SOCKETS} slow sockets closed within ${deadlineMs + slack} ms`,
  );
  for (const kind of KINDS) assert.ok(s.byKind[kind]! > 0, `${runtime}: no ${kind} socket closed`);
  assert.ok(s.minMs >= EARLY_SHARE * deadlineMs, `${runtime}: closed after ${s.minMs} ms`);
  // The service still answers once the attack is over.
  await honest();
}

Deno.test("Deno (default listener): slow-header sockets closed at the deadline, honest request served", async () => {
  const dataDir = await freshDataDir("slowhdr");
  const service = await startService({ dataDir, transport: "tcp", env: SERVICE_ENV });
  try {
    const port = Number(new URL(service.origin).port);
    await checkRuntime("deno", port);
    const idleMs = await keepAliveIdle(port, KEEPALIVE_MS + SLACK_MS.deno);
    console.log(`keep-alive idle deno: closed after ${Math.round(idleMs ?? NaN)} ms`);
    assert.ok(idleMs !== undefined, "idle kept-alive connection not closed");
    assert.ok(idleMs >= EARLY_SHARE * KEEPALIVE_MS, `closed after ${idleMs} ms`);
  } finally {
    await service.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
});

Deno.test({
  name: "Bun: slow-header sockets closed by its fixed header timeout, honest request served",
  ignore: !wanted.includes("bun") || !(await onPath("bun")),
  async fn() {
    const service = await spawnService("bun", SERVICE_ENV);
    try {
      await checkRuntime("bun", service.port);
    } finally {
      await service.stop();
    }
  },
});

Deno.test({
  name: "Node (bundle): slow-header sockets closed by headersTimeout, idle keep-alive bounded",
  ignore: !wanted.includes("node") || !(await onPath("node")),
  async fn() {
    const bundle = await new Deno.Command("bash", {
      args: ["scripts/bundle.sh"],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));
    const service = await spawnService("node", SERVICE_ENV);
    try {
      await checkRuntime("node", service.port);
      const idleMs = await keepAliveIdle(service.port, KEEPALIVE_MS + SLACK_MS.node);
      assert.ok(idleMs !== undefined, "idle kept-alive connection not closed");
    } finally {
      await service.stop();
    }
  },
});

Deno.test("control: plain Deno.serve (unguarded) holds slow sockets past the same bound", async () => {
  const handle = await listen(() => new Response("ok"), {
    bindAddr: "127.0.0.1:0",
    unguarded: true,
    handleSignals: false,
  });
  try {
    assert.equal(handle.addr.transport, "tcp");
    const port = handle.addr.transport === "tcp" ? handle.addr.port : 0;
    const honest = async () => {
      const r = await fetch(`http://127.0.0.1:${port}/`);
      await r.body?.cancel();
    };
    const { outcomes } = await attack(port, DEADLINE_MS + SLACK_MS.deno, honest, 30);
    const s = summary(outcomes);
    assert.equal(s.closed, 0, `plain Deno.serve closed ${s.closed} slow sockets`);
  } finally {
    await handle.shutdown();
  }
});

Deno.test("guarded listener: the peer address and a kept-alive connection's second request", async () => {
  const peers: string[] = [];
  const handle = await listen((_req, env) => {
    peers.push(env.peer.address ?? "none");
    return new Response("ok");
  }, { bindAddr: "127.0.0.1:0", handleSignals: false, limits: { keepAliveTimeoutMs: 60_000 } });
  try {
    const port = handle.addr.transport === "tcp" ? handle.addr.port : 0;
    const client = Deno.createHttpClient({ poolMaxIdlePerHost: 1 });
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/`, { client });
      assert.equal(await r.text(), "ok");
    }
    client.close();
    assert.deepEqual(peers, ["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
  } finally {
    await handle.shutdown();
  }
});

Deno.test("TLS on Deno: the default (node:https) closes a socket stalled in its handshake", async () => {
  const dir = await Deno.makeTempDir({ prefix: "slowhdr_tls_" });
  const made = await new Deno.Command("openssl", {
    args: ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
      .concat(["-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=localhost"]),
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
  await Deno.chmod(join(dir, "key.pem"), 0o600);
  const env = { TLS_CERT_PATH: join(dir, "cert.pem"), TLS_KEY_PATH: join(dir, "key.pem") };
  // The engine main.ts picks for TLS without LISTEN_ENGINE.
  const engine = loadConfig(env, { runtime: "deno" }).listenEngine;
  assert.equal(engine, "node");
  const handle = await listen(() => new Response("ok"), {
    bindAddr: "127.0.0.1:0",
    engine,
    handleSignals: false,
    tls: { certPath: env.TLS_CERT_PATH, keyPath: env.TLS_KEY_PATH },
    limits: { headersTimeoutMs: DEADLINE_MS },
  });
  try {
    const port = handle.addr.transport === "tcp" ? handle.addr.port : 0;
    const outcomes = await Promise.all(
      // Silent: plaintext bytes would end the handshake at once with an alert.
      [1, 2, 3].map(() =>
        slowSocket(port, "silent", { boundMs: DEADLINE_MS + SLACK_MS.node, trickleMs: TRICKLE_MS })
      ),
    );
    const s = summary(outcomes);
    assert.equal(s.closed, outcomes.length, JSON.stringify(s));
    assert.ok(s.minMs >= EARLY_SHARE * DEADLINE_MS, `closed after ${s.minMs} ms`);
  } finally {
    await handle.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
