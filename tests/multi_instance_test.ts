/**
 * Scale-out end to end (docs/SCALE-OUT.md): three real service processes (`main.ts`, STORE=postgres) on
 * one database, shared keys from one dev bootstrap, each with its own DATA_DIR and port, and the
 * real dev ledger (tools/dev_ledger.ts) as LEDGER_URL.
 *
 * A. 100 concurrent computes spread over the three, on 10 epochs, each epoch asked with two
 *    different inputs/policies (conflicting run keys) and the same one repeatedly: exactly one
 *    commit per epoch, every answer is that run or 409, one ledger intent per committed run.
 * B. The ledger delays its answers so intents are in flight; the instance holding claims is
 *    SIGKILLed; after its lease expires the others deliver every one of its intents.
 * C. A `max_runs = 3` token used on all three instances at once runs exactly 3 times.
 *
 * Needs PostgreSQL (TEST_DATABASE_URL or .ci/state/database_url): skips visibly outside CI,
 * fails in CI.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { ensureDevMaterial } from "../src/shell/keys/dev_bootstrap.ts";
import { casPut } from "../src/shell/sources/cas.ts";
import { loadSigningKey } from "../src/shell/keys/key_files.ts";
import { mintToken } from "../src/shell/caps/mint.ts";
import { toBase64Url } from "../src/core/base64url.ts";
import { withTestDatabase } from "./support/postgres_test_db.ts";
import { intentKeyOf } from "../src/core/run_key.ts";
import type { DevLedgerStats } from "./support/dev_ledger_process.ts";

/** Bound on one child's startup (deno compiles main.ts on first run), ms. */
const START_TIMEOUT_MS = 60_000;
/** Bound on one HTTP call to a service, ms. */
const CALL_TIMEOUT_MS = 30_000;
/** Bound on waiting for deliveries, ms. */
const DELIVERY_WAIT_MS = 40_000;
/** Ledger attempt budget given to the services, ms; the lease follows from it (+5 s margin). */
const ATTEMPT_MS = 3_000;
/** Ledger answer delay during phase B, ms (< ATTEMPT_MS: a slow answer, not a timeout). */
const LEDGER_DELAY_MS = 2_000;
/** Kept tail of each child's stderr, characters (printed on failure). */
const STDERR_TAIL_CHARS = 4_000;
const POLL_MS = 50;
/** Attempts of one compute while the instance answers 503 (engine queue full). */
const OVERLOAD_RETRIES_MAX = 40;

interface Child {
  name: string;
  proc: Deno.ChildProcess;
  port: number;
  stderrTail: () => string;
  done: Promise<void>;
}

async function spawnChild(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<Child> {
  const proc = new Deno.Command(Deno.execPath(), {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let tail = "";
  const errDone = (async () => {
    for await (const chunk of proc.stderr.pipeThrough(new TextDecoderStream())) {
      tail = (tail + chunk).slice(-STDERR_TAIL_CHARS);
    }
  })();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => proc.kill("SIGKILL"), START_TIMEOUT_MS);
  let seen = "";
  let port: number | undefined;
  try {
    while (port === undefined) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`${name} exited before listening:\n${tail}`);
      seen = (seen + value).slice(-10_000);
      const m = ready.exec(seen);
      if (m) port = Number(m[1]);
    }
  } finally {
    clearTimeout(timer);
  }
  const outDone = (async () => {
    while (!(await reader.read()).done) { /* keep stdout flowing */ }
  })();
  return {
    name,
    proc,
    port,
    stderrTail: () => tail,
    done: Promise.all([errDone, outDone, proc.status]).then(() => undefined),
  };
}

async function stopChild(c: Child): Promise<void> {
  try {
    c.proc.kill("SIGKILL");
  } catch {
    // already exited
  }
  await c.done;
}

async function waitFor<T>(
  what: string,
  boundMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const until = Date.now() + boundMs;
  while (Date.now() < until) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`Timed out after ${boundMs} ms waiting for ${what}`);
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

async function tokenFor(capsKeysPath: string, extra: string[] = []): Promise<string> {
  const doc = JSON.parse(await readFile(capsKeysPath, "utf8"));
  const epoch = Number(doc.current_epoch);
  const b64 = String(doc.epochs[String(epoch)]);
  const masterSecret = Uint8Array.from(
    atob(b64.replaceAll("-", "+").replaceAll("_", "/")),
    (ch) => ch.charCodeAt(0),
  );
  const expiry = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
  return mintToken({
    masterSecret,
    tenant: "dev",
    keyEpoch: epoch,
    nonceHex: randomHex(16),
    caveats: [
      "scope = rewarder.run,rewarder.inspect",
      "tenant = dev",
      `time < ${expiry}`,
      ...extra,
    ],
  });
}

/** A private database for this run when the role may create one, else the given one. */
async function privateDatabase(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  const name = `rewarder_mi_${randomHex(6)}`;
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } catch {
    // No CREATEDB: use the given database after clearing the service's schema.
    await admin.unsafe(`DROP SCHEMA IF EXISTS rewarder CASCADE`);
    await admin.end({ timeout: 1 });
    return { url, drop: () => Promise.resolve() };
  }
  await admin.end({ timeout: 1 });
  const own = new URL(url);
  own.pathname = `/${name}`;
  return {
    url: own.toString(),
    drop: async () => {
      const a = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end({ timeout: 1 });
      }
    },
  };
}

await withTestDatabase("multi-instance", (baseUrl) => {
  Deno.test({
    name: "multi-instance: 3 services on one postgres — one commit per epoch, kill -9 mid-emission",
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const root = await mkdtemp(join(tmpdir(), "rw-multi-"));
      const children: Child[] = [];
      const db = await privateDatabase(baseUrl);
      const sql = postgres(db.url, { max: 2, onnotice: () => {} });
      try {
        // One dev bootstrap for keys, the content store and signed policies.
        const shared = join(root, "shared");
        const vectorsDir = new URL("../vectors/", import.meta.url).pathname;
        const { paths, samples } = await ensureDevMaterial(shared, vectorsDir);
        // Two inputs for the same policy: same epoch, different run keys (a conflict). The
        // sample's legacy inputs carry no epoch id, so they fit any epoch.
        const base = samples[0]!;
        const legacy = JSON.parse(
          await readFile(
            join(vectorsDir, "cases", "rustyonions-interop", "inputs.json"),
            "utf8",
          ),
        );
        // One snapshot settles one epoch (contract §5): each epoch gets snapshots of its own,
        // two per epoch (two run keys), put in the shared content store on first use.
        const snapshots = new Map<string, string>();
        let produced = 1_000;
        const inputsFor = async (epochId: string, sample: number): Promise<string> => {
          const key = `${epochId}#${sample}`;
          let cid = snapshots.get(key);
          if (cid === undefined) {
            produced += 1;
            const bytes = JSON.stringify({ ...legacy, produced_at_millis: produced });
            cid = await casPut(shared, new TextEncoder().encode(bytes));
            snapshots.set(key, cid);
          }
          return cid;
        };
        const signing = await loadSigningKey(join(paths.signingKeysDir, "dev-ed25519.json"));
        const keysFile = join(root, "ledger-keys.json");
        await writeFile(
          keysFile,
          JSON.stringify({
            keys: [{
              kid: signing.kid,
              alg: "ed25519",
              public_key: toBase64Url(signing.publicKey),
            }],
          }),
        );
        const baseEnv = { ...Deno.env.toObject(), NO_COLOR: "1" };
        const ledger = await spawnChild(
          "dev-ledger",
          [
            "run",
            "--allow-net",
            "--allow-read",
            "--allow-env",
            "tools/dev_ledger.ts",
            "--keys",
            keysFile,
            "--port",
            "0",
          ],
          baseEnv,
          /listening (\d+)/,
        );
        children.push(ledger);
        const ledgerUrl = `http://127.0.0.1:${ledger.port}`;
        const ledgerStats = async () =>
          await (await fetch(`${ledgerUrl}/_stats`, { signal: AbortSignal.timeout(5_000) }))
            .json() as DevLedgerStats;
        /** The ledger's Idempotency-Key of a run of tenant `dev` (contract §5 intent key). */
        const ik = (runKey: string) => intentKeyOf({ tenant: "dev", runKey });

        const instances = await Promise.all([0, 1, 2].map(async (i) => {
          const dataDir = join(root, `inst${i}`);
          await mkdir(dataDir, { recursive: true, mode: 0o700 });
          await symlink(join(shared, "cas"), join(dataDir, "cas"));
          return await spawnChild(
            `instance-${i}`,
            ["run", "-A", "--unstable-no-legacy-abort", "main.ts"],
            {
              ...baseEnv,
              STORE: "postgres",
              DATABASE_URL: db.url,
              DATA_DIR: dataDir,
              BIND_ADDR: "127.0.0.1:0",
              CAPS_KEYS_PATH: paths.capsKeysPath,
              SIGNING_KEYS_DIR: paths.signingKeysDir,
              GOV_KEYS_PATH: paths.govKeysPath,
              AT_REST_KEY_PATH: paths.atRestKeyPath,
              POLICY_DIR: join(shared, "policies"),
              LEDGER_URL: ledgerUrl,
              DOWNSTREAM_CONNECT_MS: "1000",
              DOWNSTREAM_ATTEMPT_MS: String(ATTEMPT_MS),
              MAX_RETRIES_LEDGER: "0",
              REQUEST_TIMEOUT_MS: "20000",
              LOG_LEVEL: "error",
            },
            /listening tcp [^\s]+:(\d+)/,
          );
        }));
        children.push(...instances);
        const token = await tokenFor(paths.capsKeysPath);

        /**
         * One compute; 503 OVERLOADED (a full engine queue) is retried like a client would, and
         * so is a pooled keep-alive connection the server closed as idle just as the request
         * went out (a reset: the outcome is unknown, and a compute is idempotent by run key).
         */
        const compute = async (
          inst: Child,
          epochId: string,
          sample: number,
          tok = token,
          inputsCid?: string,
        ) => {
          const inputs = inputsCid ?? await inputsFor(epochId, sample);
          for (let attempt = 1;; attempt++) {
            let res: Response;
            try {
              res = await fetch(
                `http://127.0.0.1:${inst.port}/rewarder/epochs/${epochId}/compute`,
                {
                  method: "POST",
                  headers: { authorization: `Macaroon ${tok}`, "content-type": "application/json" },
                  body: JSON.stringify({
                    inputs_cid: inputs,
                    policy_id: base.policyId,
                    policy_hash: base.policyHash,
                  }),
                  signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
                },
              );
            } catch (err) {
              const reset = /reset by peer|connection closed before message completed/i
                .test(String((err as Error)?.cause ?? err));
              if (!reset || attempt >= OVERLOAD_RETRIES_MAX) throw err;
              continue;
            }
            const body = await res.json() as Record<string, unknown>;
            if (res.status !== 503 || attempt >= OVERLOAD_RETRIES_MAX) {
              return { status: res.status, body };
            }
            await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
          }
        };

        // ---- A. 100 concurrent computes on 10 epochs, conflicting and repeated run keys.
        const epochs = Array.from({ length: 10 }, (_, i) => `mi-a-${i}`);
        for (const e of epochs) await Promise.all([inputsFor(e, 0), inputsFor(e, 1)]);
        const results = await Promise.all(Array.from({ length: 100 }, async (_, i) => {
          const epochId = epochs[i % 10]!;
          const sample = Math.floor(i / 10) % 2; // 5 asks with each run key per epoch
          return { epochId, ...(await compute(instances[i % 3]!, epochId, sample)) };
        }));
        const committed = new Map<string, string>();
        for (const epochId of epochs) {
          const rows = await sql`
            SELECT run_key FROM rewarder.commitments WHERE tenant = 'dev' AND epoch_id = ${epochId}`;
          assert.equal(
            rows.length,
            1,
            `one commitment for ${epochId}; answers: ${
              JSON.stringify(
                results.filter((r) => r.epochId === epochId).map((
                  r,
                ) => [r.status, r.body.error ?? r.body.replayed]),
              )
            }`,
          );
          const holder = rows[0]!.run_key as string;
          committed.set(epochId, holder);
          const mine = results.filter((r) => r.epochId === epochId);
          const ok = mine.filter((r) => r.status === 200);
          assert.deepEqual(
            mine.filter((r) => r.status !== 200 && r.status !== 409).map((r) => r.status),
            [],
            `${epochId}: every answer is the run or CONFLICT: ${
              JSON.stringify(mine.find((r) => r.status !== 200 && r.status !== 409)?.body)
            }`,
          );
          assert.equal(ok.length, 5, `${epochId}: the 5 asks of the winning run key succeed`);
          assert.ok(ok.every((r) => r.body.run_key === holder), `${epochId}: one run key answers`);
          assert.equal(
            ok.filter((r) => r.body.replayed === false).length,
            1,
            `${epochId}: exactly one fresh commit, the rest are replays`,
          );
        }
        const outboxA = await sql`SELECT count(*)::int AS n FROM rewarder.outbox`;
        assert.equal(outboxA[0]!.n, epochs.length, "one outbox intent per committed run");
        const statsA = await waitFor("phase A deliveries", DELIVERY_WAIT_MS, async () => {
          const s = await ledgerStats();
          return Object.keys(s.applied).length >= committed.size ? s : undefined;
        });
        assert.deepEqual(
          Object.keys(statsA.applied).sort(),
          [...committed.values()].map(ik).sort(),
          "the ledger applied exactly the committed runs, under their intent keys",
        );
        // The ledger answers before the instance records the answer: wait for the rows too.
        const statesA = await waitFor("phase A acknowledgements", DELIVERY_WAIT_MS, async () => {
          const rows = await sql<{ run_key: string; state: string; attempts: number }[]>`
            SELECT run_key, state, attempts FROM rewarder.outbox`;
          return rows.every((r) => r.state !== "pending") ? rows : undefined;
        });
        assert.ok(statesA.every((r) => r.state === "accepted" || r.state === "duplicate"));
        // A second delivery is legitimate only after a failed cycle (attempts ≥ 2); two
        // instances sending at once would show a duplicate with a single recorded attempt.
        for (const key of Object.keys((await ledgerStats()).duplicates)) {
          const row = statesA.find((r) => ik(r.run_key) === key);
          assert.ok(row !== undefined && row.attempts >= 2, "no intent was sent twice at once");
        }

        // ---- A2. One snapshot under 6 epochs on 3 instances at once: exactly one epoch settles
        // it, the others are 409 inputs_settled (contract §5, one database decides).
        const oneSnapshot = await inputsFor("mi-a2", 0);
        const resA2 = await Promise.all(Array.from(
          { length: 6 },
          (_, i) => compute(instances[i % 3]!, `mi-a2-${i}`, 0, token, oneSnapshot),
        ));
        assert.equal(resA2.filter((r) => r.status === 200).length, 1, "one epoch settles it");
        assert.deepEqual(
          resA2.filter((r) => r.status !== 200).map((r) =>
            (r.body.error as { reason?: string } | undefined)?.reason
          ),
          Array(5).fill("inputs_settled"),
        );
        const settledUnder = await sql`
          SELECT epoch_id FROM rewarder.inputs_commitments
          WHERE tenant = 'dev' AND inputs_cid = ${oneSnapshot}`;
        assert.equal(settledUnder.length, 1);

        // ---- B. Intents in flight; kill -9 the instance holding claims; others take over.
        const kEpochs = Array.from({ length: 6 }, (_, i) => `mi-b-${i}`);
        await (await fetch(`${ledgerUrl}/_faults`, {
          method: "POST",
          body: JSON.stringify({ faults: kEpochs.map(() => `delay:${LEDGER_DELAY_MS}`) }),
          signal: AbortSignal.timeout(5_000),
        })).body?.cancel();
        const resB = await Promise.all(kEpochs.map((e, i) => compute(instances[i % 3]!, e, 0)));
        assert.deepEqual(resB.map((r) => r.status), kEpochs.map(() => 200));
        const leased = await waitFor("a live claim", 15_000, async () => {
          const rows = await sql<{ run_key: string; lease_owner: string }[]>`
            SELECT run_key, lease_owner FROM rewarder.outbox
            WHERE state = 'pending' AND lease_until > clock_timestamp()`;
          return rows.length > 0 ? rows : undefined;
        });
        const owner = leased[0]!.lease_owner;
        const victimPid = Number(owner.split("/")[1]);
        const victim = instances.find((c) => c.proc.pid === victimPid);
        assert.ok(victim, `the lease owner ${owner} is one of the instances`);
        victim.proc.kill("SIGKILL");
        await victim.proc.status;
        const held = await sql<{ run_key: string; lease_owner: string; state: string }[]>`
          SELECT run_key, lease_owner, state FROM rewarder.outbox WHERE lease_owner = ${owner}`;
        assert.ok(held.length > 0, "the victim held claims when it died");
        assert.ok(held.every((r) => r.state === "pending"), "its intents were still in flight");
        const heldKeys = held.map((r) => r.run_key);
        const finalB = await waitFor(
          "the victim's intents delivered by the others",
          DELIVERY_WAIT_MS,
          async () => {
            const rows = await sql<
              { run_key: string; state: string; lease_owner: string | null }[]
            >`
            SELECT run_key, state, lease_owner FROM rewarder.outbox WHERE run_key IN ${
              sql(heldKeys)
            }`;
            return rows.every((r) => r.state !== "pending") ? rows : undefined;
          },
        );
        assert.ok(
          finalB.every((r) => r.state === "accepted" || r.state === "duplicate"),
          "every intent of the dead instance reached a final answer",
        );
        const statsB = await waitFor("all phase B deliveries", DELIVERY_WAIT_MS, async () => {
          const s = await ledgerStats();
          const commitsB =
            await sql`SELECT run_key FROM rewarder.commitments WHERE epoch_id LIKE 'mi-b-%'`;
          return commitsB.every((r) => s.applied[ik(r.run_key as string)] === 1) ? s : undefined;
        });
        const allCommits = await sql<
          { run_key: string }[]
        >`SELECT run_key FROM rewarder.commitments`;
        assert.deepEqual(
          Object.keys(statsB.applied).sort(),
          allCommits.map((r) => ik(r.run_key)).sort(),
          "one ledger intent applied per committed run, nothing else",
        );
        const stillPending =
          await sql`SELECT count(*)::int AS n FROM rewarder.outbox WHERE state = 'pending'`;
        assert.equal(stillPending[0]!.n, 0);

        // ---- C. max_runs is counted in the shared store: 3 runs across all instances.
        const survivors = instances.filter((c) => c !== victim);
        const limited = await tokenFor(paths.capsKeysPath, ["max_runs = 3"]);
        const resC = await Promise.all(
          Array.from(
            { length: 9 },
            (_, i) => compute(survivors[i % survivors.length]!, `mi-c-${i}`, 1, limited),
          ),
        );
        assert.equal(
          resC.filter((r) => r.status === 200).length,
          3,
          "max_runs = 3 across instances",
        );
        assert.equal(resC.filter((r) => r.status === 403).length, 6);
      } catch (err) {
        for (const c of children) console.error(`--- ${c.name} stderr tail ---\n${c.stderrTail()}`);
        throw err;
      } finally {
        await Promise.all(children.map(stopChild));
        await sql.end({ timeout: 1 });
        await db.drop().catch(() => undefined);
        await rm(root, { recursive: true, force: true });
      }
    },
  });
});
