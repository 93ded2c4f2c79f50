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
 * @module
 */
import type { EngineAnswer, EngineFailure } from "./engine_worker.ts";

/** A successful answer as posted: the output as JSON text. */
export interface EngineWireSuccess {
  id: number;
  ok: true;
  json: string;
}

/** What crosses the worker boundary: {@link EngineWireSuccess} or a failure. */
export type EngineWireAnswer = EngineWireSuccess | EngineFailure;

/** The worker's side: the answer as posted. */
export function toWire(answer: EngineAnswer): EngineWireAnswer {
  if (!answer.ok) return answer;
  return { id: answer.id, ok: true, json: JSON.stringify(answer.value) };
}

/** The pool's side: the posted answer back as the worker computed it. */
export function fromWire(answer: EngineWireAnswer | EngineAnswer): EngineAnswer {
  if (!answer.ok || !("json" in answer)) return answer;
  return { id: answer.id, ok: true, value: JSON.parse(answer.json) };
}
