/**
 * stdout of the CLI: an ordered queue of awaited writes (src/cli/stdout_writer.ts), and a
 * whole `rewarder compute` process whose envelope (far larger than a pipe's buffer) is read
 * through a pipe: complete, byte for byte what the command prints in-process.
 */
import assert from "node:assert/strict";
import { GENERATED_POLICY, generateEpochInputs } from "../../vectors/generate_epoch.ts";
import { runCliCaptured } from "./main.ts";
import { queuedWriter, STDOUT_STEP_BYTES } from "./stdout_writer.ts";

Deno.test("queuedWriter: in order, steps of at most STDOUT_STEP_BYTES, each awaited", async () => {
  const seen: number[] = [];
  let pending = 0;
  let maxPending = 0;
  const w = queuedWriter(async (bytes) => {
    assert.ok(bytes.length <= STDOUT_STEP_BYTES);
    pending++;
    maxPending = Math.max(maxPending, pending);
    await Promise.resolve();
    for (const b of bytes) seen.push(b);
    pending--;
  });
  const big = new Uint8Array(2 * STDOUT_STEP_BYTES + 5).map((_, i) => i % 251);
  w.write(new Uint8Array([1, 2]));
  w.write(big);
  w.write(new Uint8Array([3]));
  await w.flush();
  assert.equal(maxPending, 1);
  assert.equal(seen.length, 2 + big.length + 1);
  assert.deepEqual(seen.slice(0, 2), [1, 2]);
  assert.equal(seen[seen.length - 1], 3);
  for (let i = 0; i < big.length; i += 4099) assert.equal(seen[2 + i], big[i]);
});

Deno.test("queuedWriter: the first write error rejects flush and later writes are dropped", async () => {
  const written: number[] = [];
  const w = queuedWriter((bytes) => {
    if (bytes[0] === 9) return Promise.reject(new Error("closed"));
    written.push(bytes[0]!);
    return Promise.resolve();
  });
  w.write(new Uint8Array([1]));
  w.write(new Uint8Array([9]));
  w.write(new Uint8Array([2]));
  await assert.rejects(w.flush(), /closed/);
  assert.deepEqual(written, [1]);
});

const REWARDER_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--deny-net",
  "--deny-run",
  "--deny-ffi",
];

async function epochFiles(recipients: number) {
  const dir = await Deno.makeTempDir({ prefix: "stdout-writer-" });
  const inputs = `${dir}/inputs.json`;
  await Deno.writeTextFile(inputs, generateEpochInputs("pipe-epoch", recipients));
  const policy = `${dir}/policy.json`;
  await Deno.writeTextFile(policy, JSON.stringify(GENERATED_POLICY));
  const key = `${dir}/signing.key.json`;
  await Deno.copyFile(new URL("../../vectors/keys/vector-signing.key.json", import.meta.url), key);
  await Deno.chmod(key, 0o600);
  const args = [
    "compute",
    "--epoch",
    "pipe-epoch",
    "--inputs",
    inputs,
    "--policy",
    policy,
    "--signing-key",
    key,
  ];
  return { dir, args };
}

function spawnRewarder(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...REWARDER_FLAGS, new URL("./rewarder.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("rewarder compute through a pipe: a ~2.5 MB envelope arrives whole", async () => {
  const { dir, args } = await epochFiles(50_000);
  try {
    const expected = await runCliCaptured(args);
    assert.equal(expected.code, 0);
    assert.ok(expected.stdout.length > 2 * 1024 * 1024, "larger than any pipe buffer");
    const child = spawnRewarder(args);
    // Read in small pieces, so the pipe is full most of the time and the writer must wait.
    const chunks: Uint8Array[] = [];
    for await (const chunk of child.stdout) chunks.push(chunk);
    const status = await child.status;
    await child.stderr.cancel();
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    assert.equal(status.code, 0);
    assert.equal(new TextDecoder().decode(bytes), expected.stdout);
    assert.ok(expected.stdout.endsWith("}\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rewarder compute into a pipe closed by its reader: not a success, one line", async () => {
  const { dir, args } = await epochFiles(50_000);
  try {
    const child = spawnRewarder(args);
    await child.stdout.cancel();
    const [status, stderr] = await Promise.all([
      child.status,
      new Response(child.stderr).text(),
    ]);
    assert.notEqual(status.code, 0);
    assert.match(stderr, /^error: stdout: /m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
