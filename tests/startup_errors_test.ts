/**
 * Start-up failures are one clean line naming the variable or resource, exit 78, and no stack
 * trace (docs/DEPLOY.md): a busy port, a Unix-socket directory that is not private.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freshDataDir } from "./support/service.ts";

const REPO = new URL("../", import.meta.url).pathname;
/** Longest wait for a refused start (it never gets to serve). */
const START_FAILURE_MS_MAX = 30_000;

async function startExpectingFailure(
  dataDir: string,
  env: Record<string, string>,
): Promise<{ code: number; stderr: string; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-no-legacy-abort", "main.ts"],
    cwd: REPO,
    env: { NO_COLOR: "1", DATA_DIR: dataDir, PATH: Deno.env.get("PATH") ?? "", ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(START_FAILURE_MS_MAX),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stderr: decode(out.stderr), stdout: decode(out.stdout) };
}

function assertOneCleanLine(stderr: string, mustName: RegExp): void {
  assert.doesNotMatch(stderr, /Uncaught|^\s+at |stack backtrace/im, stderr);
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line expected:\n${stderr}`);
  assert.match(lines[0]!, mustName);
}

Deno.test("a busy port: exit 78, one line naming BIND_ADDR, no stack trace", async () => {
  const dataDir = await freshDataDir("busy_port");
  const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (holder.addr as Deno.NetAddr).port;
    const r = await startExpectingFailure(dataDir, { BIND_ADDR: `127.0.0.1:${port}` });
    assert.equal(r.code, 78, r.stderr);
    assertOneCleanLine(r.stderr, /^startup error: Cannot listen on BIND_ADDR .*already in use$/);
  } finally {
    holder.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a Unix-socket directory with mode 0755: exit 78, one line, no stack trace", async () => {
  const dataDir = await freshDataDir("uds_mode");
  const dir = await Deno.makeTempDir({ prefix: "svc_uds_open_" });
  await Deno.chmod(dir, 0o755);
  try {
    const r = await startExpectingFailure(dataDir, {
      BIND_ADDR: `unix://${join(dir, "api.sock")}`,
    });
    assert.equal(r.code, 78, r.stderr);
    assertOneCleanLine(r.stderr, /^startup error: Cannot listen on BIND_ADDR unix:\/\//);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(dataDir, { recursive: true });
  }
});
