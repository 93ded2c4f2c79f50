/**
 * A real dev ledger server for tests: its own process, checking intents as contract §7 says a
 * ledger does before applying them, idempotent per (caller, tenant, Idempotency-Key), with
 * scriptable faults.
 *
 *   deno run --allow-net --allow-read tools/dev_ledger.ts --keys <keys.json> [--port N]
 *     [--root-key <file>]
 *
 * Prints `listening <port>` on stdout once ready. Port from `--port` or DEV_LEDGER_PORT (0 =
 * any free port). The keys file is the published keys document of the rewarder
 * (`GET /rewarder/keys`: `{"keys":[{"kid","alg":"ed25519","public_key":"<b64url>",…}]}`).
 *
 * - `POST /intents`: the checks of ledger/ledger_intent_check.ts (v2: intent key, header hash
 *   = manifest_hash, payout transfers rebuild payouts_root, v2 signature; a pending v1 intent:
 *   run key, v1 signature; Σ transfers = total_minor). The caller is the identifier of the
 *   `Authorization: Macaroon` token (`anonymous` without one); with `--root-key` (a file with
 *   the 32-byte root key, base64url) the token must verify under it. Every first-party caveat
 *   must hold (tenant, run_key, intent_key, manifest_hash equal the body's; scope, method,
 *   path, aud, time). Idempotency-Keys are scoped by (caller, tenant): same key + same body
 *   bytes → 200 duplicate, same key + other bytes → 409, new → 200 accepted; a failed check
 *   → 400 `{"error":<problem>}`, a bad token → 401/403.
 * - `GET /_stats`: `{"deliveries":n,"applied":{key:count},"duplicates":{key:n},
 *   "entries":[{"caller","tenant","key","schema","run_key"}]}` (applied counts the
 *   (caller, tenant) scopes that applied a key).
 * - `POST /_faults`: `{"faults":["5xx","delay:<ms>","refuse","drop_after_commit","malformed_ack"]}`,
 *   the behaviours of the next N `POST /intents`, in order.
 *
 * Uses node:http (runs under Deno) because dropping a connection needs the socket.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { Buffer } from "node:buffer";
import { fromBase64Url } from "../src/core/base64url.ts";
import { parsePublishedKeys } from "../src/shell/keys/key_files.ts";
import { decodeToken, tokenFromAuthorization } from "../src/shell/caps/token_codec.ts";
import { verifyChainV2 } from "../src/shell/caps/macaroon_v2.ts";
import {
  type CheckedIntent,
  checkLedgerIntent,
  egressCaveatsHold,
} from "../src/shell/ledger/ledger_intent_check.ts";

const BODY_BYTES_MAX = 1_048_576; // an intent of a large epoch still fits; a bomb does not
const FAULTS_MAX = 1_000; // fault script length bound
const REFUSE_MS = 400; // how long the listener stays closed on `refuse`
const DELAY_MS_MAX = 60_000;
type Fault = "5xx" | "refuse" | "drop_after_commit" | "malformed_ack" | { delayMs: number };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const keysPath = arg("keys") ?? process.env["DEV_LEDGER_KEYS"];
if (keysPath === undefined) throw new Error("Cannot start dev ledger: --keys <file> is required");
const keys = parsePublishedKeys(JSON.parse(await readFile(keysPath, "utf8")));
const rootKeyPath = arg("root-key");
const rootKey = rootKeyPath === undefined
  ? undefined
  : fromBase64Url((await readFile(rootKeyPath, "utf8")).trim());

/** One applied intent, by scope (caller, tenant, Idempotency-Key). */
interface Applied {
  caller: string;
  tenant: string;
  key: string;
  schema: string;
  runKey: string;
  body: string;
}
const applied = new Map<string, Applied>(); // caller \0 tenant \0 key → applied intent
const duplicates = new Map<string, number>(); // key → duplicates seen (any scope)
let deliveries = 0;
const faults: Fault[] = [];
let refusing = false;

/** The authenticated caller and its caveats, or the status to refuse with. */
function callerOf(
  req: IncomingMessage,
): { caller: string; caveats: string[] } | { status: 401 | 403 } {
  const header = req.headers["authorization"];
  if (header === undefined) return { caller: "anonymous", caveats: [] };
  try {
    const m = decodeToken(tokenFromAuthorization(header));
    if (rootKey !== undefined && !verifyChainV2(m, rootKey)) return { status: 401 };
    if (m.caveats.some((c) => c.vid !== undefined)) return { status: 403 };
    const utf8 = new TextDecoder("utf-8", { fatal: true });
    return {
      caller: utf8.decode(m.identifier),
      caveats: m.caveats.map((c) => utf8.decode(c.identifier)),
    };
  } catch {
    return { status: 401 };
  }
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Uint8Array).length;
    if (size > BODY_BYTES_MAX) return undefined;
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json" }).end(text);
}

function parseFault(f: unknown): Fault | undefined {
  if (f === "5xx" || f === "refuse" || f === "drop_after_commit" || f === "malformed_ack") return f;
  const m = typeof f === "string" ? /^delay:([0-9]{1,6})$/.exec(f) : null;
  return m && Number(m[1]) <= DELAY_MS_MAX ? { delayMs: Number(m[1]) } : undefined;
}

async function intents(req: IncomingMessage, res: ServerResponse): Promise<void> {
  deliveries += 1;
  const fault = faults.shift();
  if (fault === "refuse") {
    req.socket.destroy();
    if (refusing) return;
    refusing = true;
    server.close();
    server.closeAllConnections();
    setTimeout(function reopen() {
      if (server.listening) return setTimeout(reopen, 50); // close still draining
      refusing = false;
      server.listen(port, "127.0.0.1");
    }, REFUSE_MS);
    return;
  }
  if (fault === "5xx") return send(res, 503, { error: "injected" });
  const text = await readBody(req);
  if (text === undefined) return send(res, 413, { error: "oversize" });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return send(res, 400, { error: "json" });
  }
  const header = req.headers["idempotency-key"];
  const key = typeof header === "string" ? header : "";
  const checked = checkLedgerIntent(parsed, key, keys);
  if (!checked.ok) return send(res, 400, { error: checked.problem });
  const who = callerOf(req);
  if ("status" in who) return send(res, who.status, { error: "token" });
  if (!holds(who.caveats, req, checked.value)) return send(res, 403, { error: "caveat" });
  const scope = `${who.caller}\u0000${checked.value.tenant}\u0000${key}`;
  const seen = applied.get(scope);
  let status: "accepted" | "duplicate";
  if (seen === undefined) {
    applied.set(scope, {
      caller: who.caller,
      tenant: checked.value.tenant,
      key,
      schema: checked.value.schema,
      runKey: checked.value.runKey,
      body: text,
    });
    status = "accepted";
  } else if (seen.body === text) {
    duplicates.set(key, (duplicates.get(key) ?? 0) + 1);
    status = "duplicate";
  } else return send(res, 409, { error: "conflict" });
  if (fault === "drop_after_commit") return void req.socket.destroy();
  if (fault === "malformed_ack") return send(res, 200, '{"status":"accepted"');
  if (typeof fault === "object") await new Promise((r) => setTimeout(r, fault.delayMs));
  if (!res.destroyed) send(res, 200, { status });
}

function holds(caveats: string[], req: IncomingMessage, intent: CheckedIntent): boolean {
  const path = (req.url ?? "").split("?")[0] ?? "";
  return egressCaveatsHold(caveats, { method: req.method ?? "", path, nowMs: Date.now(), intent });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Any base path: LEDGER_URL may carry one (the egress token's `path ^=` names it).
  if (req.method === "POST" && /^(\/[^?]*)?\/intents$/.test(req.url ?? "")) {
    return await intents(req, res);
  }
  if (req.method === "GET" && req.url === "/_stats") {
    const counts = new Map<string, number>();
    for (const a of applied.values()) counts.set(a.key, (counts.get(a.key) ?? 0) + 1);
    return send(res, 200, {
      deliveries,
      applied: Object.fromEntries(counts),
      duplicates: Object.fromEntries(duplicates),
      entries: [...applied.values()].map((a) => ({
        caller: a.caller,
        tenant: a.tenant,
        key: a.key,
        schema: a.schema,
        run_key: a.runKey,
      })),
    });
  }
  if (req.method === "POST" && req.url === "/_faults") {
    const doc = JSON.parse((await readBody(req)) ?? "{}") as { faults?: unknown[] };
    const list = (doc.faults ?? []).map(parseFault);
    if (list.length > FAULTS_MAX || list.some((f) => f === undefined)) {
      return send(res, 400, { error: "faults" });
    }
    faults.push(...(list as Fault[]));
    return send(res, 200, { queued: faults.length });
  }
  send(res, 404, { error: "not_found" });
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) send(res, 500, { error: "internal" });
  });
});
server.keepAliveTimeout = 1_000;
const requested = Number(arg("port") ?? process.env["DEV_LEDGER_PORT"] ?? "0");
let port = requested;
server.listen(requested, "127.0.0.1", () => {
  const addr = server.address();
  port = typeof addr === "object" && addr !== null ? addr.port : requested;
  console.log(`listening ${port}`);
});
