// DOWNSTREAM_TLS=mtls (contract §12) against a local TLS server that demands a client
// certificate (node:https with requestCert/rejectUnauthorized; Deno.serve cannot demand one).
// The test PKI is made with openssl at test time. The ledger client delivers with the client
// certificate and fails with reason `tls` without it, on a wrong hostname, or with an unknown
// CA; the same code, bundled, does the same on Node and Bun. The inbound side: the node:https
// listener engine with CLIENT_CA_PATH refuses a client without a certificate.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import { readFileSync } from "node:fs";
import { chmod } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import {
  createDownstreamClient,
  openDownstreamClient,
} from "../src/shell/sources/downstream_tls.ts";
import { createHttpLedgerTarget } from "../src/shell/ledger/http_ledger_target.ts";
import { LedgerRetryableError } from "../src/shell/ledger/ledger_target.ts";
import { listen } from "../src/shell/listen/listen.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const KEY = "b".repeat(52);

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A CA, and leaf certificates it signs (EC P-256), written under `dir`. */
async function makePki(dir: string) {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const ca = async (name: string) =>
    await openssl(
      dir,
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
    );
  const leaf = async (name: string, caName: string, ext: string) => {
    await openssl(
      dir,
      "req",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    );
    await Deno.writeTextFile(join(dir, `${name}.ext`), ext);
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${caName}.pem`,
      "-CAkey",
      `${caName}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
    await chmod(join(dir, `${name}.key`), 0o600);
  };
  await ca("test-ca");
  await ca("other-ca");
  await leaf(
    "server",
    "test-ca",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  await leaf(
    "wrong-name",
    "test-ca",
    "subjectAltName=DNS:elsewhere.test\nextendedKeyUsage=serverAuth\n",
  );
  await leaf("client", "test-ca", "extendedKeyUsage=clientAuth\n");
  await leaf("stranger", "other-ca", "extendedKeyUsage=clientAuth\n");
  const p = (name: string) => join(dir, name);
  return { dir, ca: p("test-ca.pem"), otherCa: p("other-ca.pem"), p };
}

interface Seen {
  path: string;
  idempotencyKey: string;
  body: string;
  clientCn: string;
}

/** A ledger that demands a client certificate chaining to the test CA. */
function mtlsLedger(pki: Awaited<ReturnType<typeof makePki>>, certName: string) {
  const seen: Seen[] = [];
  const server: Server = createServer({
    key: readFileSync(pki.p(`${certName}.key`)),
    cert: readFileSync(pki.p(`${certName}.pem`)),
    ca: readFileSync(pki.ca),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  }, (req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => body += c);
    req.on("end", () => {
      // deno-lint-ignore no-explicit-any
      const peer = (req.socket as any).getPeerCertificate?.();
      seen.push({
        path: req.url ?? "",
        idempotencyKey: String(req.headers["idempotency-key"]),
        body,
        clientCn: String(peer?.subject?.CN ?? ""),
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"status":"accepted"}');
    });
  });
  // Handshakes this server refused (no or bad client certificate), by its own account.
  const refusals: string[] = [];
  server.on("tlsClientError", (err: Error) => refusals.push(err.message));
  return {
    seen,
    refusals,
    start: () =>
      new Promise<number>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port))
      ),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function deliver(
  url: string,
  tls: Parameters<typeof openDownstreamClient>[0],
): Promise<string> {
  const client = await openDownstreamClient(tls);
  try {
    const target = createHttpLedgerTarget({
      ledgerUrl: url,
      tokenFor: () => Promise.resolve(undefined),
      fetch: client.fetch,
    });
    return await target.send(
      {
        idempotencyKey: KEY,
        body: '{"probe":true}',
        runKey: KEY,
        intentKey: KEY,
        manifestHash: KEY,
      },
      { tenant: "acme", corrId: "c1", signal: AbortSignal.timeout(10_000) },
    );
  } catch (err) {
    if (err instanceof LedgerRetryableError) return `error:${err.reason}`;
    throw err;
  } finally {
    client.close();
  }
}

async function runBundled(runtime: string, bundle: string, args: string[]): Promise<unknown> {
  const out = await new Deno.Command(runtime, {
    args: [bundle, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, `${runtime}: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(text.split("\n").at(-1)!);
}

function which(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
    } catch { /* not here */ }
  }
  return undefined;
}

Deno.test("DOWNSTREAM_TLS=mtls: the ledger client against a server that demands a client certificate", async (t) => {
  const dir = await Deno.makeTempDir();
  const pki = await makePki(dir);
  const ledger = mtlsLedger(pki, "server");
  const wrongName = mtlsLedger(pki, "wrong-name");
  const port = await ledger.start();
  const wrongPort = await wrongName.start();
  const url = `https://127.0.0.1:${port}/v1`;
  const mtls = {
    downstreamTls: "mtls" as const,
    downstreamCaPath: pki.ca,
    downstreamCertPath: pki.p("client.pem"),
    downstreamKeyPath: pki.p("client.key"),
  };
  try {
    await t.step("with the client certificate: delivered (Deno)", async () => {
      assert.equal(await deliver(url, mtls), "accepted");
      const last = ledger.seen.at(-1)!;
      assert.equal(last.path, "/v1/intents");
      assert.equal(last.idempotencyKey, KEY);
      assert.equal(last.body, '{"probe":true}');
      assert.equal(last.clientCn, "client");
    });
    await t.step("without a client certificate: fails with reason tls", async () => {
      const before = ledger.seen.length;
      const r = await deliver(url, {
        ...mtls,
        downstreamTls: "required",
        downstreamCertPath: undefined,
        downstreamKeyPath: undefined,
      });
      assert.equal(r, "error:tls");
      assert.equal(ledger.seen.length, before, "nothing reached the ledger");
    });
    await t.step("a certificate from another CA: refused by the server (tls)", async () => {
      const r = await deliver(url, {
        ...mtls,
        downstreamCertPath: pki.p("stranger.pem"),
        downstreamKeyPath: pki.p("stranger.key"),
      });
      assert.equal(r, "error:tls");
    });
    await t.step("without DOWNSTREAM_CA_PATH the test CA is not trusted (tls)", async () => {
      assert.equal(await deliver(url, { ...mtls, downstreamCaPath: undefined }), "error:tls");
    });
    await t.step(
      "the hostname is verified: a certificate for another name fails (tls)",
      async () => {
        assert.equal(await deliver(`https://127.0.0.1:${wrongPort}`, mtls), "error:tls");
        assert.equal(wrongName.seen.length, 0);
      },
    );
    await t.step(
      "a client key file readable by others is refused, naming the variable",
      async () => {
        const loose = pki.p("loose.key");
        await Deno.copyFile(pki.p("client.key"), loose);
        await chmod(loose, 0o644);
        await assert.rejects(
          openDownstreamClient({ ...mtls, downstreamKeyPath: loose }),
          /^Error: Cannot use DOWNSTREAM_KEY_PATH: .* mode 644, must be 0600$/,
        );
      },
    );
    await t.step("the plain client (no TLS material) is the global fetch", () => {
      const plain = createDownstreamClient(undefined);
      plain.close();
    });

    const bundle = join(dir, "probe.mjs");
    const built = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "deno",
        "--format",
        "esm",
        "-o",
        bundle,
        join(ROOT, "tests/support/downstream_tls_probe.ts"),
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    for (const runtime of ["node", "bun"]) {
      const bin = which(runtime);
      if (bin === undefined) {
        console.warn(`${runtime} not on PATH: its run is skipped`);
        continue;
      }
      await t.step(
        `${runtime}: the same client delivers with the certificate, fails (tls) without`,
        async () => {
          const before = ledger.seen.length;
          assert.deepEqual(
            await runBundled(bin, bundle, [url, pki.ca, pki.p("client.pem"), pki.p("client.key")]),
            { ok: "accepted" },
          );
          assert.equal(ledger.seen.length, before + 1);
          assert.equal(ledger.seen.at(-1)!.clientCn, "client");
          // The refusal must happen in the server's handshake. What the client reads of it
          // depends on the server's TLS stack: this test server (node:https inside Deno, on
          // rustls) sometimes resets instead of sending its alert, and Bun then reports a reset
          // (`network`, measured: about half the runs) where a clean alert gives `tls`.
          const refusedBefore = ledger.refusals.length;
          const refused = await runBundled(bin, bundle, [url, pki.ca]) as { error?: string };
          assert.ok(
            refused.error === "tls" || refused.error === "network",
            JSON.stringify(refused),
          );
          assert.ok(ledger.refusals.length > refusedBefore, "the server refused the handshake");
          assert.equal(ledger.seen.length, before + 1, "nothing was delivered without the cert");
          assert.deepEqual(
            await runBundled(bin, bundle, [
              `https://127.0.0.1:${wrongPort}`,
              pki.ca,
              pki.p("client.pem"),
              pki.p("client.key"),
            ]),
            { error: "tls" },
          );
        },
      );
    }
  } finally {
    await ledger.close();
    await wrongName.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLIENT_CA_PATH on the node:https listener engine: a client without a certificate is refused", async () => {
  const dir = await Deno.makeTempDir();
  const pki = await makePki(dir);
  const handle = await listen(() => new Response("ok"), {
    bindAddr: "127.0.0.1:0",
    engine: "node",
    handleSignals: false,
    tls: { certPath: pki.p("server.pem"), keyPath: pki.p("server.key"), caPath: pki.ca },
  });
  assert.equal(handle.addr.transport, "tcp");
  const url = `https://127.0.0.1:${(handle.addr as { port: number }).port}/`;
  const withCert = await openDownstreamClient({
    downstreamTls: "mtls",
    downstreamCaPath: pki.ca,
    downstreamCertPath: pki.p("client.pem"),
    downstreamKeyPath: pki.p("client.key"),
  });
  const without = await openDownstreamClient({
    downstreamTls: "required",
    downstreamCaPath: pki.ca,
    downstreamCertPath: undefined,
    downstreamKeyPath: undefined,
  });
  try {
    const ok = await withCert.fetch(url);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "ok");
    await assert.rejects(without.fetch(url));
  } finally {
    withCert.close();
    without.close();
    await handle.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLIENT_CA_PATH on Deno.serve: the listener refuses to start", async () => {
  await assert.rejects(
    listen(() => new Response("ok"), {
      bindAddr: "127.0.0.1:0",
      handleSignals: false,
      tls: { certPath: "/nonexistent/c.pem", keyPath: "/nonexistent/k.pem", caPath: "/x" },
    }),
    /Deno\.serve cannot require client certificates/,
  );
});
