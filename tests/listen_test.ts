/**
 * End-to-end tests of the Deno listener over real sockets: peer info, Unix socket hygiene
 * (dir 0700, socket 0600, stale socket, refusals, removal) and the graceful drain.
 * Bun and Node listeners are driven over real sockets by tests/conformance/run_all.sh.
 */
import assert from "node:assert/strict";
import { serveDeno } from "../src/shell/listen/listen_deno.ts";
import { type FetchHandler, ListenError, type ListenHandle } from "../src/shell/listen/types.ts";

/** Upper bound on any wait in these tests. */
const WAIT_MS_MAX = 5_000;

const echoPeer: FetchHandler = (_req, env) => Response.json({ peer: env.peer });

function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "listen_test_" });
}

function modeOf(path: string): number {
  return (Deno.lstatSync(path).mode ?? 0) & 0o777;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function jsonUnix(path: string, url: string): Promise<unknown> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  try {
    const response = await fetch(`http://localhost${url}`, {
      client,
      signal: AbortSignal.timeout(WAIT_MS_MAX),
    });
    return await response.json();
  } finally {
    client.close();
  }
}

function serveQuiet(fetch: FetchHandler, bindAddr: string, extra = {}): Promise<ListenHandle> {
  return serveDeno(fetch, { bindAddr, handleSignals: false, ...extra });
}

Deno.test("TCP: the app sees the peer's loopback address", async () => {
  const handle = await serveQuiet(echoPeer, "127.0.0.1:0");
  try {
    assert.equal(handle.addr.transport, "tcp");
    const port = handle.addr.transport === "tcp" ? handle.addr.port : 0;
    assert.ok(port > 0);
    const response = await fetch(`http://127.0.0.1:${port}/`);
    assert.deepEqual(await response.json(), { peer: { transport: "tcp", address: "127.0.0.1" } });
  } finally {
    await handle.shutdown();
  }
});

Deno.test("UDS: dir 0700 created, socket 0600, no peer address, socket removed on shutdown", async () => {
  const root = tempDir();
  const sock = `${root}/new/sub/api.sock`;
  const handle = await serveQuiet(echoPeer, `unix://${sock}`);
  try {
    assert.deepEqual(handle.addr, { transport: "unix", path: sock });
    assert.equal(modeOf(`${root}/new/sub`), 0o700);
    assert.equal(modeOf(sock), 0o600);
    assert.ok(Deno.lstatSync(sock).isSocket);
    assert.deepEqual(await jsonUnix(sock, "/"), { peer: { transport: "unix" } });
  } finally {
    await handle.shutdown();
  }
  assert.equal(exists(sock), false);
  await handle.finished;
  Deno.removeSync(root, { recursive: true });
});

Deno.test("UDS: a stale socket left by a killed process is unlinked on start", async () => {
  const root = tempDir();
  const sock = `${root}/api.sock`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-config",
      `Deno.listen({transport:"unix",path:${
        JSON.stringify(sock)
      }});console.log("up");setInterval(()=>{},1000);`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = await reader.read(); // "up": bound
  reader.releaseLock();
  assert.match(
    new TextDecoder().decode(first.value ?? new Uint8Array()),
    /up/,
    "child bound its socket",
  );
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel();
  assert.ok(Deno.lstatSync(sock).isSocket, "killed process left its socket behind");
  const handle = await serveQuiet(echoPeer, `unix://${sock}`);
  try {
    assert.deepEqual(await jsonUnix(sock, "/"), { peer: { transport: "unix" } });
  } finally {
    await handle.shutdown();
  }
  Deno.removeSync(root, { recursive: true });
});

Deno.test("UDS: refuses a live socket, a non-socket file and a loose directory", async () => {
  const root = tempDir();
  const sock = `${root}/api.sock`;
  const live = await serveQuiet(echoPeer, `unix://${sock}`);
  try {
    await assert.rejects(serveQuiet(echoPeer, `unix://${sock}`), (error: unknown) => {
      return error instanceof ListenError && error.code === "socket_in_use";
    });
    assert.ok(Deno.lstatSync(sock).isSocket, "the live server's socket is untouched");
  } finally {
    await live.shutdown();
  }
  const file = `${root}/not-a-socket`;
  Deno.writeTextFileSync(file, "keep me");
  await assert.rejects(serveQuiet(echoPeer, `unix://${file}`), (error: unknown) => {
    return error instanceof ListenError && error.code === "socket_path_occupied";
  });
  assert.equal(Deno.readTextFileSync(file), "keep me");
  const loose = `${root}/loose`;
  Deno.mkdirSync(loose);
  Deno.chmodSync(loose, 0o755);
  await assert.rejects(serveQuiet(echoPeer, `unix://${loose}/api.sock`), (error: unknown) => {
    return error instanceof ListenError && error.code === "socket_dir_insecure";
  });
  assert.equal(exists(`${loose}/api.sock`), false);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("drain: shutdown waits for an in-flight request, then removes the socket", async () => {
  const root = tempDir();
  const sock = `${root}/api.sock`;
  let release = () => {};
  let entered = () => {};
  const inHandler = new Promise<void>((resolve) => (entered = resolve));
  const slow: FetchHandler = async () => {
    entered();
    await new Promise<void>((resolve) => (release = resolve));
    return new Response("done");
  };
  const handle = await serveQuiet(slow, `unix://${sock}`);
  const pending = jsonOrText(sock);
  await inHandler;
  let shutDown = false;
  const stopping = handle.shutdown().then(() => (shutDown = true));
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(shutDown, false, "shutdown must wait for the in-flight request");
  release();
  assert.equal(await pending, "done");
  await stopping;
  await handle.finished;
  assert.equal(exists(sock), false);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("drain: an AbortSignal starts the same shutdown", async () => {
  const controller = new AbortController();
  const handle = await serveQuiet(echoPeer, "127.0.0.1:0", { signal: controller.signal });
  controller.abort();
  await handle.finished;
  const port = handle.addr.transport === "tcp" ? handle.addr.port : 0;
  await assert.rejects(
    fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(WAIT_MS_MAX) }),
  );
});

Deno.test("drain: shutdown gives up after drainMsMax", async () => {
  let release = () => {};
  let entered = () => {};
  const inHandler = new Promise<void>((resolve) => (entered = resolve));
  const stuck: FetchHandler = async () => {
    entered();
    await new Promise<void>((resolve) => (release = resolve));
    return new Response("late");
  };
  const handle = await serveQuiet(stuck, "127.0.0.1:0", { limits: { drainMsMax: 150 } });
  const port = handle.addr.transport === "tcp" ? handle.addr.port : 0;
  const pending = fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => "cut");
  await inHandler;
  const started = performance.now();
  await handle.shutdown();
  const elapsedMs = performance.now() - started;
  assert.ok(elapsedMs >= 140 && elapsedMs < 2_000, `shutdown took ${elapsedMs} ms`);
  release(); // let Deno finish the abandoned request so the test leaks nothing
  await pending;
  await handle.finished;
});

async function jsonOrText(sock: string): Promise<string> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: sock } });
  try {
    const response = await fetch("http://localhost/slow", {
      client,
      signal: AbortSignal.timeout(WAIT_MS_MAX),
    });
    return await response.text();
  } finally {
    client.close();
  }
}
