/**
 * CycloneDX 1.5 SBOM from the lockfile (docs/SUPPLY-CHAIN.md): every npm package that `deno.lock`
 * resolves, with its version, purl (`pkg:npm/...`), the lock's integrity hash and the dependency
 * graph; the root component is package.json. Deterministic: no timestamp unless
 * SOURCE_DATE_EPOCH is set, and the serial number is derived from the lockfile's bytes.
 *
 *   deno run --allow-read --allow-write=dist --allow-env=SOURCE_DATE_EPOCH scripts/sbom.ts
 *   → dist/sbom.cdx.json
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** Bound on lock entries we accept (the lock has a few dozen; a runaway file is an error). */
export const LOCK_PACKAGES_MAX = 10_000;

/** The parts of deno.lock (version 4/5) this script reads. */
export interface DenoLock {
  version: string;
  npm?: Record<string, { integrity?: string; dependencies?: string[] }>;
  workspace?: { packageJson?: { dependencies?: string[] } };
}

/** The parts of package.json this script reads. */
export interface PackageJson {
  name: string;
  version: string;
  description?: string;
  dependencies?: Record<string, string>;
}

/** One CycloneDX component. */
export interface CdxComponent {
  type: "library" | "application";
  "bom-ref": string;
  name: string;
  group?: string;
  version: string;
  purl?: string;
  description?: string;
  hashes?: { alg: "SHA-512" | "SHA-384" | "SHA-256" | "SHA-1"; content: string }[];
  scope?: "required";
}

/** The SBOM document (the subset of CycloneDX 1.5 we emit). */
export interface CdxBom {
  bomFormat: "CycloneDX";
  specVersion: "1.5";
  serialNumber: string;
  version: 1;
  metadata: {
    timestamp?: string;
    tools: { components: CdxComponent[] };
    component: CdxComponent;
  };
  components: CdxComponent[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

const HASH_ALGS: Record<string, "SHA-512" | "SHA-384" | "SHA-256" | "SHA-1"> = {
  sha512: "SHA-512",
  sha384: "SHA-384",
  sha256: "SHA-256",
  sha1: "SHA-1",
};

/** `name@version_peer…` (lock key) → [name, version]. */
export function splitLockKey(key: string): [string, string] {
  const at = key.indexOf("@", 1); // a scoped name starts with `@`; peers follow the version
  if (at <= 0) throw new Error(`Cannot read lock entry as name@version: current value is ${key}`);
  const name = key.slice(0, at);
  const version = key.slice(at + 1).split("_")[0] ?? "";
  if (version === "") throw new Error(`Cannot read lock entry version: current value is ${key}`);
  return [name, version];
}

/** Package URL of an npm package (purl spec: the scope's `@` is percent-encoded). */
export function npmPurl(name: string, version: string): string {
  const path = name.startsWith("@") ? `%40${name.slice(1)}` : name;
  return `pkg:npm/${path}@${version}`;
}

/** SRI `sha512-<base64>` → CycloneDX hash (hex); undefined for an unknown algorithm. */
export function integrityToHash(integrity: string): CdxComponent["hashes"] {
  const dash = integrity.indexOf("-");
  const alg = HASH_ALGS[integrity.slice(0, dash)];
  if (dash < 0 || alg === undefined) return undefined;
  const hex = Buffer.from(integrity.slice(dash + 1), "base64").toString("hex");
  return [{ alg, content: hex }];
}

function deterministicSerial(lockText: string): string {
  const h = createHash("sha256").update(lockText).digest("hex");
  // RFC 4122 layout with version 5-style bits set, derived from the lock's bytes.
  const v = `5${h.slice(13, 16)}`;
  const variant = ((parseInt(h.slice(16, 17), 16) & 0x3) | 0x8).toString(16) + h.slice(17, 20);
  return `urn:uuid:${h.slice(0, 8)}-${h.slice(8, 12)}-${v}-${variant}-${h.slice(20, 32)}`;
}

function component(name: string, version: string, integrity: string | undefined): CdxComponent {
  const purl = npmPurl(name, version);
  const slash = name.indexOf("/");
  const c: CdxComponent = {
    type: "library",
    "bom-ref": purl,
    name: name.startsWith("@") && slash > 0 ? name.slice(slash + 1) : name,
    version,
    purl,
    scope: "required",
  };
  if (name.startsWith("@") && slash > 0) c.group = name.slice(0, slash);
  const hashes = integrity === undefined ? undefined : integrityToHash(integrity);
  if (hashes !== undefined) c.hashes = hashes;
  return c;
}

/**
 * Builds the SBOM. Throws when a package.json dependency is missing from the lock or pinned
 * to another version (the SBOM must describe what is locked, and the lock must cover it).
 */
export function buildSbom(
  lock: DenoLock,
  pkg: PackageJson,
  options: { lockText: string; timestamp?: string },
): CdxBom {
  const entries = Object.entries(lock.npm ?? {});
  if (entries.length > LOCK_PACKAGES_MAX) throw new Error("Cannot read lock: too many packages");
  const byPurl = new Map<string, CdxComponent>();
  const versionsOf = new Map<string, Set<string>>();
  const deps = new Map<string, Set<string>>();
  for (const [key] of entries) {
    const [name, version] = splitLockKey(key);
    (versionsOf.get(name) ?? versionsOf.set(name, new Set()).get(name)!).add(version);
  }
  const resolve = (dep: string): string => {
    // A lock dependency is `name` (one version locked) or `name@version[_peers]`.
    if (dep.indexOf("@", 1) > 0) {
      const [n, v] = splitLockKey(dep);
      return npmPurl(n, v);
    }
    const vs = [...(versionsOf.get(dep) ?? [])];
    if (vs.length !== 1) throw new Error(`Cannot resolve lock dependency: current value is ${dep}`);
    return npmPurl(dep, vs[0] as string);
  };
  for (const [key, entry] of entries) {
    const [name, version] = splitLockKey(key);
    const c = component(name, version, entry.integrity);
    if (!byPurl.has(c["bom-ref"])) byPurl.set(c["bom-ref"], c);
    const set = deps.get(c["bom-ref"]) ?? new Set<string>();
    for (const d of entry.dependencies ?? []) set.add(resolve(d));
    deps.set(c["bom-ref"], set);
  }
  const rootRef = `pkg:npm/${pkg.name}@${pkg.version}`;
  const direct: string[] = [];
  for (const [name, version] of Object.entries(pkg.dependencies ?? {})) {
    const purl = npmPurl(name, version);
    if (!byPurl.has(purl)) {
      throw new Error(`Cannot build SBOM: ${name}@${version} of package.json is not in deno.lock`);
    }
    direct.push(purl);
  }
  const sorted = (xs: Iterable<string>) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const root: CdxComponent = {
    type: "application",
    "bom-ref": rootRef,
    name: pkg.name,
    version: pkg.version,
    ...(pkg.description === undefined ? {} : { description: pkg.description }),
  };
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.5",
    serialNumber: deterministicSerial(options.lockText),
    version: 1,
    metadata: {
      ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }),
      tools: {
        components: [{
          type: "application",
          "bom-ref": "svc-rewarder/scripts/sbom.ts",
          name: "sbom.ts",
          version: pkg.version,
        }],
      },
      component: root,
    },
    components: sorted(byPurl.keys()).map((k) => byPurl.get(k) as CdxComponent),
    dependencies: [
      { ref: rootRef, dependsOn: sorted(direct) },
      ...sorted(deps.keys()).map((ref) => ({ ref, dependsOn: sorted(deps.get(ref) ?? []) })),
    ],
  };
}

if (import.meta.main) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const lockText = readFileSync(join(root, "deno.lock"), "utf8");
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as PackageJson;
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const timestamp = epoch === undefined || !/^\d{1,12}$/.test(epoch)
    ? undefined
    : new Date(Number(epoch) * 1000).toISOString();
  const bom = buildSbom(JSON.parse(lockText) as DenoLock, pkg, {
    lockText,
    ...(timestamp === undefined ? {} : { timestamp }),
  });
  const out = join(root, "dist", "sbom.cdx.json");
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(bom, null, 2) + "\n");
  console.log(`sbom: ${bom.components.length} components → dist/sbom.cdx.json`);
}
