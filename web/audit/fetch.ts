/**
 * Same-origin reads of the service (or an edge): `GET /rewarder/epochs/{id}`,
 * `…/proofs/{account}` and `/rewarder/keys` (contract §10). The token for the protected
 * GETs is kept in this tab's session storage and sent as `Authorization: Macaroon <token>`;
 * a `#token=…` fragment (never sent to a server) is moved there once and removed from the
 * address.
 *
 * @module
 */
import { strictJsonOf } from "./verify.ts";

/** Session storage key of the token. */
export const TOKEN_STORAGE_KEY = "svc-rewarder.audit.token";
/** Longest accepted token, chars (a macaroon of the service is far shorter). */
export const TOKEN_CHARS_MAX = 8 * 1024;

/** The answer of one read. */
export type Read =
  | { ok: true; value: unknown }
  | { ok: false; status: number; detail: string };

/** The stored token, if any. */
export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_STORAGE_KEY);
}

/** Stores a token for this tab (an empty one clears it). */
export function storeToken(token: string): void {
  const t = token.trim();
  if (t === "") sessionStorage.removeItem(TOKEN_STORAGE_KEY);
  else if (t.length <= TOKEN_CHARS_MAX) sessionStorage.setItem(TOKEN_STORAGE_KEY, t);
}

/** Moves a `#token=…` fragment into session storage and drops it from the address bar. */
export function adoptFragmentToken(): void {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (token === null) return;
  storeToken(token);
  history.replaceState(null, "", location.pathname + location.search);
}

/** GETs a same-origin path and parses the body strictly (I-JSON, contract §1). */
export async function readJson(path: string, authorised: boolean): Promise<Read> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = authorised ? storedToken() : null;
  if (token !== null) headers["authorization"] = `Macaroon ${token}`;
  let response: Response;
  try {
    response = await fetch(path, { headers, credentials: "omit", cache: "no-cache" });
  } catch {
    return { ok: false, status: 0, detail: `${path}: network error` };
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (!response.ok) {
    const body = strictJsonOf(bytes) as { error?: { reason?: unknown } } | null;
    const reason = typeof body?.error?.reason === "string" ? ` (${body.error.reason})` : "";
    return { ok: false, status: response.status, detail: `${path}: ${response.status}${reason}` };
  }
  const value = strictJsonOf(bytes);
  return value === null
    ? { ok: false, status: response.status, detail: `${path}: not I-JSON` }
    : { ok: true, value };
}

/** Reads a dropped file strictly; null when it is not I-JSON. */
export async function readFileJson(file: File): Promise<unknown | null> {
  return strictJsonOf(new Uint8Array(await file.arrayBuffer()));
}
