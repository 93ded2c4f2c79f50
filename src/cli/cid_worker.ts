/**
 * A one-shot thread for `rewarder compute`: hashes the inputs bytes it is sent (a
 * SharedArrayBuffer view, so nothing is copied) into their CID (contract §1) while the main
 * thread parses them, answers and closes itself.
 *
 * The listener is set before anything is imported: Deno drops a message that arrives while a
 * worker's module graph is still evaluating a top-level await (the hash's WebAssembly set-up
 * has one), so the hash is imported inside the handler.
 *
 * @module
 */
/// <reference lib="deno.worker" />

self.onmessage = async (event: MessageEvent<Uint8Array>) => {
  const { cidOf } = await import("../core/cid.ts");
  self.postMessage(cidOf(event.data));
  self.close();
};
