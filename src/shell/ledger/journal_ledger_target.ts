/**
 * The embedded default ledger (LEDGER_URL unset): a local append-only settlement journal with
 * the same idempotent semantics as a remote ledger (contract §7): same key + same body →
 * `duplicate`, same key + different body → `conflict`.
 *
 * On disk (`path` given): one line per accepted intent, `{"key":"<run_key>","box":"<b64url>"}`
 * where `box` is the JCS intent sealed with the at-rest cipher under the logical name
 * `journal:<run_key>`; each append is fsync'd. The index is rebuilt on open; a torn last line
 * (crash mid-append) is cut off, any other unreadable line is a typed `store_undecryptable`
 * error. Without `path` (AMNESIA) the journal lives in memory and touches no file.
 *
 * @module
 */
import { open, readFile, truncate } from "node:fs/promises";
import type { LedgerIntent } from "../../core/types.ts";
import { canonicalBytes } from "../../core/canonical_json.ts";
import { blake3Hex } from "../../core/blake3.ts";
import { fromBase64Url, toBase64Url } from "../../core/base64url.ts";
import { createKeyedMutex } from "../store/keyed_mutex.ts";
import type { AtRestCipher } from "../store/at_rest_cipher.ts";
import { storeUndecryptable } from "../store/run_store.ts";
import type { LedgerAnswer, LedgerTarget } from "./ledger_target.ts";

/** Intents one journal holds before refusing (a bound on its in-memory index). */
export const JOURNAL_ENTRIES_MAX = 10_000_000;

/** A journal ledger plus read access for tests and forensics. */
export interface JournalLedgerTarget extends LedgerTarget {
  /** Applied intents, in order. */
  applied(): Promise<LedgerIntent[]>;
}

/** Options of {@link openJournalLedgerTarget}. */
export type JournalOptions = { path: string; cipher: AtRestCipher } | { path?: undefined };

/** Opens the journal (rebuilding its index from the file, if any). */
export async function openJournalLedgerTarget(
  options: JournalOptions,
): Promise<JournalLedgerTarget> {
  const index = new Map<string, string>(); // run key → blake3 hex of the JCS body
  const memory: LedgerIntent[] = [];
  const lock = createKeyedMutex();
  const file = options.path === undefined
    ? undefined
    : { path: options.path, cipher: options.cipher };
  const name = (key: string) => `journal:${key}`;

  async function readAll(): Promise<LedgerIntent[]> {
    if (file === undefined) return memory.map((i) => structuredClone(i));
    const text = await readFile(file.path, "utf8").catch((err: { code?: string }) => {
      if (err.code === "ENOENT") return "";
      throw err;
    });
    const out: LedgerIntent[] = [];
    const lines = text.split("\n");
    // Every complete line ends with "\n", so the last element is "" unless an append was torn.
    const tail = lines.pop() ?? "";
    for (const line of lines) {
      try {
        const row = JSON.parse(line) as { key: string; box: string };
        const plain = file.cipher.open(name(row.key), fromBase64Url(row.box));
        out.push(JSON.parse(new TextDecoder().decode(plain)) as LedgerIntent);
      } catch (err) {
        throw err instanceof SyntaxError || err instanceof TypeError ? storeUndecryptable() : err;
      }
    }
    if (tail !== "") {
      await truncate(
        file.path,
        new TextEncoder().encode(text).length - new TextEncoder().encode(tail).length,
      );
    }
    return out;
  }

  for (const intent of await readAll()) {
    index.set(intent.run_key, blake3Hex(canonicalBytes(intent)));
  }

  async function append(intent: LedgerIntent): Promise<void> {
    if (file === undefined) {
      memory.push(structuredClone(intent));
      return;
    }
    const box = toBase64Url(file.cipher.seal(name(intent.run_key), canonicalBytes(intent)));
    const fh = await open(file.path, "a", 0o600);
    try {
      await fh.writeFile(`${JSON.stringify({ key: intent.run_key, box })}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  return {
    send(intent, { signal }): Promise<LedgerAnswer> {
      return lock.run("journal", async () => {
        signal.throwIfAborted();
        const digest = blake3Hex(canonicalBytes(intent));
        const seen = index.get(intent.run_key);
        if (seen !== undefined) return seen === digest ? "duplicate" : "conflict";
        if (index.size >= JOURNAL_ENTRIES_MAX) throw new RangeError("journal full");
        await append(intent);
        index.set(intent.run_key, digest);
        return "accepted";
      });
    },
    applied: readAll,
  };
}
