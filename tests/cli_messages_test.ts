/**
 * The `rewarder` CLI speaks to a newcomer: `rewarder --help` lists every command, each
 * command's `--help` names all its options and the files it reads or writes, and every
 * failure is one line `error: <file or option>: <what>` with exit 2 — never a stack trace,
 * never a bare `ENOENT (file system)`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCliCaptured } from "../src/cli/main.ts";

/** Every command and the options it accepts (written here, independently of the CLI table). */
const EXPECTED: Readonly<Record<string, readonly string[]>> = {
  compute: ["--epoch", "--inputs", "--policy", "--signing-key", "--pq-key"],
  verify: ["--envelope", "--keys", "--inputs", "--policy", "--require-pq"],
  "verify-proof": ["--proof", "--keys", "--require-pq"],
  diff: [
    "--envelope",
    "--envelope-b",
    "--keys",
    "--inputs",
    "--policy",
    "--policy-b",
    "--epoch",
    "--inputs-b",
    "--format",
    "--limit",
    "--include-unchanged",
  ],
  keygen: ["--kid", "--out", "--alg", "--force"],
  "policy-sign": ["--policy", "--key"],
  "gov-pubkey": ["--key"],
  "cas-put": ["<file>", "--data-dir"],
  "token-mint": [
    "--keys",
    "--tenant",
    "--scope",
    "--operator-tenant",
    "--ttl",
    "--epoch",
    "--ip",
    "--max-runs",
  ],
  "token-attenuate": ["--token-file", "--caveat"],
  "token-inspect": ["--token-file"],
  "audit-verify": ["--file", "--expect-head", "--expect-lines"],
  "key-rotate": ["--dir", "--kid", "--alg", "--overlap-s"],
  "key-status": ["--dir", "--kid", "--status"],
  publish: ["--out", "--data-dir", "--at-rest-key", "--signing-keys"],
  "rotate-at-rest-key": ["--data-dir", "--old-key", "--new-key"],
};

/** One line on stderr, `error: …`, no stack frame, no bare errno. */
function assertOneErrorLine(stderr: string, pattern: RegExp, what: string): void {
  assert.match(
    stderr,
    /^error: [^\n]+\n$/,
    `${what}: one error line, got ${JSON.stringify(stderr)}`,
  );
  assert.match(stderr, pattern, what);
  assert.doesNotMatch(stderr, /\bat .*\.ts:\d+|file system|ENOENT|Uncaught/, what);
}

Deno.test("rewarder --help lists every command; no argument prints it and exits 2", async () => {
  const help = await runCliCaptured(["--help"]);
  assert.equal(help.code, 0);
  for (const name of Object.keys(EXPECTED)) {
    assert.match(help.stdout, new RegExp(`^  ${name} +\\S`, "m"), `${name} is listed`);
  }
  const bare = await runCliCaptured([]);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /Commands:/);
  const unknown = await runCliCaptured(["compoot"]);
  assert.equal(unknown.code, 2);
  assertOneErrorLine(unknown.stderr, /"compoot": unknown command/, "unknown command");
});

for (const [name, options] of Object.entries(EXPECTED)) {
  Deno.test(`rewarder ${name} --help names its options and files`, async () => {
    const out = await runCliCaptured([name, "--help"]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stderr, "");
    assert.match(out.stdout, new RegExp(`^usage: rewarder ${name} `), "a usage line");
    for (const option of options) {
      const listed = new RegExp(`^  ${option}(?= ).*\\S`, "m");
      assert.match(out.stdout, listed, `${name} --help explains ${option}`);
    }
    const files = out.stdout.split("\nFiles:\n")[1] ?? "";
    assert.match(files, /\b(reads|writes|rewrites)\b/, `${name} --help says what it reads/writes`);
    assert.match(out.stdout, /^Exit: .*\b0\b.*\b2\b/m, `${name} --help gives its exit codes`);
    assert.equal((await runCliCaptured(["help", name])).stdout, out.stdout, "help <command>");
  });
}

Deno.test("a missing file is one line naming it, for every command that reads one", async () => {
  const nope = "/nope-h10/missing.json";
  const cases: [string, string[]][] = [
    ["compute", ["compute", "--epoch", "e", "--inputs", nope, "--policy", nope]],
    ["verify", ["verify", "--envelope", nope, "--keys", nope]],
    ["verify-proof", ["verify-proof", "--proof", nope, "--keys", nope]],
    ["diff", ["diff", "--envelope", nope, "--envelope-b", nope]],
    ["policy-sign", ["policy-sign", "--policy", nope, "--key", nope]],
    ["gov-pubkey", ["gov-pubkey", "--key", nope]],
    ["cas-put", ["cas-put", nope]],
    ["token-mint", ["token-mint", "--keys", nope, "--tenant", "t", "--scope", "rewarder.run"]],
    ["token-inspect", ["token-inspect", "--token-file", nope]],
    ["token-attenuate", ["token-attenuate", "--token-file", nope, "--caveat", "method = GET"]],
    ["audit-verify", ["audit-verify", "--file", nope]],
    ["rotate-at-rest-key", ["rotate-at-rest-key", "--old-key", nope, "--new-key", nope]],
    ["publish", ["publish", "--out", "/tmp", "--at-rest-key", nope]],
  ];
  for (const [name, argv] of cases) {
    const out = await runCliCaptured(argv);
    assert.equal(out.code, 2, `${name}: exit 2`);
    assertOneErrorLine(out.stderr, /^error: \/nope-h10\/missing\.json: no such file\b/, name);
  }
});

Deno.test("bad command lines and bad files: one line naming the option or the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_messages_" });
  try {
    const loose = join(dir, "caps.json");
    await Deno.writeTextFile(loose, '{"current_epoch":1,"epochs":{},"revoked":[]}\n');
    await Deno.chmod(loose, 0o644);
    const notJson = join(dir, "not.json");
    await Deno.writeTextFile(notJson, "{nope");
    const cases: [string[], RegExp][] = [
      [["compute", "--epoch", "e"], /^error: --inputs: is required/],
      [["compute", "--bogus"], /^error: --bogus: unknown argument/],
      [["verify", "--envelope"], /^error: --envelope: needs a value/],
      [["verify", "--keys", "a", "--keys", "b"], /^error: --keys: given twice/],
      [["verify", "--envelope", dir, "--keys", dir], /: is a directory/],
      [["cas-put"], /^error: cas-put: takes <file>/],
      [["keygen", "--kid", "k", "--out", join(dir, "k"), "--alg", "rsa"], /^error: --alg: /],
      [["key-status", "--dir", dir, "--kid", "k", "--status", "gone"], /^error: --status: /],
      [
        ["token-mint", "--keys", loose, "--tenant", "t", "--scope", "rewarder.run"],
        new RegExp(`^error: ${loose}: .*mode 644`),
      ],
      [
        ["token-mint", "--keys", loose, "--tenant", "t", "--scope", "rewarder.run", "--ttl", "x"],
        /^error: --ttl: /,
      ],
      [["verify", "--envelope", notJson, "--keys", notJson], new RegExp(`^error: ${notJson}: `)],
      [["policy-sign", "--policy", notJson, "--key", notJson], new RegExp(`^error: ${notJson}: `)],
      [["audit-verify", "--file", notJson, "--expect-lines", "x"], /^error: --expect-lines: /],
    ];
    for (const [argv, pattern] of cases) {
      const out = await runCliCaptured(argv);
      assert.equal(out.code, 2, `${argv.join(" ")}: exit 2 (${out.stderr})`);
      assertOneErrorLine(out.stderr, pattern, argv.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
