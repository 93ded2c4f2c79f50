/**
 * A one-shot thread for `rewarder compute`: hashes the inputs bytes it is sent (a
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
