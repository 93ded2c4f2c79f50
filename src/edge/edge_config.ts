/**
 * The edge's configuration table (contract §13), apart from the service's (src/shell/config/config.ts
 * reads files and `node:process`; this one must stay pure for `edge.ts`). A pure function of
 * an environment record plus, from the launcher only, the files it read and a directory
 * reader: `edge.ts` alone has no file system, so it takes the key documents as content
 * (`EDGE_KEYS_JSON`, `EDGE_JWT_KEYS_JSON`) and reads the publication from `ORIGIN_URL` only;
 * the launcher (`deno task edge`) also honours `EDGE_KEYS_PATH`, `EDGE_JWT_KEYS` and
 * `ORIGIN_DIR`. Errors are ConfigError values naming the variable (exit 78 in the launcher).
 *
 * @module
 */
import { type EdgeJwtConfig, parseEdgeJwtConfig } from "../core/gateway_jwt.ts";
import { TENANT_PATTERN } from "../core/ids.ts";
import { parseKeysDocument } from "../core/keys_document.ts";
import {
  bool,
  ConfigError,
  type Env,
  fail,
  httpUrl,
  int,
  path,
  raw,
} from "../shell/config/config_parse.ts";
import { EDGE_LIMITS, type EdgeOptions } from "./edge_app.ts";
import { httpOrigin, type OriginReader } from "./origin.ts";

/** One variable of the edge table (for `--help` and docs/EDGE.md). */
export interface EdgeVariable {
  name: string;
  dflt: string;
  meaning: string;
  /** Read by the launcher only (a path): `edge.ts` alone refuses it with the way out. */
  launcherOnly?: boolean;
}

/** The edge's variables. */
export const EDGE_CONFIG_TABLE: readonly EdgeVariable[] = [
  { name: "EDGE_TENANT", dflt: "(required)", meaning: "the one tenant served" },
  { name: "ORIGIN_URL", dflt: "unset", meaning: "http(s) base of the publication" },
  {
    name: "ORIGIN_DIR",
    dflt: "unset",
    meaning: "directory of the publication (launcher only)",
    launcherOnly: true,
  },
  {
    name: "EDGE_KEYS_PATH",
    dflt: "unset",
    meaning: "pinned keys document, public keys only (launcher only)",
    launcherOnly: true,
  },
  { name: "EDGE_KEYS_JSON", dflt: "unset", meaning: "the pinned keys document itself (JSON)" },
  { name: "EDGE_PUBLIC", dflt: "off", meaning: "on: serve without authentication (public)" },
  {
    name: "EDGE_JWT_KEYS",
    dflt: "unset",
    meaning: "gateway JWT public keys file (launcher only)",
    launcherOnly: true,
  },
  { name: "EDGE_JWT_KEYS_JSON", dflt: "unset", meaning: "the gateway JWT key file itself" },
  { name: "REQUIRE_PQ_ON", dflt: "off", meaning: "demand ML-DSA-65 signatures too" },
  {
    name: "EDGE_CACHE_BYTES_MAX",
    dflt: String(EDGE_LIMITS.envelopeCacheBytesMax),
    meaning: "verified envelopes kept, bytes",
  },
  {
    name: "EDGE_PROOF_CACHE_BYTES_MAX",
    dflt: String(EDGE_LIMITS.proofLeavesBytesMax),
    meaning: "proof leaves kept, bytes",
  },
  {
    name: "EDGE_OBJECT_BYTES_MAX",
    dflt: String(EDGE_LIMITS.objectBytesMax),
    meaning: "largest object read from the origin, bytes",
  },
];

/** Largest byte budget accepted for a cache or an object, bytes (4 GiB). */
const BYTES_LIMIT = 4 * 1024 * 1024 * 1024;

/** What only the launcher can give: file contents and a directory reader. */
export interface EdgeLauncherInputs {
  /** Bytes of the file EDGE_KEYS_PATH names. */
  keysFile?: Uint8Array;
  /** Text of the file EDGE_JWT_KEYS names. */
  jwtKeysFile?: string;
  /** Makes a reader of ORIGIN_DIR. */
  originDir?: (dir: string) => OriginReader;
}

function launcherOnly(name: string, instead: string): never {
  throw new ConfigError(
    name,
    `Cannot start as ${name} is read by the launcher (deno task edge): edge.ts alone has no ` +
      `file system; ${instead}`,
  );
}

function keysOf(env: Env, launcher: EdgeLauncherInputs) {
  const inline = raw(env, "EDGE_KEYS_JSON");
  const pathName = path(env, "EDGE_KEYS_PATH");
  if (inline !== undefined && pathName !== undefined) {
    throw new ConfigError(
      "EDGE_KEYS_PATH",
      "Cannot start as EDGE_KEYS_PATH and EDGE_KEYS_JSON are both set: keep one",
    );
  }
  const name = pathName !== undefined ? "EDGE_KEYS_PATH" : "EDGE_KEYS_JSON";
  let bytes: Uint8Array;
  if (pathName !== undefined) {
    if (launcher.keysFile === undefined) launcherOnly(name, "set EDGE_KEYS_JSON to the document");
    bytes = launcher.keysFile;
  } else if (inline !== undefined) {
    bytes = new TextEncoder().encode(inline);
  } else {
    throw new ConfigError(
      name,
      "Cannot start as EDGE_KEYS_PATH (or EDGE_KEYS_JSON) is unset: the edge trusts only pinned keys",
    );
  }
  const keys = parseKeysDocument(bytes);
  if (!keys.ok) {
    const at = keys.error.path;
    const what = at !== undefined && /private_key|seed|secret_key|\.d$|^d$/.test(at)
      ? `holds a private key (${at}): an edge holds public keys only`
      : `is not a keys document (${keys.error.reason}${at ? ` at ${at}` : ""})`;
    throw new ConfigError(name, `Cannot start as ${name} ${what}`);
  }
  return keys.value;
}

async function jwtOf(env: Env, launcher: EdgeLauncherInputs): Promise<EdgeJwtConfig | undefined> {
  const inline = raw(env, "EDGE_JWT_KEYS_JSON");
  const pathName = path(env, "EDGE_JWT_KEYS");
  if (inline !== undefined && pathName !== undefined) {
    throw new ConfigError(
      "EDGE_JWT_KEYS",
      "Cannot start as EDGE_JWT_KEYS and EDGE_JWT_KEYS_JSON are both set: keep one",
    );
  }
  let text: string;
  if (pathName !== undefined) {
    if (launcher.jwtKeysFile === undefined) {
      launcherOnly("EDGE_JWT_KEYS", "set EDGE_JWT_KEYS_JSON to the key file's content");
    }
    text = launcher.jwtKeysFile;
  } else if (inline !== undefined) {
    text = inline;
  } else {
    return undefined;
  }
  const name = pathName !== undefined ? "EDGE_JWT_KEYS" : "EDGE_JWT_KEYS_JSON";
  try {
    return await parseEdgeJwtConfig(text);
  } catch (err) {
    throw new ConfigError(name, `Cannot start as ${name}: ${(err as Error).message}`);
  }
}

function originOf(env: Env, launcher: EdgeLauncherInputs): OriginReader {
  const url = httpUrl(env, "ORIGIN_URL");
  const dir = path(env, "ORIGIN_DIR");
  if ((url === undefined) === (dir === undefined)) {
    throw new ConfigError(
      "ORIGIN_URL",
      "Cannot start as exactly one of ORIGIN_URL and ORIGIN_DIR must be set",
    );
  }
  if (url !== undefined) return httpOrigin(url);
  if (launcher.originDir === undefined) {
    launcherOnly("ORIGIN_DIR", "serve the directory over HTTP and set ORIGIN_URL");
  }
  return launcher.originDir(dir!);
}

/**
 * The edge's options from an environment record (and, from the launcher, file contents and a
 * directory reader). Throws ConfigError naming the first bad variable.
 *
 * @example
 * ```ts
 * const options = await edgeOptionsFromEnv({ EDGE_TENANT: "acme", ORIGIN_URL: url,
 *   EDGE_KEYS_JSON: keysText, EDGE_PUBLIC: "on" });
 * ```
 */
export async function edgeOptionsFromEnv(
  env: Env,
  launcher: EdgeLauncherInputs = {},
): Promise<EdgeOptions> {
  const tenant = raw(env, "EDGE_TENANT");
  if (tenant === undefined) {
    throw new ConfigError(
      "EDGE_TENANT",
      "Cannot start as EDGE_TENANT is unset: name the tenant served",
    );
  }
  if (!TENANT_PATTERN.test(tenant)) fail("EDGE_TENANT", "1..64 of [a-z0-9_-]", tenant);
  const origin = originOf(env, launcher);
  const keys = keysOf(env, launcher);
  const isPublic = bool(env, "EDGE_PUBLIC", false);
  const jwt = await jwtOf(env, launcher);
  if (isPublic === (jwt !== undefined)) {
    throw new ConfigError(
      "EDGE_PUBLIC",
      isPublic
        ? "Cannot start as EDGE_PUBLIC=on and gateway JWT keys are both set: a public edge authenticates nobody"
        : "Cannot start as the edge holds no secret: set EDGE_PUBLIC=on or gateway JWT public keys",
    );
  }
  const bytes = (name: string, dflt: number) => int(env, name, dflt, 0, BYTES_LIMIT);
  return {
    tenant,
    origin,
    keys,
    public: isPublic,
    ...(jwt === undefined ? {} : { jwt }),
    requirePq: bool(env, "REQUIRE_PQ_ON", false),
    limits: {
      envelopeCacheBytesMax: bytes("EDGE_CACHE_BYTES_MAX", EDGE_LIMITS.envelopeCacheBytesMax),
      proofLeavesBytesMax: bytes("EDGE_PROOF_CACHE_BYTES_MAX", EDGE_LIMITS.proofLeavesBytesMax),
      objectBytesMax: bytes("EDGE_OBJECT_BYTES_MAX", EDGE_LIMITS.objectBytesMax),
    },
  };
}
