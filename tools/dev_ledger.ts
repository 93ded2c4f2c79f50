/**
 * A real dev ledger server for tests (issue 5): its own process, verifying intents like a real
 * ledger before accepting them, idempotent by `Idempotency-Key`, with scriptable faults.
 *
 *   deno run --allow-net --allow-read tools/dev_ledger.ts --keys <keys.json> [--port N]
 *
 * Prints `listening <port>` on stdout once ready. Port from `--port` or DEV_LEDGER_PORT (0 =
 * any free port). The keys file is `{"keys":[{"kid","alg":"ed25519","public_key":"<b64url>"}]}`.
 *
 * - `POST /intents`: schema check, Σ transfers = total_minor, every listed Ed25519 signature
 *   verified over `svc-rewarder/manifest-sig/v1:` + manifest_hash against the keys (at least one
 *   required), Idempotency-Key = run_key; then 200 accepted / 200 duplicate / 409 / 400.
 * - `GET /_stats`: `{"deliveries":n,"applied":{key:1},"duplicates":{key:n}}`.
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
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { fromBase64Url } from "../src/core/base64url.ts";

ed.hashes.sha512 = sha512;

const BODY_BYTES_MAX = 1_048_576; // an intent of a large epoch still fits; a bomb does not
const FAULTS_MAX = 1_000; // fault script length bound
const REFUSE_MS = 400; // how long the listener stays closed on `refuse`
const DELAY_MS_MAX = 60_000;
const MONEY_RE = /^(0|[1-9][0-9]{0,38})$/;
const CID_RE = /^b3:[0-9a-f]{64}$/;
const INTENT_KEYS =
  "asset,epoch_id,funding_source,manifest_hash,run_key,schema,signatures,tenant,total_minor,transfers";

type Fault = "5xx" | "refuse" | "drop_after_commit" | "malformed_ack" | { delayMs: number };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const keysPath = arg("keys") ?? process.env["DEV_LEDGER_KEYS"];
if (keysPath === undefined) throw new Error("Cannot start dev ledger: --keys <file> is required");
const keysDoc = JSON.parse(await readFile(keysPath, "utf8")) as {
  keys: { kid: string; alg: string; public_key: string }[];
};
const publicKeys = new Map(
  keysDoc.keys.filter((k) => k.alg === "ed25519").map((k) => [k.kid, fromBase64Url(k.public_key)]),
);

const applied = new Map<string, string>(); // key → canonical body
const duplicates = new Map<string, number>();
let deliveries = 0;
const faults: Fault[] = [];
let refusing = false;

function verify(v: unknown, key: string | undefined): string | undefined {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "schema";
  const i = v as Record<string, unknown>;
  if (Object.keys(i).sort().join(",") !== INTENT_KEYS) return "schema";
  if (i["schema"] !== "svc-rewarder.intent.v1") return "schema";
  if (typeof i["run_key"] !== "string" || !CID_RE.test(i["run_key"])) return "run_key";
  if (key !== i["run_key"]) return "idempotency_key";
  if (typeof i["manifest_hash"] !== "string" || !CID_RE.test(i["manifest_hash"])) {
    return "manifest_hash";
  }
  for (const f of ["tenant", "epoch_id", "asset", "funding_source"]) {
    if (typeof i[f] !== "string" || i[f] === "") return "schema";
  }
  if (typeof i["total_minor"] !== "string" || !MONEY_RE.test(i["total_minor"])) {
    return "total_minor";
  }
  const transfers = i["transfers"];
  if (!Array.isArray(transfers)) return "schema";
  let sum = 0n;
  for (const t of transfers as Record<string, unknown>[]) {
    if (typeof t?.["to"] !== "string" || typeof t["amount_minor"] !== "string") return "transfers";
    if (!MONEY_RE.test(t["amount_minor"]) || Object.keys(t).length !== 2) return "transfers";
    sum += BigInt(t["amount_minor"]);
  }
  if (sum !== BigInt(i["total_minor"])) return "conservation";
  return verifySignatures(i["signatures"], String(i["manifest_hash"]));
}

function verifySignatures(sigs: unknown, manifestHash: string): string | undefined {
  if (!Array.isArray(sigs) || sigs.length === 0) return "signatures";
  const msg = new TextEncoder().encode(`svc-rewarder/manifest-sig/v1:${manifestHash}`);
  let verified = 0;
  for (const s of sigs as Record<string, unknown>[]) {
    if (s?.["alg"] !== "ed25519") continue; // other algorithms are not checked here
    const pk = publicKeys.get(String(s["kid"]));
    if (pk === undefined) return "unknown_kid";
    try {
      if (!ed.verify(fromBase64Url(String(s["sig"])), msg, pk)) return "bad_signature";
    } catch {
      return "bad_signature";
    }
    verified += 1;
  }
  return verified === 0 ? "signatures" : undefined;
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
  const problem = verify(parsed, key);
  if (problem !== undefined) return send(res, 400, { error: problem });
  const body = canonicalJson(parsed);
  const seen = applied.get(key);
  let status: "accepted" | "duplicate";
  if (seen === undefined) {
    applied.set(key, body);
    status = "accepted";
  } else if (seen === body) {
    duplicates.set(key, (duplicates.get(key) ?? 0) + 1);
    status = "duplicate";
  } else return send(res, 409, { error: "conflict" });
  if (fault === "drop_after_commit") return void req.socket.destroy();
  if (fault === "malformed_ack") return send(res, 200, '{"status":"accepted"');
  if (typeof fault === "object") await new Promise((r) => setTimeout(r, fault.delayMs));
  if (!res.destroyed) send(res, 200, { status });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === "POST" && req.url === "/intents") return await intents(req, res);
  if (req.method === "GET" && req.url === "/_stats") {
    return send(res, 200, {
      deliveries,
      applied: Object.fromEntries([...applied.keys()].map((k) => [k, 1])),
      duplicates: Object.fromEntries(duplicates),
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
