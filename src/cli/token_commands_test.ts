import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBase64Url } from "../core/base64url.ts";
import { runTokenCommand, type TokenCommandIo, tokenInspect, tokenMint } from "./token_commands.ts";
import { verifyToken } from "../shell/caps/verifier.ts";
import { decodeToken } from "../shell/caps/token_codec.ts";

const SECRET = new Uint8Array(32).fill(5);
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

async function withKeyFile(mode: number, fn: (path: string, dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), "caps-cli-"));
  try {
    const path = join(dir, "caps.json");
    await writeFile(
      path,
      JSON.stringify({ current_epoch: 2, epochs: { "2": toBase64Url(SECRET) }, revoked: [1] }),
    );
    await chmod(path, mode);
    await fn(path, dir);
  } finally {
    await rm(dir, { recursive: true });
  }
}

function io(stdin = "") {
  const out: string[] = [];
  const err: string[] = [];
  const value: TokenCommandIo = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readStdin: () => Promise.resolve(stdin),
    nowMs: () => NOW,
  };
  return { value, out, err };
}

const keys = { masterSecretFor: (e: number) => Promise.resolve(e === 2 ? SECRET : undefined) };
const req = {
  method: "POST",
  path: "/rewarder/epochs/e/compute",
  scope: "rewarder.run",
  peer: { transport: "tcp" as const, address: "10.0.0.1" },
  nowMs: NOW,
};

Deno.test("token-mint from a 0600 key file verifies; argv form; nonce random", async () => {
  await withKeyFile(0o600, async (path) => {
    const a = io();
    const code = await runTokenCommand("token-mint", [
      "--keys",
      path,
      "--tenant",
      "acme",
      "--scope",
      "rewarder.run,rewarder.inspect",
      "--ttl",
      "3600",
      "--max-runs",
      "3",
      "--ip",
      "10.0.0.0/8",
    ], a.value);
    assert.equal(code, 0, a.err.join(""));
    const token = a.out.join("").trim();
    const ctx = await verifyToken(token, req, keys);
    assert.equal(ctx.tenant, "acme");
    assert.equal(ctx.keyEpoch, 2);
    assert.equal(ctx.maxRuns[0]?.limit, 3);
    await assert.rejects(
      verifyToken(token, { ...req, nowMs: NOW + 3600_000 }, keys),
      /caveat_time/,
    );
    const again = await tokenMint({
      keyFilePath: path,
      tenant: "acme",
      scopes: ["rewarder.run"],
      ttlS: 60,
      nowMs: NOW,
    });
    assert.notEqual(tokenInspect(again).identifier, tokenInspect(token).identifier);
  });
});

Deno.test("token-mint refuses a group/world-readable key file, revoked epoch, secrets as args", async () => {
  await withKeyFile(0o644, async (path) => {
    await assert.rejects(
      tokenMint({
        keyFilePath: path,
        tenant: "acme",
        scopes: ["rewarder.run"],
        ttlS: 60,
        nowMs: NOW,
      }),
      /looser than 0600/,
    );
  });
  await withKeyFile(0o600, async (path) => {
    await assert.rejects(
      tokenMint({
        keyFilePath: path,
        tenant: "acme",
        scopes: ["rewarder.run"],
        ttlS: 60,
        nowMs: NOW,
        epoch: 1,
      }),
      /unknown or revoked/,
    );
    const a = io();
    assert.equal(
      await runTokenCommand("token-mint", [
        "--keys",
        path,
        "--tenant",
        "acme",
        "--scope",
        "rewarder.run",
        "--secret",
        "abc",
      ], a.value),
      2,
    );
    assert.match(a.err.join(""), /unknown argument/);
    assert.ok(!a.err.join("").includes("abc"));
  });
});

Deno.test("token-attenuate (stdin) narrows; token-inspect shows caveats, never the signature", async () => {
  await withKeyFile(0o600, async (path, dir) => {
    const token = await tokenMint({
      keyFilePath: path,
      tenant: "acme",
      scopes: ["rewarder.run"],
      ttlS: 60,
      nowMs: NOW,
      nonce: "cd".repeat(16),
    });
    const a = io(token + "\n");
    assert.equal(
      await runTokenCommand("token-attenuate", [
        "--token-file",
        "-",
        "--caveat",
        "method = GET",
        "--caveat",
        "epoch_id = e",
      ], a.value),
      0,
    );
    const narrowed = a.out.join("").trim();
    await assert.rejects(verifyToken(narrowed, req, keys), /caveat_method/);
    const bad = io(token);
    assert.equal(
      await runTokenCommand(
        "token-attenuate",
        ["--token-file", "-", "--caveat", "colour = blue"],
        bad.value,
      ),
      2,
    );
    const file = join(dir, "tok");
    await writeFile(file, narrowed);
    const b = io();
    assert.equal(await runTokenCommand("token-inspect", ["--token-file", file], b.value), 0);
    const shown = JSON.parse(b.out.join(""));
    assert.equal(shown.identifier, `v2:acme:2:rewarder.run:${"cd".repeat(16)}`);
    assert.equal(shown.tenant, "acme");
    assert.equal(shown.keyEpoch, 2);
    assert.deepEqual(shown.scopes, ["rewarder.run"]);
    assert.equal(shown.nonceHex, "cd".repeat(16));
    assert.deepEqual(shown.caveats, [
      "time < 2026-11-27T12:01:00Z",
      "method = GET",
      "epoch_id = e",
    ]);
    const sigB64 = toBase64Url(decodeToken(narrowed).signature);
    const sigHex = Array.from(
      decodeToken(narrowed).signature,
      (x) => x.toString(16).padStart(2, "0"),
    ).join("");
    assert.ok(!b.out.join("").includes(sigB64) && !b.out.join("").includes(sigHex));
  });
});

Deno.test("token-mint: v2 identifier with the grant; quarantine only for the operator tenant", async () => {
  await withKeyFile(0o600, async (path) => {
    const token = await tokenMint({
      keyFilePath: path,
      tenant: "acme",
      scopes: ["rewarder.inspect", "rewarder.run"],
      ttlS: 60,
      nowMs: NOW,
    });
    const shown = tokenInspect(token);
    assert.match(shown.identifier, /^v2:acme:2:rewarder\.inspect,rewarder\.run:[0-9a-f]{32}$/);
    const a = io();
    const args = ["--keys", path, "--tenant", "acme", "--scope", "rewarder.quarantine"];
    assert.equal(await runTokenCommand("token-mint", args, a.value), 2);
    assert.match(a.err.join(""), /operator tenant/);
    const b = io();
    assert.equal(
      await runTokenCommand("token-mint", [...args, "--operator-tenant", "acme"], b.value),
      0,
      b.err.join(""),
    );
    const op = b.out.join("").trim();
    assert.deepEqual(tokenInspect(op).scopes, ["rewarder.quarantine"]);
    const quarantine = { ...req, method: "PUT", path: "/rewarder/quarantine" };
    await assert.rejects(
      verifyToken(op, { ...quarantine, scope: "rewarder.quarantine" }, keys),
      /identifier/,
      "the service's default operator tenant is `operator`",
    );
    const ctx = await verifyToken(op, { ...quarantine, scope: "rewarder.quarantine" }, keys, {
      operatorTenant: "acme",
    });
    assert.deepEqual(ctx.scopes, ["rewarder.quarantine"]);
    const c = io();
    assert.equal(
      await runTokenCommand("token-mint", [
        "--keys",
        path,
        "--tenant",
        "acme",
        "--scope",
        "rewarder.run,rewarder.run",
      ], c.value),
      2,
    );
  });
});
