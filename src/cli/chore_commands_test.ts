import assert from "node:assert/strict";
import { join } from "node:path";
import { keygenCommand } from "./chore_commands.ts";
import { UsageError } from "./args.ts";
import type { CliIo } from "./args.ts";

function io(): CliIo & { err: string } {
  const out = { err: "", stdout: () => {}, env: () => undefined } as unknown as
    & CliIo
    & { err: string };
  out.stderr = (t: string) => (out.err += t);
  return out;
}

Deno.test("keygen refuses to overwrite a key file; --force replaces it and keeps a backup", async () => {
  const dir = await Deno.makeTempDir({ prefix: "keygen_" });
  try {
    const path = join(dir, "k.json");
    assert.equal(await keygenCommand(["--kid", "k1", "--out", path], io()), 0);
    const first = await Deno.readTextFile(path);

    await assert.rejects(
      () => keygenCommand(["--kid", "k1", "--out", path], io()),
      (e: unknown) => e instanceof UsageError && /already exists/.test(e.message),
    );
    assert.equal(await Deno.readTextFile(path), first, "a refused keygen leaves the key alone");

    const sink = io();
    assert.equal(await keygenCommand(["--kid", "k1", "--out", path, "--force"], sink), 0);
    assert.notEqual(await Deno.readTextFile(path), first, "--force writes a new key");
    assert.equal(await Deno.readTextFile(`${path}.bak-1`), first, "the old key is kept");
    assert.equal((await Deno.stat(`${path}.bak-1`)).mode! & 0o777, 0o600);
    assert.match(sink.err, /k\.json\.bak-1/);

    await keygenCommand(["--kid", "k1", "--out", path, "--force"], io());
    assert.ok((await Deno.stat(`${path}.bak-2`)).isFile, "a second --force takes the next name");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
