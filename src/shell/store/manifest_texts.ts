/**
 * A computed manifest whose payouts stay JSON text on the request loop (docs/ARCHITECTURE.md,
 * "The engine pool"). A 1M-recipient manifest is a million small objects: parsed on the request
 * loop, re-serialised into its commit slot and walked again for its intent, it held `/healthz`
 * for seconds and the heap for a gigabyte. The engine worker posts instead the manifest without
 * its payouts, the UTF-8 of the payouts' JSON text and, for a sealed v2 manifest, the UTF-8 of
 * the JCS text of its intent's transfers (contract §7), both moved (transferred, not copied:
 * a copy of a hundred megabytes of strings cost the loop ~150 ms to receive); the request loop
 * keeps them as they came and never parses them:
 *
 * - {@link manifestOfTexts} gives the manifest a `payouts` member that parses the text only when
 *   something reads it (same position among the members, so any serialisation of it is the
 *   same bytes as before); a consumer that does not know about the text still sees the payouts;
 * - {@link jsonPieces} serialises a value holding such a manifest as the pieces of exactly
 *   `JSON.stringify` of it (UTF-8), the payouts' bytes spliced in and every long string escaped a
 *   slice at a time, so the file store encrypts and writes a slot in bounded steps;
 * - {@link transfersTextOf} hands the registry the transfers' JCS for the intent's body.
 *
 * @module
 */
import type { Manifest } from "../../core/types.ts";
import { slicesOf } from "../files/text_chunks.ts";

/** Strings longer than this (characters) are escaped a slice at a time by {@link jsonPieces}. */
export const JSON_BIG_STRING_CHARS = 1 << 20;
/** Largest piece {@link jsonPieces} yields from a long text (characters, ~2 MiB of UTF-8 here). */
export const JSON_PIECE_CHARS = 1 << 21;

interface Texts {
  payouts: Uint8Array;
  transfers: Uint8Array | undefined;
}
const textsOf = new WeakMap<object, Texts>();

/**
 * The manifest `light` (its `payouts` member present, any value) with its payouts as the UTF-8
 * of their JSON text, parsed on first read; `transfersJcs` is the UTF-8 of the JCS text of its
 * intent's `transfers` (contract §7), when it has one. Writing `payouts` replaces the text.
 */
export function manifestOfTexts(
  light: Manifest,
  payoutsJson: Uint8Array,
  transfersJcs?: Uint8Array,
): Manifest {
  const settle = (value: unknown) => {
    textsOf.delete(light);
    // Redefining an existing member keeps its place among the members (JSON order).
    Object.defineProperty(light, "payouts", {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  };
  Object.defineProperty(light, "payouts", {
    enumerable: true,
    configurable: true,
    get() {
      const payouts: unknown = JSON.parse(new TextDecoder().decode(payoutsJson));
      settle(payouts);
      return payouts;
    },
    set: settle,
  });
  textsOf.set(light, { payouts: payoutsJson, transfers: transfersJcs });
  return light;
}

/** The payouts' JSON (UTF-8) of a manifest made by {@link manifestOfTexts}, not yet parsed. */
export function payoutsUtf8Of(manifest: object): Uint8Array | undefined {
  return textsOf.get(manifest)?.payouts;
}

/** The JCS text of the intent's transfers of such a manifest, when the worker made it. */
export function transfersTextOf(manifest: object): string | undefined {
  const utf8 = textsOf.get(manifest)?.transfers;
  return utf8 === undefined ? undefined : new TextDecoder().decode(utf8);
}

/** A copy of `manifest` with `payouts: []`, made without reading its payouts. */
export function lightManifestOf(manifest: Manifest): Manifest {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(manifest)) {
    out[name] = name === "payouts" ? [] : (manifest as unknown as Record<string, unknown>)[name];
  }
  return out as unknown as Manifest;
}

/**
 * `JSON.stringify(value)` as pieces whose concatenation is exactly that text (a piece is text,
 * or bytes: UTF-8 of text), without parsing a payouts text nor escaping a long string in one
 * step: a manifest of {@link manifestOfTexts} gets its payouts' bytes spliced in, and a string
 * longer than {@link JSON_BIG_STRING_CHARS} is escaped a slice at a time (`JSON.stringify`
 * escapes each character, and each lone surrogate, on its own, and a slice never splits a
 * pair). Pieces are at most {@link JSON_PIECE_CHARS} characters or bytes long (+ escapes),
 * except the text around those parts (the value's other members).
 */
export function* jsonPieces(value: unknown): Generator<string | Uint8Array> {
  const token = `rw-piece-${crypto.randomUUID()}-`; // not in any value (random, 122 bits)
  const parts: ({ raw: true; bytes: Uint8Array } | { raw: false; text: string })[] = [];
  const text = JSON.stringify(value, (_name, v: unknown) => {
    if (typeof v === "string" && v.length > JSON_BIG_STRING_CHARS) {
      parts.push({ raw: false, text: v });
      return `${token}${parts.length - 1}`;
    }
    if (typeof v === "object" && v !== null) {
      const payouts = payoutsUtf8Of(v);
      if (payouts === undefined) return v;
      parts.push({ raw: true, bytes: payouts });
      return { ...lightManifestOf(v as Manifest), payouts: `${token}${parts.length - 1}` };
    }
    return v;
  });
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    const quoted = `"${token}${i}"`;
    const found = text.indexOf(quoted, at);
    if (found < 0) throw new Error("Cannot serialise the value: a piece's place was lost");
    yield text.slice(at, found);
    const part = parts[i]!;
    if (part.raw) {
      for (let b = 0; b < part.bytes.length; b += JSON_PIECE_CHARS) {
        yield part.bytes.subarray(b, b + JSON_PIECE_CHARS);
      }
    } else {
      yield '"';
      for (const slice of slicesOf(part.text, JSON_PIECE_CHARS)) {
        yield JSON.stringify(slice).slice(1, -1);
      }
      yield '"';
    }
    at = found + quoted.length;
  }
  yield text.slice(at);
}
