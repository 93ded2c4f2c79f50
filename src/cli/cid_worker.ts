/**
 * A one-shot thread for `rewarder compute`: says it is ready, hashes the inputs bytes it is sent (a
 * SharedArrayBuffer view, so nothing is copied) into their CID (contract §1) while the main
 * thread parses them, answers and closes itself.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { cidOf } from "../core/cid.ts";

self.onmessage = (event: MessageEvent<Uint8Array>) => {
  self.postMessage(cidOf(event.data));
  self.close();
};
// Deno drops messages that arrive before a worker's module (here: with the hash's top-level
// await) has run, so the parent sends the bytes only after this.
self.postMessage("ready");
