// A partial key configuration is honoured key by key (docs/KEYS.md, contract §12): with
// CAPS_KEYS_PATH alone the service used to start on development caps keys, so a token minted
// under the operator's key got 401. Now the given caps key is used, development material is
// generated only for the rest, and the start says so, one line per generated item.
import assert from "node:assert/strict";
import { join } from "node:path";
import { toBase64Url } from "../src/core/base64url.ts";
import { toHex } from "../src/core/merkle.ts";
import { mintToken } from "../src/shell/caps/mint.ts";
import { writeSecretFile } from "../src/shell/keys/key_files.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  re: RegExp,
): Promise<{ text: string; match: RegExpExecArray }> {
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before ${re}: ${text}`);
    text += value;
    const match = re.exec(text);
    if (match) return { text, match };
  }
}

Deno.test("CAPS_KEYS_PATH alone: tokens under it are accepted; signing and governance keys generated for development, said at start", async () => {
  const dir = await Deno.makeTempDir();
  const master = crypto.getRandomValues(new Uint8Array(32));
  const capsPath = join(dir, "operator-caps.json");
  await writeSecretFile(
    capsPath,
    new TextEncoder().encode(
      JSON.stringify({ current_epoch: 3, epochs: { "3": toBase64Url(master) }, revoked: [] }),
    ),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--unstable-no-legacy-abort", MAIN],
    env: {
      DATA_DIR: join(dir, "data"),
      BIND_ADDR: "127.0.0.1:0",
      CAPS_KEYS_PATH: capsPath,
      LOG_LEVEL: "error",
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const { text, match } = await readUntil(stdout, /listening tcp 127\.0\.0\.1:(\d+)\n/);
    const port = Number(match[1]);
    const lines = text.split("\n");
    const generated = lines.filter((l) => l.includes("generated for development"));
    assert.ok(generated.some((l) => /^SIGNING_KEYS_DIR unset: signing keys generated/.test(l)));
    assert.ok(generated.some((l) => /^GOV_KEYS_PATH unset: governance keys generated/.test(l)));
    assert.ok(generated.some((l) => /^AT_REST_KEY_PATH unset: at-rest key generated/.test(l)));
    assert.ok(!generated.some((l) => l.includes("CAPS_KEYS_PATH")), "the caps key was given");
    assert.doesNotMatch(text, /TOKEN=/, "no development token: the caps key is the operator's");

    const token = mintToken({
      masterSecret: master,
      tenant: "acme",
      keyEpoch: 3,
      scopes: ["rewarder.inspect"],
      nonceHex: toHex(crypto.getRandomValues(new Uint8Array(16))),
      caveats: [],
    });
    const ok = await fetch(`http://127.0.0.1:${port}/rewarder/runs`, {
      headers: { authorization: `Macaroon ${token}` },
    });
    assert.equal(ok.status, 200, await ok.text());

    // A token under a development-style key of the same shape is refused.
    const other = mintToken({
      masterSecret: crypto.getRandomValues(new Uint8Array(32)),
      tenant: "acme",
      keyEpoch: 3,
      scopes: ["rewarder.inspect"],
      nonceHex: toHex(crypto.getRandomValues(new Uint8Array(16))),
      caveats: [],
    });
    const refused = await fetch(`http://127.0.0.1:${port}/rewarder/runs`, {
      headers: { authorization: `Macaroon ${other}` },
    });
    await refused.body?.cancel();
    assert.equal(refused.status, 401);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await stdout.cancel();
    await child.stderr.cancel();
    await Deno.remove(dir, { recursive: true });
  }
});
