// One configuration table (src/shell/config/config.ts): no module of the service reads the
// environment except the config module, `--help` lists every variable of the table with its
// default, and start-up refusals are one line (exit 78) with no stack trace.
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { CONFIG_NAMES, CONFIG_TABLE, loadConfig } from "../src/shell/config/config.ts";
import { BODY_BYTES_MAX_LIMIT } from "../src/shell/admission/limits.ts";
import { bodyCap } from "../middleware/body_cap.ts";
import { decompress } from "../middleware/decompress.ts";
import { timeout } from "../middleware/timeout.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** Reads of the process environment, in any runtime's spelling. */
const ENV_READ = [
  /\bprocess\.env\b/,
  /\bDeno\.env\b/,
  /\bBun\.env\b/,
  /\bimport\.meta\.env\b/,
  /\benv\.[A-Z][A-Z0-9_]+\b/,
  /\benv\[\s*["'`][A-Z]/,
  /\bgetenv\b/,
];

/** Files allowed to read it: the config module; the CLI (its own documented variables,
 * src/cli/README or --help); tests (test support lives under tests/, which is not scanned). */
function allowed(rel: string): boolean {
  return rel === "src/shell/config/config.ts" ||
    rel.startsWith("src/cli/") ||
    /_test\.ts$/.test(rel);
}

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...await sources(rel));
    else if (/\.(ts|tsx|js|mjs)$/.test(entry.name)) out.push(rel);
  }
  return out;
}

Deno.test("no module outside the config reads the environment", async () => {
  const files = [
    "main.ts",
    ...await sources("src"),
    ...await sources("middleware"),
    ...await sources("routes"),
  ];
  assert.ok(files.length > 50, "the walk found the sources");
  const offenders: string[] = [];
  for (const rel of files.filter((f) => !allowed(f))) {
    const lines = (await readFile(join(ROOT, rel), "utf8")).split("\n");
    lines.forEach((line, i) => {
      const code = line.trim();
      if (code.startsWith("*") || code.startsWith("//") || code.startsWith("/*")) return;
      if (ENV_READ.some((re) => re.test(code))) offenders.push(`${rel}:${i + 1}: ${code}`);
    });
  }
  assert.deepEqual(offenders, [], "read the variable through CONFIG_TABLE instead");
});

function startArgs(...args: string[]): string[] {
  return [
    "run",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    "--allow-env",
    "--allow-sys",
    "--unstable-no-legacy-abort",
    join(ROOT, "main.ts"),
    ...args,
  ];
}

async function start(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: startArgs(...args),
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("--help lists every variable of the table with its default and meaning", async () => {
  const { code, stdout } = await start({}, "--help");
  assert.equal(code, 0);
  for (const name of CONFIG_NAMES) {
    const v = CONFIG_TABLE[name];
    assert.ok(stdout.includes(`  ${name}  [${v.dflt}]`), `${name} and its default in --help`);
    assert.ok(stdout.includes(v.meaning), `${name}'s meaning in --help`);
  }
});

Deno.test("an unknown argument is refused, naming it", async () => {
  const r = await start({}, "--prodution");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown argument "--prodution"/);
});

async function assertConfigRefusal(env: Record<string, string>, variable: string) {
  const dataDir = await Deno.makeTempDir();
  try {
    const r = await start({ DATA_DIR: dataDir, BIND_ADDR: "127.0.0.1:0", ...env });
    assert.equal(r.code, 78, r.stderr);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0]!, new RegExp(variable));
    assert.doesNotMatch(r.stderr, /\bat \S+:\d+|Uncaught|RangeError/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("REQ_BODY_MAX between 8 and 64 MiB: one line, exit 78 (was a wiring stack trace)", async () => {
  await assertConfigRefusal({ REQ_BODY_MAX: String(16 << 20) }, "REQ_BODY_MAX");
});

Deno.test("DOWNSTREAM_TLS=required with an http:// LEDGER_URL: one line, exit 78", async () => {
  await assertConfigRefusal(
    { DOWNSTREAM_TLS: "required", LEDGER_URL: "http://127.0.0.1:9" },
    "LEDGER_URL",
  );
  await assertConfigRefusal(
    { DOWNSTREAM_TLS: "mtls", LEDGER_URL: "https://127.0.0.1:9" },
    "DOWNSTREAM_CERT_PATH",
  );
});

Deno.test("CLIENT_CA_PATH on Deno.serve: one line, exit 78, naming the alternative", async () => {
  await assertConfigRefusal(
    {
      TLS_CERT_PATH: "/nonexistent/c.pem",
      TLS_KEY_PATH: "/nonexistent/k.pem",
      CLIENT_CA_PATH: "/x",
      LISTEN_ENGINE: "native",
    },
    "CLIENT_CA_PATH",
  );
});

Deno.test("PUBLISH_DIR with AMNESIA=on (amnesia writes nothing): one line, exit 78", async () => {
  await assertConfigRefusal({ PUBLISH_DIR: "/tmp/publish", AMNESIA: "on" }, "PUBLISH_DIR");
});

Deno.test("a partial key configuration in production names everything missing: exit 78", async () => {
  await assertConfigRefusal(
    { PRODUCTION: "on", CAPS_KEYS_PATH: "/k/caps.json" },
    "SIGNING_KEYS_DIR, GOV_KEYS_PATH, AT_REST_KEY_PATH",
  );
});

Deno.test("a key file that is missing, of the wrong kind or too open: one line naming the variable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertConfigRefusal({ CAPS_KEYS_PATH: join(dir, "missing.json") }, "CAPS_KEYS_PATH");
    await assertConfigRefusal({ SIGNING_KEYS_DIR: join(ROOT, "main.ts") }, "SIGNING_KEYS_DIR");
    const loose = join(dir, "client.key");
    await Deno.writeTextFile(loose, "-----BEGIN PRIVATE KEY-----\n", { mode: 0o644 });
    await Deno.chmod(loose, 0o644);
    await assertConfigRefusal({
      DOWNSTREAM_TLS: "mtls",
      LEDGER_URL: "https://127.0.0.1:9",
      DOWNSTREAM_CERT_PATH: join(ROOT, "main.ts"),
      DOWNSTREAM_KEY_PATH: loose,
    }, "DOWNSTREAM_KEY_PATH .* looser than 0600");
    await assertConfigRefusal(
      { TLS_CERT_PATH: join(dir, "c.pem"), TLS_KEY_PATH: join(dir, "k.pem") },
      "TLS_CERT_PATH",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every value the table accepts at its bounds is accepted by the middleware it is wired into", () => {
  // Was: REQ_BODY_MAX of 8..64 MiB passed the table and bodyCap threw a RangeError at wiring.
  const c = loadConfig({
    REQ_BODY_MAX: String(BODY_BYTES_MAX_LIMIT),
    POST_INFLATE_MAX: String(64 << 20),
    DECOMP_RATIO_MAX: "1000",
    REQUEST_TIMEOUT_MS: "600000",
    MAX_EPOCH_COST_MS: "600000",
  });
  bodyCap({ bodyBytesMax: c.reqBodyBytesMax, readTimeoutMs: c.requestTimeoutMs });
  decompress({
    bodyBytesMax: c.reqBodyBytesMax,
    inflatedBytesMax: c.postInflateBytesMax,
    ratioMax: c.decompRatioMax,
  });
  timeout({ timeoutMs: c.requestTimeoutMs });
});
