/**
 * Test helper: starts tools/dev_ledger.ts as its own process and talks to its control API.
 * Deno-only (tests), bounded waits.
 *
 * @module
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { testKeysDocument } from "./ledger_fixtures.ts";
import { attenuateForLedger } from "../../src/shell/caps/egress.ts";
import { encodeToken } from "../../src/shell/caps/token_codec.ts";
import { newMacaroonV2, withFirstPartyCaveat } from "../../src/shell/caps/macaroon_v2.ts";
import type { QueuedIntent } from "../../src/shell/store/run_store.ts";
import { ledgerIntentsPathOf } from "../../src/shell/ledger/http_ledger_target.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

/**
 * A ledger token as a ledger operator would hand it to the service (minted by the ledger's
 * issuer, not a rewarder token): the dev ledger reads its identifier as the caller.
 */
export const TEST_LEDGER_TOKEN: string = encodeToken(
  withFirstPartyCaveat(
    newMacaroonV2(new Uint8Array(32).fill(6), utf8("ledger-caller:svc-rewarder-test")),
    utf8("scope = ledger.intent.write"),
  ),
);

/** `tokenFor` of the HTTP ledger client: {@link TEST_LEDGER_TOKEN} attenuated per intent. */
export function testEgressTokenFor(
  ledgerUrl: string,
): (intent: QueuedIntent, tenant: string) => Promise<string> {
  const intentsPath = ledgerIntentsPathOf(ledgerUrl);
  return (intent, tenant) =>
    Promise.resolve(attenuateForLedger(TEST_LEDGER_TOKEN, {
      tenant,
      intentsPath,
      runKey: intent.runKey,
      intentKey: intent.intentKey,
      manifestHash: intent.manifestHash,
      nowMs: Date.now(),
      ttlMs: 3_600_000,
    }));
}

/** Startup wait bound for the dev ledger, ms. */
export const DEV_LEDGER_START_TIMEOUT_MS = 20_000;

/** One applied intent, by its scope (caller, tenant, Idempotency-Key). */
export interface DevLedgerEntry {
  caller: string;
  tenant: string;
  key: string;
  schema: string;
  run_key: string;
}

/** `GET /_stats` of the dev ledger. */
export interface DevLedgerStats {
  deliveries: number;
  /** Idempotency-Key → how many (caller, tenant) scopes applied it. */
  applied: Record<string, number>;
  duplicates: Record<string, number>;
  entries: DevLedgerEntry[];
}

/** A running dev ledger. */
export interface DevLedger {
  url: string;
  stats(): Promise<DevLedgerStats>;
  faults(list: string[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the dev ledger with the test fixtures' public key, or with `keysDocument` (e.g. the
 * published keys of a real service under test).
 */
export async function startDevLedger(
  options: { keysDocument?: ReturnType<typeof testKeysDocument> } = {},
): Promise<DevLedger> {
  const dir = await mkdtemp(join(tmpdir(), "rw-devledger-"));
  const keys = join(dir, "keys.json");
  await writeFile(keys, JSON.stringify(options.keysDocument ?? testKeysDocument()));
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "tools/dev_ledger.ts",
      "--keys",
      keys,
      "--port",
      "0",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), DEV_LEDGER_START_TIMEOUT_MS);
  let port: number | undefined;
  while (port === undefined) {
    const { done, value } = await reader.read();
    if (done) throw new Error("Cannot start dev ledger: it exited before listening");
    buffered += value;
    const m = /listening (\d+)/.exec(buffered);
    if (m) port = Number(m[1]);
  }
  clearTimeout(timer);
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep stdout flowing */ }
  })();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async stats() {
      return await (await fetch(`${url}/_stats`)).json();
    },
    async faults(list) {
      const res = await fetch(`${url}/_faults`, {
        method: "POST",
        body: JSON.stringify({ faults: list }),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error("Cannot script dev ledger faults");
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited: status below still resolves
      }
      await child.status;
      await drain;
    },
  };
}
