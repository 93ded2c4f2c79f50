import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildSbom,
  type DenoLock,
  integrityToHash,
  npmPurl,
  type PackageJson,
  splitLockKey,
} from "./sbom.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const lockText = readFileSync(join(ROOT, "deno.lock"), "utf8");
const lock = JSON.parse(lockText) as DenoLock;
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;

Deno.test("SBOM lists every package.json dependency at its pinned version", () => {
  const bom = buildSbom(lock, pkg, { lockText });
  assert.equal(bom.bomFormat, "CycloneDX");
  assert.equal(bom.specVersion, "1.5");
  assert.match(
    bom.serialNumber,
    /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  const deps = Object.entries(pkg.dependencies ?? {});
  assert.ok(deps.length >= 14, "package.json lists the service's dependencies");
  const root = bom.dependencies.find((d) => d.ref === bom.metadata.component["bom-ref"]);
  for (const [name, version] of deps) {
    assert.match(version, /^\d+\.\d+\.\d+$/, `${name} is pinned exactly in package.json`);
    const c = bom.components.find((x) => x.purl === npmPurl(name, version));
    assert.ok(c !== undefined, `${name}@${version} is in the SBOM`);
    assert.equal(c.version, version);
    assert.equal(c.group === undefined ? c.name : `${c.group}/${c.name}`, name);
    assert.ok(root?.dependsOn.includes(c["bom-ref"]), `${name} is a direct dependency of the root`);
  }
});

Deno.test("SBOM carries the lock's integrity as SHA-512 hex for every locked package", () => {
  const bom = buildSbom(lock, pkg, { lockText });
  const locked = Object.keys(lock.npm ?? {}).map((k) => splitLockKey(k));
  assert.equal(bom.components.length, new Set(locked.map(([n, v]) => `${n}@${v}`)).size);
  for (const c of bom.components) {
    const h = c.hashes?.[0];
    assert.equal(h?.alg, "SHA-512", `${c.name} has a hash`);
    assert.match(h?.content ?? "", /^[0-9a-f]{128}$/);
  }
  // Every edge points at a component.
  const refs = new Set(bom.components.map((c) => c["bom-ref"]));
  for (const d of bom.dependencies) for (const to of d.dependsOn) assert.ok(refs.has(to), to);
});

Deno.test("SBOM is deterministic and changes with the lock", () => {
  const a = JSON.stringify(buildSbom(lock, pkg, { lockText }));
  const b = JSON.stringify(buildSbom(lock, pkg, { lockText }));
  assert.equal(a, b);
  const other = buildSbom(lock, pkg, { lockText: lockText + " " });
  assert.notEqual(other.serialNumber, JSON.parse(a).serialNumber);
});

Deno.test("SBOM refuses a package.json dependency the lock does not pin", () => {
  const drifted: PackageJson = { ...pkg, dependencies: { ...pkg.dependencies, hono: "4.0.0" } };
  assert.throws(() => buildSbom(lock, drifted, { lockText }), /hono@4\.0\.0 .* not in deno\.lock/);
});

Deno.test("lock keys, purls and SRI hashes are read per their specs", () => {
  assert.deepEqual(splitLockKey("@hono/zod-openapi@1.6.3_hono@4.13.19_zod@4.6.7"), [
    "@hono/zod-openapi",
    "1.6.3",
  ]);
  assert.deepEqual(splitLockKey("zod@4.6.7"), ["zod", "4.6.7"]);
  assert.throws(() => splitLockKey("zod"), /name@version/);
  assert.equal(npmPurl("@noble/hashes", "2.4.0"), "pkg:npm/%40noble/hashes@2.4.0");
  assert.deepEqual(integrityToHash("sha256-AAEC"), [{ alg: "SHA-256", content: "000102" }]);
  assert.equal(integrityToHash("md5-AAEC"), undefined);
});
