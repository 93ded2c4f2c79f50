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
import { buildApp } from "./src/app.ts";
import {
  checkConfigFiles,
  type Config,
  ConfigError,
  configHelp,
  loadConfig,
  processEnv,
} from "./src/shell/config/config.ts";
import { applyRateReload, readReloadFile } from "./src/shell/config/config_reload.ts";
import { DEV_TENANT, devToken, resolveKeyMaterial } from "./src/shell/keys/dev_bootstrap.ts";
import { listen } from "./src/shell/listen/listen.ts";
import { LISTENER_BODY_BYTES_MAX } from "./src/shell/listen/limits.ts";
import { configureLogging, getLogger } from "./src/shell/observe/log.ts";
import { buildServices, packageVersion } from "./src/shell/services.ts";

const HELP = `svc-rewarder — deterministic reward settlement service

Usage: deno task start [--production] | --help

With no configuration it runs the embedded default under DATA_DIR (./.rewarder-data):
development keys, sample epochs in the local content store, a local settlement journal,
and it prints a first request with a short-lived development token. Any key path that is
set is used as given; development material is made only for the others (said at start).
--production (or PRODUCTION=on) refuses development keys.

Configuration comes from the environment only (secrets from files named there); a bad
value or relation stops the start with one line naming the variable (exit 78).
Variables [default] accepted values, then meaning:
${configHelp()}`;

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  const unknown = args.filter((a) => a !== "--production");
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument ${JSON.stringify(unknown[0])}; see --help\n`);
    return 2;
  }
  const env = { ...processEnv(), ...(args.includes("--production") ? { PRODUCTION: "on" } : {}) };
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
  try {
    await checkConfigFiles(env);
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
    resolved = await resolveKeyMaterial(
      config,
      new URL("./vectors/", import.meta.url).pathname,
    );
  } catch (err) {
    process.stderr.write(`startup error: ${err instanceof Error ? err.message : "unknown"}\n`);
    return 78;
  }
  for (const notice of resolved.notices) process.stdout.write(`${notice}\n`);
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
    readReloadFile(config.configReloadPath).then((overrides) => {
      const result = applyRateReload(current, { ...env, ...overrides }, built.services.limiter);
      current = result.config;
      log.info("config reloaded", { reason: `applied:${result.applied.join(",") || "none"}` });
    }).catch((err) => log.error("config reload refused", { reason: String(err?.message ?? err) }));
  });
  const engine = config.listenEngine;
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
      ...(config.tls
        ? {
          tls: { ...config.tls, ...(config.clientCaPath ? { caPath: config.clientCaPath } : {}) },
        }
        : {}),
      // The listener's own body cap stays above REQ_BODY_MAX so the app's 413 answers first.
      limits: {
        bodyBytesMax: Math.max(LISTENER_BODY_BYTES_MAX, 2 * config.reqBodyBytesMax),
        headersTimeoutMs: config.headerDeadlineMs,
        keepAliveTimeoutMs: config.keepAliveIdleMs,
      },
      onListen: (addr) => {
        const where = addr.transport === "unix"
          ? `unix ${addr.path}`
          : `tcp ${addr.hostname}:${addr.port}`;
        process.stdout.write(`listening ${where}\n`);
        if (resolved.devCaps && resolved.samples.length > 0) {
          printFirstRequest({
            capsKeysPath: resolved.paths.capsKeysPath,
            operatorTenant: config.operatorTenant,
            addr,
            samples: resolved.samples,
            store: built.services.store,
          }).catch((err) =>
            log.warn("first request not printed", { reason: String(err?.message ?? err) })
          );
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

/** A sample epoch the embedded default loaded (src/shell/keys/dev_bootstrap.ts). */
interface Sample {
  epochId: string;
  inputsCid: string;
  policyId: string;
  policyHash: string;
}

/**
 * The start banner of the embedded default: a development token for tenant `dev` and, for
 * each sample epoch, ready-to-paste `curl` lines. A sample this tenant already settled (a
 * restart on the same data dir) shows the GET of its envelope and proof instead of a compute
 * that would now only replay (or answer 409 for inputs settled under another epoch).
 */
async function printFirstRequest(options: {
  capsKeysPath: string;
  operatorTenant: string;
  addr: { transport: "tcp"; hostname: string; port: number } | { transport: "unix"; path: string };
  samples: Sample[];
  store: { getInputsCommitment(tenant: string, inputsCid: string): Promise<string | undefined> };
}): Promise<void> {
  const { addr, samples } = options;
  const token = await devToken(options.capsKeysPath, Date.now(), {
    operatorTenant: options.operatorTenant,
  });
  const target = addr.transport === "unix"
    ? `--unix-socket ${addr.path} http://localhost`
    : `http://${addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname}:${addr.port}`;
  const auth = `-H "Authorization: Macaroon $TOKEN"`;
  const blocks: string[] = [];
  for (const [i, sample] of samples.entries()) {
    const settledUnder = await options.store.getInputsCommitment(DEV_TENANT, sample.inputsCid);
    const title = `Sample epoch ${i + 1} of ${samples.length}: ${sample.epochId} ` +
      `(policy ${sample.policyId})`;
    const get = `  curl -s ${target}/rewarder/epochs/${sample.epochId} ${auth}`;
    if (settledUnder === undefined) {
      const body = JSON.stringify({
        inputs_cid: sample.inputsCid,
        policy_id: sample.policyId,
        policy_hash: sample.policyHash,
      });
      blocks.push(
        `${title}: compute it, then fetch its sealed envelope:
  curl -s -X POST ${target}/rewarder/epochs/${sample.epochId}/compute \\
    ${auth} -H 'Content-Type: application/json' \\
    -d '${body}'
${get}`,
      );
    } else if (settledUnder === sample.epochId) {
      blocks.push(
        `${title}: already computed and committed on this data dir; fetch its sealed envelope:
${get}`,
      );
    } else {
      blocks.push(
        `${title}: its inputs are already settled as epoch ${settledUnder} (one snapshot ` +
          `settles one epoch); fetch that one:
  curl -s ${target}/rewarder/epochs/${settledUnder} ${auth}`,
      );
    }
  }
  process.stdout.write(`
Embedded default (development keys — never use in production).
Development token for tenant ${DEV_TENANT} (expires in one hour; restart for a new one):

  TOKEN='${token}'

${blocks.join("\n\n")}

Public keys to verify with: curl -s ${target}/rewarder/keys
Your own epoch, step by step: README.md, "Run your own epoch".
`);
}

// Exit explicitly: every resource this process started has been closed by now (or never
// opened), and a lingering handle of a library must not keep a stopped service alive.
process.exit(await main());
