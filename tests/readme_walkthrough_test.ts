/**
 * A newcomer's path, checked against the README and a real service (`main.ts`, embedded
 * default, fresh data dir):
 *
 * - the start banner shows both sample epochs; the printed `curl` lines of the first work as
 *   pasted (compute answers a sealed run, the GET its envelope); the printed token carries the
 *   operator tenant's grant when OPERATOR_TENANT names its tenant;
 * - every ```` ```sh walkthrough ```` block of the README's "Run your own epoch" section runs, in
 *   order, with bash (the `export REWARDER=`, `DATA_DIR=` and `WORK=` lines the README tells the
 *   reader to set get this test's values), each step exits 0 and prints what the README says;
 *   then again with the CLI bundled for Node (`rewarder() { node dist/rewarder.mjs …; }`);
 * - restarted on the same data dir, the banner says the first sample is already committed and
 *   shows its GET (which works) instead of a compute.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { tokenInspect } from "../src/cli/token_commands.ts";
import { type Service, startService, waitFor } from "./support/service.ts";

const REPO = new URL("../", import.meta.url).pathname;
/** Longest the banner may take to appear after `listening`. */
const BANNER_MS_MAX = 30_000;
/** Longest one bash run of the walkthrough may take (about ten CLI runs). */
const SCRIPT_MS_MAX = 180_000;
/** The README section whose blocks are run. */
const SECTION = "## Run your own epoch";
/** The variables the README tells the reader to set, which the test sets to its own values. */
const SUBSTITUTED = ["REWARDER", "DATA_DIR", "WORK"] as const;

/** The ```sh walkthrough blocks of the README section, in order. */
function walkthroughBlocks(readme: string): string[] {
  const start = readme.indexOf(`\n${SECTION}\n`);
  assert.ok(start !== -1, `README has a "${SECTION}" section`);
  const end = readme.indexOf("\n## ", start + SECTION.length + 2);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/^```sh walkthrough\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** The blocks as one bash script, each step fenced by markers on stdout. */
function script(
  blocks: string[],
  values: Record<(typeof SUBSTITUTED)[number], string>,
  cli?: string,
): string {
  const seen = new Set<string>();
  const steps = blocks.map((block, i) => {
    let text = block;
    for (const name of SUBSTITUTED) {
      text = text.replace(new RegExp(`^export ${name}=.*$`, "m"), () => {
        seen.add(name);
        return `export ${name}='${values[name]}'`;
      });
    }
    if (cli !== undefined) {
      text = text.replace(/^rewarder\(\) \{.*$/m, () => {
        seen.add("rewarder()");
        return `rewarder() { ${cli} "$@"; }`;
      });
    }
    return `echo "@@step ${i}"\n${text}\necho "@@done ${i}"\n`;
  });
  for (const name of [...SUBSTITUTED, ...(cli === undefined ? [] : ["rewarder()"])]) {
    assert.ok(seen.has(name), `the walkthrough sets ${name} (the test substitutes it)`);
  }
  return `set -euo pipefail\n${steps.join("")}`;
}

/** Runs a bash script from the clone; the walkthrough's `deno` is this test's Deno. */
async function bash(text: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = Deno.env.toObject();
  for (const name of ["DATA_DIR", "IDEMPOTENCY_SALT", "TOKEN", "REWARDER", "WORK"]) {
    delete env[name];
  }
  env.PATH = `${dirname(Deno.execPath())}:${env.PATH ?? "/usr/bin:/bin"}`;
  env.NO_COLOR = "1";
  const out = await new Deno.Command("bash", {
    args: ["-c", text],
    cwd: REPO,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(SCRIPT_MS_MAX),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Each step's stdout, by index; a step that did not finish is missing. */
function stepOutputs(stdout: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of stdout.matchAll(/^@@step (\d+)\n([\s\S]*?)^@@done \1$/gm)) {
    out.set(Number(m[1]), m[2]!);
  }
  return out;
}

/** What each step must print, found by what the step runs. */
const EXPECT: [RegExp, RegExp[]][] = [
  [/\bcas-put\b/, [/^b3:[0-9a-f]{64}$/m]],
  [/\bpolicy-sign\b/, [/^b3:[0-9a-f]{64}$/m]],
  [/\/compute"/, [/"epoch_id":"my-epoch-1"/, /"status":"sealed"/]],
  [/proofs\/alice/, [/^\s*2048\s*$/m]],
  [/rewarder verify --envelope/, [/^valid b3:[0-9a-f]{64}$/m, /^valid alice 750$/m]],
  [/forged/, [/^refused: exit 1$/m]],
];

async function runWalkthrough(service: Service, label: string, cli?: string): Promise<void> {
  const blocks = walkthroughBlocks(await Deno.readTextFile(join(REPO, "README.md")));
  assert.equal(blocks.length, 7, "the walkthrough's seven blocks");
  const work = await Deno.makeTempDir({ prefix: "walkthrough_work_" });
  try {
    const r = await bash(
      script(blocks, { REWARDER: service.origin, DATA_DIR: service.dataDir, WORK: work }, cli),
    );
    const steps = stepOutputs(r.stdout);
    for (let i = 0; i < blocks.length; i++) {
      assert.ok(
        steps.has(i),
        `${label}: step ${i + 1} exits 0:\n${
          blocks[i]
        }\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`,
      );
    }
    assert.equal(r.code, 0, `${label}: the walkthrough exits 0:\n${r.stderr}`);
    for (const [which, patterns] of EXPECT) {
      const i = blocks.findIndex((b) => which.test(b));
      assert.ok(i !== -1, `${label}: a step runs ${which}`);
      for (const p of patterns) {
        assert.match(steps.get(i)!, p, `${label}: step ${i + 1} prints ${p}`);
      }
    }
    assert.doesNotMatch(r.stderr, /^error: |Uncaught|\bat file:/m, `${label}: no error on stderr`);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** The banner, once both sample epochs are in it. */
async function banner(service: Service): Promise<string> {
  const shown = await waitFor(
    () => Promise.resolve(/Sample epoch 2 of 2[\s\S]*Run your own epoch/.test(service.output())),
    BANNER_MS_MAX,
  );
  assert.ok(shown, `the banner shows both sample epochs:\n${service.output()}`);
  return service.output().slice(service.output().indexOf("Embedded default"));
}

/** The `TOKEN='…'` line and the commands (continuations joined) of sample `n`. */
function sampleCommands(text: string, n: number): { token: string; title: string; cmds: string[] } {
  const token = /^ {2}(TOKEN='[A-Za-z0-9_-]+')$/m.exec(text)?.[1];
  assert.ok(token, "the banner prints TOKEN='…'");
  const block = new RegExp(`^(Sample epoch ${n} of 2: [^\\n]*)\\n((?: {2}[^\\n]*\\n)+)`, "m")
    .exec(text);
  assert.ok(block, `the banner has sample epoch ${n}:\n${text}`);
  const cmds = block[2]!.replace(/ \\\n\s+/g, " ").trim().split("\n").map((l) => l.trim());
  return { token, title: block[1]!, cmds };
}

Deno.test("README walkthrough and start banner against a real service", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "svc_walkthrough_" });
  let service = await startService({ dataDir, transport: "tcp" });
  try {
    // The banner of a fresh data dir: both samples, each with a compute line.
    const first = await banner(service);
    const one = sampleCommands(first, 1);
    const two = sampleCommands(first, 2);
    assert.match(one.title, /interop-epoch-1/);
    assert.match(two.title, /apportion-1/);
    assert.match(two.cmds[0]!, /\/rewarder\/epochs\/apportion-1\/compute /);
    assert.equal(one.cmds.length, 2, "sample 1: a compute and a GET");
    assert.match(
      one.cmds[0]!,
      /^curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/rewarder\/epochs\/interop-epoch-1\/compute /,
    );
    // The operator tenant of this service is `dev` (tests/support/service.ts): its token may
    // quarantine too.
    const token = one.token.slice("TOKEN='".length, -1);
    assert.deepEqual(tokenInspect(token).scopes, [
      "rewarder.run",
      "rewarder.inspect",
      "rewarder.quarantine",
    ]);
    const computed = await bash(`${one.token}\n${one.cmds[0]}`);
    assert.equal(computed.code, 0, computed.stderr);
    const run = JSON.parse(computed.stdout);
    assert.equal(run.status, "sealed", computed.stdout);
    assert.equal(run.epoch_id, "interop-epoch-1");
    const fetched = await bash(`${one.token}\n${one.cmds[1]}`);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal(JSON.parse(fetched.stdout).manifest_hash, run.manifest_hash);

    // Every command of "Run your own epoch", with the Deno CLI, then with the Node bundle.
    await runWalkthrough(service, "deno");
    const bundleDir = await Deno.makeTempDir({ prefix: "walkthrough_bundle_" });
    try {
      const bundle = join(bundleDir, "rewarder.mjs");
      const made = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--quiet",
          "--platform",
          "deno",
          "--format",
          "esm",
          "-o",
          bundle,
          "src/cli/rewarder.ts",
        ],
        cwd: REPO,
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
      const node = await bash("command -v node");
      if (node.code !== 0) {
        if (Deno.env.get("CI") === "true") assert.fail("node is required in CI");
        console.warn("SKIP the walkthrough on the Node-bundled CLI: node is not installed");
      } else {
        await runWalkthrough(service, "node", `node ${bundle}`);
      }
    } finally {
      await Deno.remove(bundleDir, { recursive: true });
    }

    // A restart on the same data dir: sample 1 is committed, so the banner shows its GET.
    assert.equal(await service.stop(), 0, service.output());
    service = await startService({ dataDir, transport: "tcp" });
    const again = await banner(service);
    const oneAgain = sampleCommands(again, 1);
    assert.match(oneAgain.title, /already computed and committed/);
    assert.equal(oneAgain.cmds.length, 1, "only the GET");
    assert.doesNotMatch(oneAgain.cmds[0]!, /compute/);
    const twoAgain = sampleCommands(again, 2);
    assert.match(twoAgain.cmds[0]!, /\/apportion-1\/compute /, "sample 2 was never computed");
    const refetched = await bash(`${oneAgain.token}\n${oneAgain.cmds[0]}`);
    assert.equal(refetched.code, 0, refetched.stderr);
    assert.equal(JSON.parse(refetched.stdout).manifest_hash, run.manifest_hash);
  } finally {
    await service.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
