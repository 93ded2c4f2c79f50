/**
 * Immutable answers (contract §10): the epoch envelope and the proof documents never change
 * once committed, so they carry the strong `ETag: "<manifest_hash>"` and
 * `Cache-Control: private, max-age=31536000, immutable`, are never content-coded, and a
 * matching `If-None-Match` (read as RFC 9110 §13.1.2 says: a list, `*`, weak comparison)
 * gets 304 with the same two headers and no body. The caller checks authorisation and the
 * 404s first; a run record is not immutable (its emission moves on) and never comes here.
 *
 * @module
 */
import { padJsonText } from "../middleware/pad_response.ts";

/** `Cache-Control` of an immutable answer (contract §10). */
export const IMMUTABLE_CACHE_CONTROL = "private, max-age=31536000, immutable";
/** Longest `If-None-Match` read, chars: a longer one is ignored (answered in full). */
export const IF_NONE_MATCH_CHARS_MAX = 8 * 1024;

/** The paths whose GET answers are immutable (for the compression bypass). */
export const IMMUTABLE_PATH_PATTERN: RegExp = /^\/rewarder\/epochs\/[^/]+(\/proofs\/[^/]+)?$/;

/**
 * The opaque tags of an `If-None-Match` value (RFC 9110 §8.8.3: `#entity-tag` or `*`), weak
 * prefixes dropped (§8.8.3.2 weak comparison); `"*"` for the wildcard; `undefined` when the
 * value is malformed (then the condition is ignored, as for an absent header).
 */
export function ifNoneMatchTags(value: string): string[] | "*" | undefined {
  if (value.length > IF_NONE_MATCH_CHARS_MAX) return undefined;
  if (value.trim() === "*") return "*";
  const tags: string[] = [];
  let i = 0;
  const n = value.length;
  const skipSeparators = () => {
    while (i < n && (value[i] === " " || value[i] === "\t" || value[i] === ",")) i++;
  };
  skipSeparators();
  while (i < n) {
    if (value.startsWith("W/", i)) i += 2;
    if (value[i] !== '"') return undefined;
    const close = value.indexOf('"', i + 1);
    if (close < 0) return undefined;
    const opaque = value.slice(i + 1, close);
    // etagc = %x21 / %x23-7E / obs-text: no controls, no space, no DQUOTE
    if (!/^[\x21\x23-\x7e\x80-\xff]*$/.test(opaque)) return undefined;
    tags.push(opaque);
    i = close + 1;
    const before = i;
    skipSeparators();
    if (i < n && (i === before || !value.slice(before, i).includes(","))) return undefined;
  }
  return tags;
}

/** True when `ifNoneMatch` matches the current representation tagged `opaque`. */
export function ifNoneMatchHolds(ifNoneMatch: string | undefined, opaque: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const tags = ifNoneMatchTags(ifNoneMatch);
  if (tags === undefined) return false;
  return tags === "*" || tags.includes(opaque);
}

/**
 * The answer of an immutable resource: 304 when `If-None-Match` matches, else the JSON text
 * (size-bucketed padding, seed appendix) with the ETag and the immutable Cache-Control.
 */
export function immutableResponse(
  request: Request,
  manifestHash: string,
  json: string,
): Response {
  return notModifiedResponse(request, manifestHash) ??
    immutableBodyResponse(manifestHash, padJsonText(json).text);
}

/** The 304 of an immutable resource tagged `manifestHash` when `If-None-Match` matches. */
export function notModifiedResponse(
  request: Request,
  manifestHash: string,
): Response | undefined {
  if (!ifNoneMatchHolds(request.headers.get("if-none-match") ?? undefined, manifestHash)) {
    return undefined;
  }
  // Plain records, not Headers objects: a Headers init is walked by its iterator (Deno
  // re-sorts the list on every step), a record once.
  return new Response(null, {
    status: 304,
    headers: { "etag": `"${manifestHash}"`, "cache-control": IMMUTABLE_CACHE_CONTROL },
  });
}

/**
 * The 200 of an immutable resource from its padded JSON (a cached answer), as text: the
 * runtime encodes a string body itself, where a byte body would be copied on the JS heap first
 * (Fetch: a BufferSource body is copied) — the same bytes on the wire, without the copy.
 */
export function immutableBodyResponse(manifestHash: string, text: string): Response {
  return new Response(text, {
    status: 200,
    headers: {
      "etag": `"${manifestHash}"`,
      "cache-control": IMMUTABLE_CACHE_CONTROL,
      "content-type": "application/json",
    },
  });
}
