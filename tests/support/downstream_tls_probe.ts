// Delivers one ledger intent through the downstream client (src/shell/sources/downstream_tls.ts) and
// the HTTP ledger client, then prints one JSON line: {"ok":"accepted"} or {"error":reason}.
// Bundled by tests/downstream_tls_test.ts to run the same code on Node and Bun.
// Usage: <runtime> probe <ledger url> <ca.pem> [<client.pem> <client.key>]
import process from "node:process";
import { openDownstreamClient } from "../../src/shell/sources/downstream_tls.ts";
import { createHttpLedgerTarget } from "../../src/shell/ledger/http_ledger_target.ts";
import { LedgerRetryableError } from "../../src/shell/ledger/ledger_target.ts";

const [ledgerUrl, caPath, certPath, keyPath] = process.argv.slice(2);
const client = await openDownstreamClient({
  downstreamTls: certPath === undefined ? "required" : "mtls",
  downstreamCaPath: caPath,
  downstreamCertPath: certPath,
  downstreamKeyPath: keyPath,
});
const target = createHttpLedgerTarget({
  ledgerUrl: ledgerUrl!,
  tokenFor: () => Promise.resolve(undefined),
  fetch: client.fetch,
});
const key = "b".repeat(52);
try {
  const answer = await target.send(
    { idempotencyKey: key, body: '{"probe":true}', runKey: key, intentKey: key, manifestHash: key },
    { tenant: "acme", corrId: "probe", signal: AbortSignal.timeout(10_000) },
  );
  console.log(JSON.stringify({ ok: answer }));
} catch (err) {
  const reason = err instanceof LedgerRetryableError ? err.reason : String(err);
  console.log(JSON.stringify({ error: reason }));
} finally {
  client.close();
}
