/**
 * What crosses the engine worker boundary (engine_worker.ts → engine_thread.ts).
 *
 * A successful answer is posted as JSON text. A structured clone of a manifest of 10k payouts
 * (tens of thousands of small objects) costs the request loop 10–20 ms to deserialise; the
 * same output as one string crosses as a copy of its bytes and `JSON.parse` rebuilds it in a
 * few milliseconds (measured on this 2-core machine: round trip ~20 ms → 3–11 ms). The output
 * holds JSON values only (strings, safe integers, booleans, null, arrays, plain objects), so
 * the text gives it back as it was (engine_wire_test.ts).
 *
 * The manifest's payouts cross as the UTF-8 of their JSON text, and a sealed v2 manifest's
 * intent transfers (contract §7) as the UTF-8 of their JCS text, made here in the worker and
 * moved, not copied ({@link transferablesOf}): the request loop keeps both as they came
 * (src/shell/store/manifest_texts.ts) and never parses nor re-serialises a million payouts;
 * the payouts are parsed only if something reads them.
 *
 * @module
 */
import type { EngineAnswer, EngineFailure } from "./engine_worker.ts";
import type { Manifest } from "../../core/types.ts";
import { intentOf } from "../../core/intent.ts";
import { canonicalJson, hasLoneSurrogate } from "../../core/canonical_json.ts";
import { MANIFEST_SCHEMA_V2 } from "../../core/manifest.ts";
import { manifestOfTexts } from "../store/manifest_texts.ts";

/** A successful answer as posted: the output as JSON text, its manifest's payouts apart. */
export interface EngineWireSuccess {
  id: number;
  ok: true;
  /** The output, its manifest's `payouts` as `[]` (in place, so the members keep their order). */
  json: string;
  /** UTF-8 of `JSON.stringify(manifest.payouts)`. */
  payoutsJson?: Uint8Array;
  /** UTF-8 of the JCS of the intent's `transfers` (contract §7), for a sealed v2 manifest. */
  transfersJcs?: Uint8Array;
}

/** The buffers a posted answer moves to the receiver instead of copying them. */
export function transferablesOf(answer: EngineWireAnswer): ArrayBuffer[] {
  if (!answer.ok) return [];
  const out: ArrayBuffer[] = [];
  for (const bytes of [answer.payoutsJson, answer.transfersJcs]) {
    // Only a buffer the bytes own whole (a view into a shared pool would take the pool along).
    if (
      bytes !== undefined && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ) {
      out.push(bytes.buffer as ArrayBuffer);
    }
  }
  return out;
}

const encoder = new TextEncoder();

/** What crosses the worker boundary: {@link EngineWireSuccess} or a failure. */
export type EngineWireAnswer = EngineWireSuccess | EngineFailure;

/** The worker's side: the answer as posted. */
export function toWire(answer: EngineAnswer): EngineWireAnswer {
  if (!answer.ok) return answer;
  const { manifest } = answer.value;
  const transfersJcs = transfersJcsOf(manifest);
  return {
    id: answer.id,
    ok: true,
    json: JSON.stringify({ ...answer.value, manifest: { ...manifest, payouts: [] } }),
    payoutsJson: encoder.encode(JSON.stringify(manifest.payouts)),
    ...(transfersJcs === undefined ? {} : { transfersJcs: encoder.encode(transfersJcs) }),
  };
}

/** The pool's side: the posted answer back as the worker computed it. */
export function fromWire(answer: EngineWireAnswer | EngineAnswer): EngineAnswer {
  if (!answer.ok || !("json" in answer)) return answer;
  const value = JSON.parse(answer.json);
  if (answer.payoutsJson !== undefined) {
    value.manifest = manifestOfTexts(value.manifest, answer.payoutsJson, answer.transfersJcs);
  }
  return { id: answer.id, ok: true, value };
}

/**
 * JCS of the `transfers` of the intent of a sealed v2 manifest (contract §7: the payouts, then
 * the fee), as the registry's intent body holds them: each plain `{to, amount_minor}` written
 * as JCS writes it (members sorted, strings as `JSON.stringify` escapes them), else
 * `canonicalJson` of them all. Undefined when the manifest has no intent, or when its
 * transfers have no JCS (a lone surrogate): the registry then builds the intent from the
 * payouts and meets the same refusal.
 */
export function transfersJcsOf(manifest: Manifest): string | undefined {
  if (manifest.schema !== MANIFEST_SCHEMA_V2 || manifest.status !== "sealed") return undefined;
  const envelope = { manifest, manifest_hash: "", signatures: [] };
  const { transfers } = intentOf(envelope, { tenant: "", intentKey: "" });
  const parts = new Array<string>(transfers.length);
  for (let i = 0; i < transfers.length; i++) {
    const { to, amount_minor: amount } = transfers[i]!;
    if (hasLoneSurrogate(to) || hasLoneSurrogate(amount)) return jcsOrUndefined(transfers);
    parts[i] = `{"amount_minor":${JSON.stringify(amount)},"to":${JSON.stringify(to)}}`;
  }
  return `[${parts.join(",")}]`;
}

function jcsOrUndefined(value: unknown): string | undefined {
  try {
    return canonicalJson(value);
  } catch {
    return undefined;
  }
}
