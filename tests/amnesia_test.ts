// AMNESIA=on runs without any filesystem write (contract §12): the service runs under Deno
// WITHOUT --allow-write (any write would throw NotCapable), computes, seals, emits to the
// in-memory journal and replays; the directory tree it reads is unchanged afterwards. A control
// run with the file store under the same permissions must fail, proving the sandbox bites.
//
//   deno test --allow-all tests/amnesia_test.ts
import assert from "node:assert/strict";
import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBase64Url } from "../src/core/base64url.ts";
import { writeSecretFile } from "../src/shell/keys/key_files.ts";
import {
  type Answer,
  CHILD_STOP_TIMEOUT_MS,
  createClient,
  expectedRunKey,
  sleep,
  startService,
} from "./support/crash_harness.ts";

/** Read-only permissions: no --allow-write, and never prompt. */
const NO_WRITE = ["--allow-read", "--allow-net", "--allow-env", "--allow-sys", "--no-prompt"];
/** Bound on the in-memory journal acknowledging the run, ms. */
const EMIT_WAIT_MS = 10_000;
/** Bound on one CLI invocation, ms. */
const CLI_TIMEOUT_MS = 30_000;
const ROOT = new URL("../", import.meta.url).pathname;
const WRITE_DENIED = /NotCapable|Requires write access|PermissionDenied/;

/** Runs `src/cli/rewarder.ts <args>` (the operator CLI); answers its stdout. */
async function cli(args: string[]): Promise<string> {
  const out = await new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", "src/cli/rewarder.ts", ...args],
    cwd: ROOT,
    stdin: "null",
    signal: AbortSignal.timeout(CLI_TIMEOUT_MS),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `rewarder ${args[0]} failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/** Every path under `dir` with its size and mtime (a write anywhere changes it). */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string, depth: number): Promise<void> {
    assert.ok(depth < 8, "fixture tree is shallow");
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      out[p] = `${st.isDirectory() ? "d" : "f"} ${st.size} ${st.mtimeMs} ${st.mode}`;
      if (st.isDirectory()) await walk(p, depth + 1);
    }
  }
  await walk(dir, 0);
  return out;
}

function ok(a: Answer, what: string): { status: number; text: string; json: unknown } {
  assert.equal(a.kind, "http", `${what}: ${JSON.stringify(a)}`);
  const h = a as Extract<Answer, { kind: "http" }>;
  assert.equal(h.status, 200, `${what}: ${h.text}`);
  return h;
}

/** Prepares keys (CLI keygen), caps and gov files, a signed policy and CAS inputs. */
async function prepare(dir: string) {
  const dataDir = join(dir, "data");
  const signingDir = join(dir, "signing");
  const policyDir = join(dir, "policies");
  await mkdir(signingDir, { mode: 0o700 });
  await mkdir(policyDir, { mode: 0o700 });
  const govKey = join(dir, "gov-key.json");
  await Promise.all([
    cli(["keygen", "--kid", "amnesia-1", "--out", join(signingDir, "amnesia-ed25519.json")]),
    cli(["keygen", "--kid", "gov-amnesia", "--out", govKey]),
  ]);
  const capsKeysPath = join(dir, "caps.json");
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  await writeSecretFile(
    capsKeysPath,
    new TextEncoder().encode(
      JSON.stringify({ current_epoch: 1, epochs: { "1": secret }, revoked: [] }),
    ),
  );
  const govPub = await cli(["gov-pubkey", "--key", govKey]);
  const govKeysPath = join(dir, "gov.json");
  await writeSecretFile(
    govKeysPath,
    new TextEncoder().encode(JSON.stringify({ threshold: 1, keys: { "gov-amnesia": govPub } })),
  );
  const policyFile = join(ROOT, "vectors", "cases", "equal-thirds-10", "policy.json");
  const envelope = JSON.parse(await cli(["policy-sign", "--policy", policyFile, "--key", govKey]));
  await writeFile(join(policyDir, "policy.json"), JSON.stringify(envelope), { mode: 0o600 });
  const epochId = "amnesia-1";
  const inputsFile = join(dir, "inputs.json");
  await writeFile(
    inputsFile,
    JSON.stringify({
      schema: "svc-rewarder.inputs.v1",
      epoch_id: epochId,
      asset: "roc",
      pool_minor: "1000",
      entries: [
        { account: "alice", metrics: { votes: "5" } },
        { account: "bob", metrics: { votes: "3" } },
      ],
    }),
  );
  const inputsCid = await cli(["cas-put", inputsFile, "--data-dir", dataDir]);
  return {
    env: {
      DATA_DIR: dataDir,
      CAPS_KEYS_PATH: capsKeysPath,
      SIGNING_KEYS_DIR: signingDir,
      GOV_KEYS_PATH: govKeysPath,
      POLICY_DIR: policyDir,
    },
    capsKeysPath,
    epochId,
    body: {
      inputs_cid: inputsCid,
      policy_id: String(envelope.policy.policy_id),
      policy_hash: String(envelope.policy_hash),
    },
  };
}

Deno.test({
  name: "amnesia: computes, emits and replays without --allow-write, writing nothing",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await mkdtemp(join(tmpdir(), "rw-amnesia-"));
    try {
      const p = await prepare(dir);
      const before = await tree(dir);
      const service = await startService({ ...p.env, AMNESIA: "on" }, NO_WRITE);
      try {
        const client = await createClient(service.url, p.capsKeysPath);
        const first = ok(await client.compute(p.epochId, p.body), "compute");
        const record = first.json as Record<string, unknown>;
        assert.equal(record.status, "sealed");
        assert.equal(record.replayed, false);
        assert.equal(
          record.run_key,
          expectedRunKey(p.epochId, p.body.policy_hash, p.body.inputs_cid),
        );
        // The in-memory journal acknowledges the intent (the dispatcher ran, wrote nothing).
        const deadline = Date.now() + EMIT_WAIT_MS;
        let emission = String(record.emission);
        while (emission === "pending" && Date.now() < deadline) {
          await sleep(100);
          const run = ok(await client.get(`/rewarder/runs/${record.run_key}`), "run");
          emission = String((run.json as { run: { emission: string } }).run.emission);
        }
        assert.equal(emission, "accepted");
        const replay = ok(await client.compute(p.epochId, p.body), "replay");
        assert.equal((replay.json as { replayed: boolean }).replayed, true);
        ok(await client.get(`/rewarder/epochs/${p.epochId}`), "epoch");
        assert.equal(service.child.exitedYet(), false, "still running");
      } finally {
        const status = await service.child.stop();
        const output = service.child.output();
        assert.doesNotMatch(output, WRITE_DENIED, `a write was attempted:\n${output}`);
        assert.equal(status.code, 0, `clean stop within ${CHILD_STOP_TIMEOUT_MS} ms:\n${output}`);
      }
      assert.deepEqual(await tree(dir), before, "nothing under the directories changed");

      // Control: the file store under the same permissions cannot even start.
      const atRestKeyPath = join(dir, "at-rest.key");
      await writeSecretFile(
        atRestKeyPath,
        new TextEncoder().encode(toBase64Url(crypto.getRandomValues(new Uint8Array(32)))),
      );
      const control = await startService(
        { ...p.env, STORE: "file", AT_REST_KEY_PATH: atRestKeyPath },
        NO_WRITE,
      ).then(
        async (s) => {
          await s.child.stop();
          return "started";
        },
        (err: Error) => err.message,
      );
      assert.match(control, WRITE_DENIED, "the sandbox must refuse a write");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
});
