/**
 * The edge launcher (`deno task edge`; contract §13, docs/EDGE.md): serves the pure edge app
 * (src/edge/edge_app.ts, the same one `edge.ts` exports) on `BIND_ADDR` like the service
 * (`host:port` or `unix:///abs/path.sock`, default `127.0.0.1:8090`), through the service's
 * listeners (src/shell/listen/). It is the one edge process that touches the disk: it reads
 * `EDGE_KEYS_PATH` and `EDGE_JWT_KEYS` and reads the publication from `ORIGIN_DIR`, and hands
 * their contents in. `--help` lists the variables. A configuration error is one line naming
 * the variable, exit 78.
 *
 * @module
 */
import process from "node:process";
import { readFile } from "node:fs/promises";
import { ConfigError } from "./src/shell/config/config_parse.ts";
import { listen } from "./src/shell/listen/listen.ts";
import { createEdgeApp } from "./src/edge/edge_app.ts";
import { EDGE_CONFIG_TABLE, edgeOptionsFromEnv } from "./src/edge/edge_config.ts";
import { directoryOrigin } from "./src/edge/origin_dir.ts";

/** Largest key document read, bytes (the keys document and the JWT key file are small). */
const KEY_FILE_BYTES_MAX = 1024 * 1024;

async function readBounded(name: string, path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch {
    throw new ConfigError(name, `Cannot start as ${name} names a file that cannot be read`);
  }
  if (bytes.byteLength > KEY_FILE_BYTES_MAX) {
    throw new ConfigError(name, `Cannot start as ${name} names a file larger than 1 MiB`);
  }
  return bytes;
}

function help(): string {
  const rows = [
    ["BIND_ADDR", "127.0.0.1:8090", "host:port or unix:///abs/path.sock"],
    ...EDGE_CONFIG_TABLE.map((v) => [v.name, v.dflt, v.meaning]),
  ];
  return "usage: deno task edge\n\nenvironment:\n" +
    rows.map(([n, d, m]) => `  ${n!.padEnd(28)}${m} [${d}]`).join("\n") + "\n";
}

async function main(): Promise<void> {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    process.stdout.write(help());
    return;
  }
  const env = process.env;
  const keysPath = env.EDGE_KEYS_PATH || undefined;
  const jwtPath = env.EDGE_JWT_KEYS || undefined;
  const options = await edgeOptionsFromEnv(env, {
    ...(keysPath ? { keysFile: await readBounded("EDGE_KEYS_PATH", keysPath) } : {}),
    ...(jwtPath
      ? { jwtKeysFile: new TextDecoder().decode(await readBounded("EDGE_JWT_KEYS", jwtPath)) }
      : {}),
    originDir: directoryOrigin,
  });
  const edge = createEdgeApp(options);
  const handle = await listen((request) => edge.fetch(request), {
    bindAddr: env.BIND_ADDR || "127.0.0.1:8090",
    onListen: (addr) => {
      const where = addr.transport === "tcp"
        ? `http://${
          addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname
        }:${addr.port}`
        : `unix://${addr.path}`;
      console.log(`edge: serving tenant ${options.tenant} on ${where}`);
    },
  });
  await handle.finished;
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`error: ${(err as ConfigError).message}`);
    process.exit((err as ConfigError).exitCode);
  }
  console.error(`error: ${err instanceof Error ? err.message : "edge failed to start"}`);
  process.exit(1);
});
