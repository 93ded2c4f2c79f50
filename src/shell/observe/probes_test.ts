import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import {
  type Cancel,
  connectProbe,
  createDependencyProbes,
  type DependencyState,
  postgresSelectOne,
  type Probe,
  selectOneProbe,
} from "./probes.ts";
import { findTestDatabase } from "../../../tests/support/postgres_test_db.ts";

/** A probe whose outcome the test sets before each round. */
function scripted() {
  let next: "ok" | "fail" = "ok";
  const probe: Probe = () =>
    next === "ok" ? Promise.resolve() : Promise.reject(new Error("connection refused"));
  return { probe, set: (v: "ok" | "fail") => void (next = v) };
}

Deno.test("three failures in a row put a dependency down until one probe succeeds", async () => {
  const ledger = scripted();
  const inputs = scripted();
  const seen: [string, boolean, number][] = [];
  const p = createDependencyProbes({
    probes: { ledger: ledger.probe, inputs: inputs.probe },
    observer: { probed: (s, ok) => seen.push([s.dependency, ok, s.consecutiveFailures]) },
  });
  ledger.set("fail");
  await p.round();
  await p.round();
  assert.equal(p.outage(), false, "two failures are not an outage");
  inputs.set("fail");
  await p.round();
  assert.equal(p.outage(), true, "the ledger's third failure in a row");
  const byName = (d: string) => p.states().find((s) => s.dependency === d)!;
  assert.deepEqual(
    { up: byName("ledger").up, n: byName("ledger").consecutiveFailures },
    { up: false, n: 3 },
  );
  assert.equal(byName("inputs").up, true, "inputs failed once only");
  ledger.set("ok");
  inputs.set("ok");
  await p.round();
  assert.equal(p.outage(), false, "one success brings it back");
  assert.equal(byName("ledger").consecutiveFailures, 0);
  assert.equal(seen.length, 8);
  // A success between failures restarts the count.
  ledger.set("fail");
  await p.round();
  await p.round();
  ledger.set("ok");
  await p.round();
  ledger.set("fail");
  await p.round();
  await p.round();
  assert.equal(p.outage(), false);
});

Deno.test("no dependency configured: never an outage, start schedules nothing", async () => {
  const scheduled: number[] = [];
  const p = createDependencyProbes({
    probes: {},
    schedule: (_fn, ms) => {
      scheduled.push(ms);
      return () => {};
    },
  });
  p.start();
  await p.round();
  assert.equal(p.outage(), false);
  assert.deepEqual(scheduled, []);
  await p.stop();
});

Deno.test("start: a round now, the next one interval after it ended; stop cancels", async () => {
  const calls: number[] = [];
  let pending: (() => void) | undefined;
  const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  let closed = false;
  const p = createDependencyProbes({
    probes: { ledger: () => new Promise<void>((resolve) => (pending = resolve)) },
    intervalMs: 5_000,
    schedule: (fn, ms): Cancel => {
      const t = { fn, ms, cancelled: false };
      timers.push(t);
      return () => void (t.cancelled = true);
    },
    close: () => {
      closed = true;
      return Promise.resolve();
    },
    observer: { probed: (s: Readonly<DependencyState>) => void calls.push(s.probes) },
  });
  p.start();
  assert.equal(timers.length, 0, "nothing scheduled while the first round runs");
  pending!();
  await p.round(); // the running round
  await Promise.resolve();
  assert.equal(timers.length, 1);
  assert.equal(timers[0]!.ms, 5_000);
  timers[0]!.fn(); // the clock reaches the next round
  pending!();
  await p.round();
  await Promise.resolve();
  assert.deepEqual(calls, [1, 2]);
  assert.equal(timers.length, 2);
  await p.stop();
  assert.equal(timers[1]!.cancelled, true);
  assert.equal(closed, true);
});

Deno.test("a probe that does not answer fails at its timeout", async () => {
  const p = createDependencyProbes({
    probes: { postgres: () => new Promise<void>(() => {}) },
    timeoutMs: 20,
    failuresMax: 1,
  });
  await p.round();
  assert.equal(p.outage(), true);
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  );
}

Deno.test("connectProbe: an open port passes, a closed one fails", async () => {
  const server = createServer((socket) => socket.end());
  const port = await listen(server);
  try {
    await connectProbe(new URL(`http://127.0.0.1:${port}/ledger`))(new AbortController().signal);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  // The port is closed now (nothing listens on it).
  await assert.rejects(
    connectProbe(new URL(`http://127.0.0.1:${port}/`))(new AbortController().signal),
  );
});

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test("connectProbe over https: the TLS handshake, verified against the CA", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probe_tls_" });
  try {
    await openssl(
      dir,
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    );
    const pem = await Deno.readTextFile(join(dir, "server.pem"));
    const key = await Deno.readTextFile(join(dir, "server.key"));
    const tls = await import("node:tls");
    const server = tls.createServer({ cert: pem, key }, (s) => s.end());
    const port = await new Promise<number>((resolve) =>
      server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
    );
    // A plain TCP server behind an https URL: the handshake fails.
    const plain = createServer((socket) => socket.end());
    const plainPort = await listen(plain);
    try {
      const url = new URL(`https://localhost:${port}/`);
      const signal = new AbortController().signal;
      await connectProbe(url, { ca: pem })(signal);
      await assert.rejects(connectProbe(url)(signal), "unknown issuer without the CA");
      await assert.rejects(
        connectProbe(new URL(`https://localhost:${plainPort}/`), { ca: pem })(signal),
        "no TLS on the other side",
      );
    } finally {
      // Not awaited: Deno's node:tls server may keep a refused handshake's socket open.
      server.close();
      plain.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("selectOneProbe: SELECT 1 on the test PostgreSQL; an unreachable one fails", async (t) => {
  const db = await findTestDatabase();
  if (db.url === undefined) {
    await t.step({ name: `skipped: ${db.why}`, ignore: true, fn: () => {} });
    return;
  }
  const client = await postgresSelectOne(db.url, 2_000);
  try {
    await selectOneProbe(client)(new AbortController().signal);
  } finally {
    await client.close();
  }
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  const dead = await postgresSelectOne(`postgres://u:p@127.0.0.1:${port}/db`, 1_000);
  try {
    await assert.rejects(selectOneProbe(dead)(new AbortController().signal));
  } finally {
    await dead.close();
  }
});
