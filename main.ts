/**
 * svc-rewarder service entry: load and validate the configuration, build the components,
 * serve the app over TCP or a Unix socket, drain on SIGTERM/SIGINT, clamp rates on SIGHUP.
 *
 * `deno task start` with no configuration runs the embedded default (development keys, a
 * local content store preloaded with sample epochs, a local settlement journal) and prints a
 * ready-to-paste first request. `--production` (or PRODUCTION=on) refuses development keys.
 *
 * @module
 */
import process from "node:process";
import { readFile } from "node:fs/promises";
import { buildApp } from "./src/app.ts";
import { type Config, ConfigError, loadConfig } from "./src/shell/config.ts";
import { applyRateReload } from "./src/shell/config_reload.ts";
import { devToken, ensureDevMaterial } from "./src/shell/dev_bootstrap.ts";
import { listen } from "./src/shell/listen/listen.ts";
import { configureLogging, getLogger } from "./src/shell/log.ts";
import { buildServices, type KeyPaths, packageVersion } from "./src/shell/services.ts";

const HELP = `svc-rewarder — deterministic reward settlement service

Usage: deno task start [--production]

With no configuration it runs the embedded default under DATA_DIR (./.rewarder-data):
development keys, sample epochs in the local content store, a local settlement journal,
and it prints a first request with a short-lived development token.

Configuration comes from the environment only (secrets from files named there):
  BIND_ADDR (127.0.0.1:8090 | unix:///abs/path.sock)  DATA_DIR  STORE (file|memory|postgres)
  DATABASE_URL (STORE=postgres)  AMNESIA  CAPS_RELOAD_MS (caps key file reload, ≤ 60000)
  CAPS_KEYS_PATH  SIGNING_KEYS_DIR  GOV_KEYS_PATH  AT_REST_KEY_PATH  POLICY_DIR  INPUTS_SOURCE
  POLICY_SOURCE  LEDGER_URL  LEDGER_TOKEN_PATH  READ_ONLY  QUARANTINE_ONLY  REQUIRE_PQ_ON
  IDEMPOTENCY_SALT  MAX_INFLIGHT  MAX_RPS  RATE_BURST  TENANT_RPS_MAX  REQ_BODY_MAX
  DECOMP_RATIO_MAX  POST_INFLATE_MAX  REQUEST_TIMEOUT_MS  MAX_EPOCH_COST_MS  COST_CAP_ACTION
  MAX_RETRIES_LEDGER  RETENTION_DAYS  GOV_THRESHOLD  TLS_CERT_PATH  TLS_KEY_PATH  PRODUCTION
  CONFIG_RELOAD_PATH (KEY=VALUE file re-read on SIGHUP to clamp MAX_RPS/RATE_BURST/TENANT_RPS_MAX)
  EDGE_JWT_KEYS (gateway JWT keys: accept EdDSA/ES256 JWTs, converted to reduced-scope macaroons)
  LISTEN_ENGINE (native | node: on Deno, serve through node:http, which has header and body
    timeouts against slow clients; see docs/RUNTIMES.md)
`;

async function readEnvFile(path: string | undefined): Promise<Record<string, string>> {
  if (!path) return {};
  const out: Record<string, string> = {};
  for (const line of (await readFile(path, "utf8")).split("\n")) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

async function resolveKeyPaths(
  config: Config,
  env: Record<string, string | undefined>,
): Promise<
  {
    paths: KeyPaths;
    dev: boolean;
    samples: Awaited<ReturnType<typeof ensureDevMaterial>>["samples"];
  }
> {
  const given = config.capsKeysPath && config.signingKeysDir && config.govKeysPath;
  if (given) {
    return {
      paths: {
        capsKeysPath: config.capsKeysPath!,
        signingKeysDir: config.signingKeysDir!,
        govKeysPath: config.govKeysPath!,
        atRestKeyPath: env.AT_REST_KEY_PATH,
      },
      dev: false,
      samples: [],
    };
  }
  if (config.amnesia) {
    throw new ConfigError(
      "CAPS_KEYS_PATH",
      "Cannot start with AMNESIA=on without CAPS_KEYS_PATH, SIGNING_KEYS_DIR and GOV_KEYS_PATH: amnesia writes nothing, so development keys cannot be created",
    );
  }
  if (config.production) {
    throw new ConfigError(
      "CAPS_KEYS_PATH",
      "Cannot start in production without CAPS_KEYS_PATH, SIGNING_KEYS_DIR and GOV_KEYS_PATH: development keys are refused",
    );
  }
  const vectorsDir = new URL("./vectors/", import.meta.url).pathname;
  const { paths, samples } = await ensureDevMaterial(config.dataDir, vectorsDir);
  return {
    paths: { ...paths, atRestKeyPath: env.AT_REST_KEY_PATH ?? paths.atRestKeyPath },
    dev: true,
    samples,
  };
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  const unknown = args.filter((a) => a !== "--production");
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument; see --help\n`);
    return 2;
  }
  const env: Record<string, string | undefined> = { ...process.env };
  if (args.includes("--production")) env.PRODUCTION = "on";
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`config error: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  await configureLogging({ level: config.logLevel });
  const log = getLogger("main");
  let resolved;
  try {
    resolved = await resolveKeyPaths(config, env);
  } catch (err) {
    process.stderr.write(`startup error: ${err instanceof Error ? err.message : "unknown"}\n`);
    return 78;
  }
  const version = await packageVersion(new URL("./", import.meta.url));
  let built;
  try {
    built = await buildServices(config, resolved.paths, { version, env });
  } catch (err) {
    process.stderr.write(`startup error: ${err instanceof Error ? err.message : "unknown"}\n`);
    return 78;
  }
  const { app } = buildApp(built.services);
  let current = config;
  process.on("SIGHUP", () => {
    readEnvFile(env.CONFIG_RELOAD_PATH).then((overrides) => {
      const result = applyRateReload(current, { ...env, ...overrides }, built.services.limiter);
      current = result.config;
      log.info("config reloaded", { reason: `applied:${result.applied.join(",") || "none"}` });
    }).catch((err) => log.error("config reload refused", { reason: String(err?.message ?? err) }));
  });
  const engine = env.LISTEN_ENGINE ?? "native";
  if (engine !== "native" && engine !== "node") {
    process.stderr.write("config error: LISTEN_ENGINE must be native or node\n");
    return 78;
  }
  // main.ts owns the lifecycle (docs/DEPLOY.md "Stopping"): a signal starts the listener's
  // drain; once it has drained, every service is closed in reverse order of start (dispatcher
  // stopped, audit flushed, store closed, keys wiped) and only then does the process exit.
  const stopListener = new AbortController();
  let stopSignal: string | undefined;
  const onStopSignal = (name: "SIGTERM" | "SIGINT") => () => {
    if (stopSignal !== undefined) {
      log.warn("second signal during shutdown: exiting now", { signal: name });
      process.exit(130);
    }
    stopSignal = name;
    log.info("drain started", { signal: name });
    stopListener.abort();
  };
  process.on("SIGTERM", onStopSignal("SIGTERM"));
  process.on("SIGINT", onStopSignal("SIGINT"));
  let handle;
  try {
    handle = await listenOrExplain(app.fetch, {
      bindAddr: config.bindAddr,
      engine,
      signal: stopListener.signal,
      handleSignals: false,
      logger: getLogger("listen"),
      ...(config.tls ? { tls: config.tls } : {}),
      onListen: (addr) => {
        const where = addr.transport === "unix"
          ? `unix ${addr.path}`
          : `tcp ${addr.hostname}:${addr.port}`;
        process.stdout.write(`listening ${where}\n`);
        if (resolved.dev) {
          void printFirstRequest(resolved.paths.capsKeysPath, addr, resolved.samples);
        }
      },
    });
  } catch (err) {
    process.stderr.write(`startup error: ${err instanceof Error ? err.message : "unknown"}\n`);
    await built.close();
    return 78;
  }
  await handle.finished;
  log.info("drained", { signal: stopSignal ?? "none" });
  await built.close();
  log.info("stopped", { reason: "services closed" });
  return 0;
}

/**
 * `listen`, with every failure turned into one sentence that names the variable and the
 * resource (the listener's own errors, and the runtime's AddrInUse / PermissionDenied).
 */
async function listenOrExplain(
  fetch: Parameters<typeof listen>[0],
  options: Parameters<typeof listen>[1],
): ReturnType<typeof listen> {
  try {
    return await listen(fetch, options);
  } catch (err) {
    const name = err instanceof Error ? err.name : "";
    const code = (err as { code?: unknown })?.code;
    const where = `BIND_ADDR ${options.bindAddr}`;
    if (name === "AddrInUse" || code === "EADDRINUSE") {
      throw new Error(`Cannot listen on ${where}: the address is already in use`);
    }
    if (name === "PermissionDenied" || name === "NotCapable" || code === "EACCES") {
      throw new Error(`Cannot listen on ${where}: permission denied`);
    }
    if (name === "ListenError" && err instanceof Error) {
      throw new Error(`Cannot listen on ${where}: ${err.message}`);
    }
    throw new Error(`Cannot listen on ${where}: ${err instanceof Error ? err.message : err}`);
  }
}

async function printFirstRequest(
  capsKeysPath: string,
  addr: { transport: "tcp"; hostname: string; port: number } | { transport: "unix"; path: string },
  samples: { epochId: string; inputsCid: string; policyId: string; policyHash: string }[],
): Promise<void> {
  const token = await devToken(capsKeysPath, Date.now());
  const sample = samples[0]!;
  const target = addr.transport === "unix"
    ? `--unix-socket ${addr.path} http://localhost`
    : `http://${addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname}:${addr.port}`;
  const body = JSON.stringify({
    inputs_cid: sample.inputsCid,
    policy_id: sample.policyId,
    policy_hash: sample.policyHash,
  });
  process.stdout.write(`
Embedded default (development keys — never use in production). First epoch:

  TOKEN='${token}'
  curl -s -X POST ${target}/rewarder/epochs/${sample.epochId}/compute \\
    -H "Authorization: Macaroon $TOKEN" -H 'Content-Type: application/json' \\
    -d '${body}'
  curl -s ${target}/rewarder/epochs/${sample.epochId} -H "Authorization: Macaroon $TOKEN"

The token expires in one hour; restart to get a new one.
`);
}

// Exit explicitly: every resource this process started has been closed by now (or never
// opened), and a lingering handle of a library must not keep a stopped service alive.
process.exit(await main());
