/**
 * The embedded default ledger (LEDGER_URL unset): a local append-only settlement journal with
 * the same idempotent semantics as a remote ledger (contract §7): keys are scoped by tenant
 * (the only caller is this service); same key + same body bytes → `duplicate`, same key +
 * different bytes → `conflict`.
 *
 * On disk (`path` given): one line per accepted intent, `{"key":"<Idempotency-Key>","box":
 * "<b64url>"}` where `box` is the body bytes exactly as sent (the queued JCS text) sealed with
 * the at-rest cipher under the logical name `journal:<key>`; each append is fsync'd. A journal
 * written before contract v2 has the same lines (key = run key, box = JCS of the v1 intent,
 * which is what a pending v1 intent is still sent as), so it reads unchanged. The index is
 * rebuilt on open (the tenant of a line is its body's `tenant`); a torn last line (crash
 * mid-append) is cut off, any other unreadable line is a typed `store_undecryptable` error.
 * Without `path` (AMNESIA) the journal lives in memory and touches no file.
 *
 * @module
 */
import { open, readFile, truncate } from "node:fs/promises";
import { blake3Hex } from "../../core/blake3.ts";
import { fromBase64Url } from "../../core/base64url.ts";
import { base64UrlChunks, blake3HexOfTexts, utf8Slices } from "../files/text_chunks.ts";
import { createKeyedMutex } from "../store/keyed_mutex.ts";
import { type AtRestCipher, sealedChunks } from "../store/at_rest_cipher.ts";
import { storeUndecryptable } from "../store/run_store.ts";
import type { LedgerAnswer, LedgerTarget } from "./ledger_target.ts";
import { type LedgerIntent } from "../../core/mod.ts";

/** Intents one journal holds before refusing (a bound on its in-memory index). */
export const JOURNAL_ENTRIES_MAX = 10_000_000;

/** One applied intent as the journal keeps it. */
export interface JournalEntry {
  tenant: string;
  /** The Idempotency-Key it was applied under. */
  key: string;
  /** The body text exactly as sent. */
  body: string;
}

/** A journal ledger plus read access for tests and forensics. */
export interface JournalLedgerTarget extends LedgerTarget {
  /** Applied intents (their bodies parsed), in order. */
  applied(): Promise<LedgerIntent[]>;
  /** Applied entries with their keys and exact bodies, in order. */
  entries(): Promise<JournalEntry[]>;
}

/** Options of {@link openJournalLedgerTarget}. */
export type JournalOptions = { path: string; cipher: AtRestCipher } | { path?: undefined };

const enc = new TextEncoder();

/** The tenant a body names (contract §7: `tenant` is a member of every intent). */
function tenantOfBody(body: string): string {
  const tenant = (JSON.parse(body) as { tenant?: unknown }).tenant;
  if (typeof tenant !== "string") throw storeUndecryptable();
  return tenant;
}

/** Opens the journal (rebuilding its index from the file, if any). */
export async function openJournalLedgerTarget(
  options: JournalOptions,
): Promise<JournalLedgerTarget> {
  const index = new Map<string, string>(); // tenant \0 key → blake3 hex of the body bytes
  const memory: JournalEntry[] = [];
  const lock = createKeyedMutex();
  const file = options.path === undefined
    ? undefined
    : { path: options.path, cipher: options.cipher };
  const name = (key: string) => `journal:${key}`;

  async function readAll(): Promise<JournalEntry[]> {
    if (file === undefined) return memory.map((e) => ({ ...e }));
    const text = await readFile(file.path, "utf8").catch((err: { code?: string }) => {
      if (err.code === "ENOENT") return "";
      throw err;
    });
    const out: JournalEntry[] = [];
    const lines = text.split("\n");
    // Every complete line ends with "\n", so the last element is "" unless an append was torn.
    const tail = lines.pop() ?? "";
    for (const line of lines) {
      try {
        const row = JSON.parse(line) as { key: string; box: string };
        const body = new TextDecoder().decode(
          file.cipher.open(name(row.key), fromBase64Url(row.box)),
        );
        out.push({ tenant: tenantOfBody(body), key: row.key, body });
      } catch (err) {
        throw err instanceof SyntaxError || err instanceof TypeError ? storeUndecryptable() : err;
      }
    }
    if (tail !== "") {
      await truncate(file.path, enc.encode(text).length - enc.encode(tail).length);
    }
    return out;
  }

  for (const e of await readAll()) {
    index.set(`${e.tenant}\u0000${e.key}`, blake3Hex(enc.encode(e.body)));
  }

  async function append(entry: JournalEntry): Promise<void> {
    if (file === undefined) {
      memory.push({ ...entry });
      return;
    }
    // The line `{"key":…,"box":…}` is written a piece at a time (the body sealed and base64'd
    // a slice at a time, text_chunks.ts), the loop serving requests between pieces; a crash
    // midway leaves a torn last line, cut off at the next open like any torn append.
    const sealed = sealedChunks(file.cipher, name(entry.key), utf8Slices([entry.body]));
    const fh = await open(file.path, "a", 0o600);
    try {
      const write = async (text: string) => {
        const bytes = enc.encode(text);
        for (let at = 0; at < bytes.length;) {
          at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
        }
      };
      await write(`{"key":${JSON.stringify(entry.key)},"box":"`);
      for await (const piece of base64UrlChunks(sealed)) await write(piece);
      await write(`"}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  return {
    send(intent, { tenant, signal }): Promise<LedgerAnswer> {
      return lock.run("journal", async () => {
        signal.throwIfAborted();
        const digest = await blake3HexOfTexts([intent.body]);
        const scoped = `${tenant}\u0000${intent.idempotencyKey}`;
        const seen = index.get(scoped);
        if (seen !== undefined) return seen === digest ? "duplicate" : "conflict";
        if (index.size >= JOURNAL_ENTRIES_MAX) throw new RangeError("journal full");
        await append({ tenant, key: intent.idempotencyKey, body: intent.body });
        index.set(scoped, digest);
        return "accepted";
      });
    },
    // Under the appenders' lock: a line being appended is not taken for a torn one.
    async applied() {
      const all = await lock.run("journal", readAll);
      return all.map((e) => JSON.parse(e.body) as LedgerIntent);
    },
    entries: () => lock.run("journal", readAll),
  };
}
