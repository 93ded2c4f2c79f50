/**
 * The inputs sources decide sizes before bytes: the local store only stats (the engine worker
 * reads), an HTTP source's Content-Length is judged before its body and a body without one is
 * cut as soon as it passes the cap.
 */
import assert from "node:assert/strict";
import { RewarderError } from "../../core/errors.ts";
import { casPut } from "./cas.ts";
import { httpInputsSource, localInputsSource, SOURCE_RESPONSE_BYTES_MAX } from "./sources.ts";

const CID = "b3:" + "a".repeat(64);
const ctx = { tenant: "t", signal: new AbortController().signal };
const capError = () => new RewarderError("BAD_REQUEST", "cost_cap", { path: "inputs_cid" });

/** A body of `chunks` chunks of `size` bytes that counts how many were pulled. */
function countingBody(chunks: number, size: number) {
  const state = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled === chunks) return controller.close();
      state.pulled++;
      controller.enqueue(new Uint8Array(size));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { body, state };
}

function sourceAnswering(response: () => Response) {
  return httpInputsSource("http://inputs.invalid/", {
    attemptMs: 10_000,
    fetch: () => Promise.resolve(response()),
  });
}

Deno.test("http inputs source: a Content-Length over the source cap is refused before any body byte", async () => {
  const { body, state } = countingBody(4, 1024);
  const source = sourceAnswering(() =>
    new Response(body, { headers: { "content-length": String(SOURCE_RESPONSE_BYTES_MAX + 1) } })
  );
  await assert.rejects(
    source(CID, ctx),
    (err: RewarderError) => err.reason === "source_oversize",
  );
  assert.equal(state.pulled <= 1, true, `body chunks pulled: ${state.pulled}`);
});

Deno.test("http inputs source: the size is the Content-Length, known before the body is read", async () => {
  const { body, state } = countingBody(4, 1024);
  const object = await sourceAnswering(() =>
    new Response(body, { headers: { "content-length": "4096" } })
  )(CID, ctx);
  assert.equal(object.sizeBytes, 4096);
  assert.equal(state.pulled <= 1, true, "not read yet");
  await object.discard();
  assert.equal(state.cancelled, true, "a discarded body is cancelled");
});

Deno.test("http inputs source: without Content-Length the body is counted and cut at the caller's cap", async () => {
  const { body, state } = countingBody(100, 1024);
  const object = await sourceAnswering(() => new Response(body))(CID, ctx);
  assert.equal(object.sizeBytes, undefined);
  await assert.rejects(
    object.load(3 * 1024, capError),
    (err: RewarderError) => err.reason === "cost_cap",
  );
  assert.ok(state.pulled <= 5, `cut right after the cap: ${state.pulled} chunks pulled`);
  assert.equal(state.cancelled, true);
  const small = await sourceAnswering(() => new Response(countingBody(2, 10).body))(CID, ctx);
  const loaded = await small.load(3 * 1024, capError);
  assert.equal(loaded.kind === "bytes" && loaded.bytes.length, 20, "the bytes, unhashed here");
});

Deno.test("http inputs source: 404 is unknown_cid, other statuses source_status", async () => {
  await assert.rejects(
    sourceAnswering(() => new Response("no", { status: 404 }))(CID, ctx),
    (err: RewarderError) => err.reason === "unknown_cid",
  );
  await assert.rejects(
    sourceAnswering(() => new Response("no", { status: 500 }))(CID, ctx),
    (err: RewarderError) => err.reason === "source_status",
  );
});

Deno.test("local inputs source: the object's size from the store, its path for the worker; over the cap refused unread", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    const cid = await casPut(dataDir, new TextEncoder().encode("x".repeat(100)));
    const object = await localInputsSource(dataDir)(cid, ctx);
    assert.equal(object.sizeBytes, 100);
    const inputs = await object.load(1000, capError);
    assert.equal(inputs.kind, "file");
    assert.equal(inputs.kind === "file" && inputs.sizeBytes, 100);
    await assert.rejects(
      object.load(99, capError),
      (err: RewarderError) => err.reason === "cost_cap",
    );
    await assert.rejects(
      localInputsSource(dataDir)("b3:" + "0".repeat(64), ctx),
      (err: RewarderError) => err.reason === "unknown_cid",
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
