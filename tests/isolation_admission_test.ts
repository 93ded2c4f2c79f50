// Isolation before authentication and readiness, over the real server (main.ts) on loopback
// (docs/ARCHITECTURE.md "Order of the middleware"; contract §10 /readyz):
// - an anonymous request declaring a 1 MiB body is answered 401 while the client has sent only
//   one 64 KiB chunk of it (the body is not read before authentication);
// - an anonymous GET flood from the honest tenant's own address does not make one of the
//   tenant's requests 429 (anonymous callers spend their peer's bucket only);
// - with LEDGER_URL on a closed port, /readyz reports dep_outage within seconds of the start,
//   with no delivery attempted (the probes, not a failed delivery, found it).
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import {
  caller,
  freshDataDir,
  REQUEST_MS_MAX,
  type Service,
  startService,
  tokenMinter,
  waitFor,
} from "./support/service.ts";

const CHUNK = 64 * 1024;
const BODY = 1024 * 1024;
/** Longest wait for /readyz to report the outage: 3 probes 5 s apart, plus start slack. */
const OUTAGE_WAIT_MS_MAX = 30_000;

/** Sends the head and `first` bytes of the body, then waits for the status line (bounded). */
function statusAfterPartialBody(port: number, head: string, first: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${REQUEST_MS_MAX} ms (the server waits for the body)`));
    }, REQUEST_MS_MAX);
    socket.on("connect", () => {
      socket.write(head);
      socket.write(first);
    });
    socket.on("data", (d) => {
      text += d.toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m) {
        clearTimeout(timer);
        socket.destroy();
        resolve(m[1]!);
      }
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function metric(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

Deno.test("before authentication: one chunk of an anonymous body, anonymous floods apart", async (t) => {
  const dataDir = await freshDataDir("preauth");
  // A small instance bucket, so that the flood would spend it if it were charged there.
  const svc: Service = await startService({
    dataDir,
    transport: "tcp",
    env: { MAX_RPS: "20", RATE_BURST: "40", TENANT_RPS_MAX: "20" },
  });
  try {
    const port = Number(new URL(svc.origin).port);
    const call = caller(svc);
    const token = await tokenMinter(dataDir).mint({ tenant: "acme" });

    await t.step("an anonymous 1 MiB body is answered 401 after one 64 KiB chunk", async () => {
      const head = `POST /rewarder/epochs/e1/compute HTTP/1.1\r\nHost: x\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${BODY}\r\n\r\n`;
      // The server answers while the client still holds 960 KiB of the body back: it read no
      // more than what was sent. Reading the body first, it would wait for the rest (then 503).
      assert.equal(await statusAfterPartialBody(port, head, new Uint8Array(CHUNK)), "401");
      const m = await call("GET", "/metrics");
      assert.equal(metric(m.text, "preauth_held_bytes"), 0, "the reservation was given back");
    });

    await t.step("an anonymous GET flood does not make the honest tenant 429", async () => {
      const flood = await Promise.all(
        Array.from({ length: 200 }, () => call("GET", "/rewarder/runs")),
      );
      const floodCodes = new Set(flood.map((a) => a.status));
      assert.ok(flood.some((a) => a.status === 429), "the flood spent its own bucket");
      assert.deepEqual([...floodCodes].sort(), [401, 429]);
      const honest: number[] = [];
      for (let i = 0; i < 20; i += 1) {
        honest.push((await call("GET", "/rewarder/runs", { token })).status);
      }
      assert.deepEqual(honest, new Array(20).fill(200), `honest: ${honest.join(",")}`);
      const m = await call("GET", "/metrics");
      assert.ok((metric(m.text, "anon_rate_limited_total") ?? 0) > 0);
      const ready = await call("GET", "/readyz");
      assert.ok(!JSON.stringify(ready.body).includes("quota"), "the instance bucket is whole");
    });
  } finally {
    assert.equal(await svc.stop(), 0);
  }
});

Deno.test("/readyz reports dep_outage within seconds when the ledger's port is closed", async () => {
  // A port nothing listens on: bind one, note it, close it.
  const server = createServer();
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port))
  );
  await new Promise((resolve) => server.close(resolve));
  const dataDir = await freshDataDir("probe");
  const svc = await startService({
    dataDir,
    transport: "tcp",
    env: { LEDGER_URL: `http://127.0.0.1:${port}/ledger` },
  });
  try {
    const call = caller(svc);
    const startedMs = Date.now();
    let last = "";
    const down = await waitFor(
      async () => {
        const r = await call("GET", "/readyz");
        last = `${r.status} ${r.text}`;
        return r.status === 503 && (r.body?.causes ?? []).includes("dep_outage");
      },
      OUTAGE_WAIT_MS_MAX,
      250,
    );
    assert.ok(down, `readyz never reported dep_outage: ${last}`);
    const tookMs = Date.now() - startedMs;
    const m = (await call("GET", "/metrics")).text;
    assert.equal(metric(m, `dependency_up{dependency="ledger"}`), 0);
    assert.ok((metric(m, `dependency_probes_total{dependency="ledger",result="fail"}`) ?? 0) >= 3);
    // No delivery was attempted: the probes found the outage, not a failed delivery.
    assert.equal(metric(m, `ledger_intents_total{result="error"}`) ?? 0, 0);
    console.log(`dep_outage reported ${tookMs} ms after the listening line`);
  } finally {
    assert.equal(await svc.stop(), 0);
  }
});
