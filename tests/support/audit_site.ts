/**
 * The origin the auditor's page tests point Chromium at: the page from `auditPage()`
 * (routes/audit_page.ts, the committed build) and, on the same origin, `/rewarder/*`
 * passed through to the REAL service (tests/support/service.ts). A switch changes one byte
 * of what the service answered, as an untrusted origin or a man in the middle could.
 *
 * @module
 */
import { Hono } from "hono";
import { auditPage } from "../../routes/audit_page.ts";
import type { Service } from "./service.ts";

/** Which answer gets one byte changed. */
export type Tamper = "none" | "payout" | "signature" | "proof";

/** A running test origin. */
export interface AuditSite {
  origin: string;
  /** The byte change applied from now on. */
  tamper: Tamper;
  close(): Promise<void>;
}

const EPOCH_PATH = /^\/rewarder\/epochs\/[^/]+$/;
const PROOF_PATH = /^\/rewarder\/epochs\/[^/]+\/proofs\/[^/]+$/;

/** `text` with the first digit captured by `pattern` replaced (1 ↔ 2, keeps it canonical). */
function changeOneByte(text: string, pattern: RegExp): string {
  const m = pattern.exec(text);
  if (m === null) throw new Error(`tamper: ${pattern} not found`);
  const at = m.index + m[0].length - 1;
  const before = text[at]!;
  const after = /[0-9]/.test(before) ? (before === "1" ? "2" : "1") : (before === "A" ? "B" : "A");
  return text.slice(0, at) + after + text.slice(at + 1);
}

/** Applies `tamper` to the body of `path`. */
export function tampered(tamper: Tamper, path: string, body: string): string {
  if (tamper === "payout" && EPOCH_PATH.test(path)) {
    return changeOneByte(body, /"payouts":\[\{"account":"[^"]*","amount_minor":"[1-9]/);
  }
  if (tamper === "signature" && EPOCH_PATH.test(path)) {
    return changeOneByte(body, /"sig":"[A-Za-z0-9_-]/);
  }
  if (tamper === "proof" && PROOF_PATH.test(path)) {
    return changeOneByte(body, /"amount_minor":"[1-9]/);
  }
  return body;
}

/** Starts the test origin on 127.0.0.1 in front of `service`. */
export function startAuditSite(service: Service): AuditSite {
  const app = new Hono();
  app.route("/", auditPage({ hstsMaxAgeS: 0 }));
  const site = { tamper: "none" as Tamper };
  app.all("/rewarder/*", async function passThrough(c) {
    const url = new URL(c.req.url);
    const headers = new Headers();
    for (const name of ["authorization", "accept", "if-none-match"]) {
      const v = c.req.header(name);
      if (v !== undefined) headers.set(name, v);
    }
    const r = await service.fetch(url.pathname + url.search, { method: c.req.method, headers });
    const body = tampered(site.tamper, url.pathname, await r.text());
    return new Response(body, {
      status: r.status,
      headers: { "content-type": r.headers.get("content-type") ?? "application/json" },
    });
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return Object.assign(site, {
    origin: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  });
}
