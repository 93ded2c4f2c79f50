// The edge end to end (contract §13): a publication written with the format module into a
// temp dir, served by a plain static HTTP server, read by the edge running as a real process —
// `deno serve edge.ts` under deny flags, then the same edge bundled for Bun and for Node. The
// origin is hostile where it can be: an object with one byte changed, a pointer copied under
// another epoch's name, another tenant's publication copied into this tenant's root.
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { verifyProofDocument } from "../src/core/proof.ts";
import { objectPath, pointerPath } from "../src/core/publication.ts";
import type { SealedEnvelope } from "../src/core/types.ts";
import {
  objectBytesOf,
  v1Envelope,
  v2Envelope,
  vectorKeys,
  vectorKeysBytes,
  vectorSigningKey,
  writePublication,
} from "./support/publication_fixture.ts";
import {
  bundleEdgeLauncher,
  bunPath,
  startProcess,
  staticServer,
  stop,
} from "./support/edge_processes.ts";

const REPO = new URL("../", import.meta.url).pathname;

interface Publication {
  dir: string;
  alabama: SealedEnvelope; // v2, served
  water: SealedEnvelope; // v1, served with v1 proofs
  fixed: SealedEnvelope; // its object has one byte changed
}

/** acme: alabama (v2), water (v1), fixed (tampered object), copied (alabama's pointer under
 * another name), thirds-1 (globex's files copied in); globex: thirds-1, split. */
async function makePublication(): Promise<Publication> {
  const dir = await Deno.makeTempDir({ prefix: "edge_pub_" });
  const keys = [await vectorSigningKey()];
  const alabama = await v2Envelope("alabama-10");
  const water = await v1Envelope("redistribute-water-filling");
  const fixed = await v2Envelope("fixed-pool-with-cap");
  await writePublication(dir, "acme", [alabama, water, fixed], keys);
  const thirds = await v2Envelope("equal-thirds-10");
  await writePublication(dir, "globex", [thirds, await v2Envelope("split-70-30-order-a")], keys);
  // One byte changed in fixed's object (an amount: 1 → 2 in its first digit).
  const fixedObject = join(dir, objectPath("acme", fixed.manifest_hash));
  const bytes = await readFile(fixedObject);
  const at = bytes.indexOf(new TextEncoder().encode('"amount_minor":"')) + 16;
  bytes[at] = bytes[at] === 0x31 ? 0x32 : 0x31;
  await writeFile(fixedObject, bytes);
  // alabama's pointer copied under another epoch's name.
  await copyFile(
    join(dir, pointerPath("acme", "alabama")),
    join(dir, pointerPath("acme", "copied")),
  );
  // globex's thirds-1 copied into acme's root, pointer and object.
  await copyFile(
    join(dir, pointerPath("globex", "thirds-1")),
    join(dir, pointerPath("acme", "thirds-1")),
  );
  await mkdir(join(dir, "tenants/acme/objects"), { recursive: true });
  await copyFile(
    join(dir, objectPath("globex", thirds.manifest_hash)),
    join(dir, objectPath("acme", thirds.manifest_hash)),
  );
  return { dir, alabama, water, fixed };
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return await res.json() as Record<string, unknown>;
}

async function assertIntegrityRefusal(base: string, epoch: string, field: RegExp): Promise<void> {
  const res = await fetch(`${base}/rewarder/epochs/${epoch}`);
  assert.equal(res.status, 503, `${epoch}: 503`);
  assert.ok(res.headers.get("retry-after"), `${epoch}: Retry-After`);
  assert.equal(res.headers.get("etag"), null, `${epoch}: nothing of it served`);
  const body = await json(res);
  const error = body.error as Record<string, string>;
  assert.equal(error.code, "DEPENDENCY_UNAVAILABLE");
  assert.equal(error.reason, "origin_integrity");
  assert.match(error.field ?? "", field, `${epoch}: ${error.field}`);
  assert.equal(typeof error.corr_id, "string");
}

/** The happy path: same bytes, ETag/304, proofs that verify. */
async function assertServes(base: string, pub: Publication, cacheControl: string): Promise<void> {
  const keys = await vectorKeys();
  const keysRes = await fetch(`${base}/rewarder/keys`);
  assert.equal(keysRes.status, 200);
  assert.deepEqual(
    await keysRes.json(),
    JSON.parse(new TextDecoder().decode(await vectorKeysBytes())),
  );

  const res = await fetch(`${base}/rewarder/epochs/alabama`);
  assert.equal(res.status, 200);
  const body = new Uint8Array(await res.arrayBuffer());
  assert.deepEqual(body, objectBytesOf(pub.alabama), "the published bytes, unchanged");
  const etag = `"${pub.alabama.manifest_hash}"`;
  assert.equal(res.headers.get("etag"), etag);
  assert.equal(res.headers.get("cache-control"), cacheControl);
  const again = await fetch(`${base}/rewarder/epochs/alabama`, {
    headers: { "if-none-match": `W/"b3:${"0".repeat(64)}", ${etag}` },
  });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("etag"), etag);
  assert.equal(again.headers.get("cache-control"), cacheControl);
  assert.equal((await again.arrayBuffer()).byteLength, 0);

  const account = pub.alabama.manifest.payouts[1]!.account;
  const proofRes = await fetch(`${base}/rewarder/epochs/alabama/proofs/${account}`);
  assert.equal(proofRes.status, 200);
  assert.equal(proofRes.headers.get("etag"), etag);
  const proof = await proofRes.json();
  assert.equal(proof.schema, "svc-rewarder.proof.v2");
  const verified = verifyProofDocument(proof, keys);
  assert.ok(verified.ok, verified.ok ? "" : verified.error.reason);
}

async function assertFull(base: string, pub: Publication): Promise<void> {
  await assertServes(base, pub, "public, max-age=31536000, immutable");
  const keys = await vectorKeys();
  // Every recipient's proof verifies; v1 envelopes get v1 proofs.
  for (const p of pub.alabama.manifest.payouts) {
    const doc = await (await fetch(`${base}/rewarder/epochs/alabama/proofs/${p.account}`)).json();
    assert.ok(verifyProofDocument(doc, keys).ok);
    assert.equal(doc.amount_minor, p.amount_minor);
  }
  const v1 = await fetch(`${base}/rewarder/epochs/water`);
  assert.deepEqual(new Uint8Array(await v1.arrayBuffer()), objectBytesOf(pub.water));
  const v1Account = pub.water.manifest.payouts[0]!.account;
  const v1Proof = await (await fetch(`${base}/rewarder/epochs/water/proofs/${v1Account}`)).json();
  assert.equal("schema" in v1Proof, false, "a v1 envelope gets a v1 proof");
  assert.ok(verifyProofDocument(v1Proof, keys).ok);
  const none = await fetch(`${base}/rewarder/epochs/alabama/proofs/nobody`);
  assert.equal(none.status, 404);
  assert.equal(((await json(none)).error as Record<string, string>).reason, "no_payout");

  await assertIntegrityRefusal(base, "fixed", /^object/);
  await assertIntegrityRefusal(base, "copied", /^pointer\.epoch_id$/);
  await assertIntegrityRefusal(base, "thirds-1", /^pointer\.tenant$/);
  // Refused again on the next request: a failure is never cached, nor served.
  await assertIntegrityRefusal(base, "fixed", /^object/);
  // Another tenant's publication is not served from this edge.
  const other = await fetch(`${base}/rewarder/epochs/split`);
  assert.equal(other.status, 404);
  assert.equal(((await json(other)).error as Record<string, string>).reason, "unknown_epoch");
  // One request path, normalised as the service does (contract §9).
  const slash = await fetch(`${base}/rewarder/epochs/alabama/`);
  assert.equal(slash.status, 400);
  assert.equal(((await json(slash)).error as Record<string, string>).reason, "path");

  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /^edge_origin_integrity_failures_total 4$/m);
  assert.match(metrics, /^edge_responses_total\{route="epoch",status="503"\} 4$/m);
}

function edgeEnv(originUrl: string, keysText: string): Record<string, string> {
  return {
    EDGE_TENANT: "acme",
    ORIGIN_URL: originUrl,
    EDGE_KEYS_JSON: keysText,
    EDGE_PUBLIC: "on",
    NO_COLOR: "1",
    PATH: Deno.env.get("PATH") ?? "",
  };
}

Deno.test("edge: deno serve edge.ts (deny read/write/run/ffi) serves a checked publication", async () => {
  const pub = await makePublication();
  const origin = staticServer(pub.dir);
  const keysText = new TextDecoder().decode(await vectorKeysBytes());
  const edge = await startProcess(
    Deno.execPath(),
    [
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      "--allow-net",
      "--allow-env",
      "--deny-read",
      "--deny-write",
      "--deny-run",
      "--deny-ffi",
      "edge.ts",
    ],
    edgeEnv(origin.url, keysText),
    /Listening on http:\/\/[^:]+:(\d+)/,
  );
  try {
    await assertFull(edge.base, pub);
  } finally {
    await stop(edge.child);
    await origin.server.shutdown();
    await Deno.remove(pub.dir, { recursive: true });
  }
});

Deno.test("edge: the launcher (deno task edge) reads ORIGIN_DIR and EDGE_KEYS_PATH", async () => {
  const pub = await makePublication();
  const edge = await startProcess(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-net",
    "--allow-env",
    "--deny-write",
    "--deny-run",
    "--deny-ffi",
    "edge_main.ts",
  ], {
    EDGE_TENANT: "acme",
    ORIGIN_DIR: pub.dir,
    EDGE_KEYS_PATH: join(REPO, "vectors/keys/vector-keys.json"),
    EDGE_PUBLIC: "on",
    BIND_ADDR: "127.0.0.1:0",
    NO_COLOR: "1",
  }, /serving tenant acme on http:\/\/[^:]+:(\d+)/);
  try {
    await assertFull(edge.base, pub);
  } finally {
    await stop(edge.child);
    await Deno.remove(pub.dir, { recursive: true });
  }
});

Deno.test("edge: the launcher refuses a keys document holding a private key (exit 78)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edge_keys_" });
  try {
    const leaked = join(dir, "keys.json");
    const doc = JSON.parse(new TextDecoder().decode(await vectorKeysBytes()));
    doc.keys[0].private_key = "F5_ivxzJPhy-7e5rt_DAWV1R7ZTLZvEuv9Pu1mvltGk";
    await writeFile(leaked, JSON.stringify(doc));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-net", "--allow-env", "edge_main.ts"],
      cwd: REPO,
      env: {
        EDGE_TENANT: "acme",
        ORIGIN_DIR: dir,
        EDGE_KEYS_PATH: leaked,
        EDGE_PUBLIC: "on",
        NO_COLOR: "1",
      },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 78);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.match(stderr, /EDGE_KEYS_PATH holds a private key \(keys\[0\]\.private_key\)/);
    assert.doesNotMatch(stderr, /F5_ivx/, "never echoes the key");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("edge: the same edge.ts bundled, on Bun and on Node", async () => {
  const pub = await makePublication();
  const origin = staticServer(pub.dir);
  const dir = await Deno.makeTempDir({ prefix: "edge_bundle_" });
  try {
    const bundle = await bundleEdgeLauncher(dir);
    const keysText = new TextDecoder().decode(await vectorKeysBytes());
    for (const [name, cmd] of [["node", "node"], ["bun", bunPath()]] as const) {
      const edge = await startProcess(
        cmd,
        [bundle],
        edgeEnv(origin.url, keysText),
        /listening (\d+)/,
      );
      try {
        await assertServes(edge.base, pub, "public, max-age=31536000, immutable");
        await assertIntegrityRefusal(edge.base, "fixed", /^object/);
        await assertIntegrityRefusal(edge.base, "copied", /^pointer\.epoch_id$/);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}; stderr: ${edge.output()}`);
      } finally {
        await stop(edge.child);
      }
    }
  } finally {
    await origin.server.shutdown();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(pub.dir, { recursive: true });
  }
});
