/**
 * Test-only: finds the PostgreSQL database for the postgres store tests. The URL comes from
 * TEST_DATABASE_URL or, failing that, from `.ci/state/database_url` (written by
 * `.ci/setup.d/50-postgres.sh`; environment does not carry over from CI setup steps).
 *
 * Outside CI an unreachable database makes the tests skip with a visible message; with CI=true
 * it makes them fail (a missing service must never look like a pass).
 *
 * @module
 */
import postgres from "postgres";
import process from "node:process";
import { readFile } from "node:fs/promises";

/** Connect bound of the reachability probe, seconds. */
const PROBE_CONNECT_TIMEOUT_S = 5;
const URL_FILE = new URL("../../.ci/state/database_url", import.meta.url);

/** The reachable test database URL, or why there is none. */
export type TestDb = { url: string } | { url: undefined; why: string };

/** Resolves and probes the test database (one `SELECT 1`). */
export async function findTestDatabase(): Promise<TestDb> {
  let url = process.env["TEST_DATABASE_URL"]?.trim();
  if (!url) url = (await readFile(URL_FILE, "utf8").catch(() => "")).trim();
  if (!url) return { url: undefined, why: "no TEST_DATABASE_URL and no .ci/state/database_url" };
  const sql = postgres(url, {
    max: 1,
    connect_timeout: PROBE_CONNECT_TIMEOUT_S,
    onnotice: () => {},
  });
  try {
    await sql`SELECT 1`;
    return { url };
  } catch (err) {
    const code = (err as { code?: string }).code ?? "error";
    return { url: undefined, why: `database unreachable (${code})` };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}

/**
 * Registers `register(url)` when the database is reachable. Otherwise: with CI=true registers
 * one failing test; elsewhere prints a visible SKIP line and registers one ignored test.
 */
export async function withTestDatabase(
  suite: string,
  register: (url: string) => void,
): Promise<void> {
  const db = await findTestDatabase();
  if (db.url !== undefined) {
    register(db.url);
    return;
  }
  if (process.env["CI"] === "true") {
    Deno.test(`${suite}: PostgreSQL is required in CI`, () => {
      throw new Error(`${suite}: ${db.why} (run .ci/setup.d/50-postgres.sh)`);
    });
    return;
  }
  console.warn(
    `SKIP ${suite}: ${db.why}. Run .ci/setup.d/50-postgres.sh or set TEST_DATABASE_URL.`,
  );
  Deno.test({ name: `${suite}: SKIPPED (no PostgreSQL reachable)`, ignore: true, fn() {} });
}

/** A fresh schema name for one test store. */
export function freshSchema(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

/** Drops test schemas (best effort, bounded by the client's timeouts). */
export async function dropSchemas(url: string, schemas: Iterable<string>): Promise<void> {
  const sql = postgres(url, {
    max: 1,
    connect_timeout: PROBE_CONNECT_TIMEOUT_S,
    onnotice: () => {},
  });
  try {
    for (const s of schemas) await sql.unsafe(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => undefined);
  }
}
