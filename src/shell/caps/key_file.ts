/**
 * The caps key file (contract §12) and the reloading {@link KeyRing} (contract §9, security
 * §4: a revoked key epoch stops working within 60 s, without restart).
 *
 * File: `{"current_epoch":1,"epochs":{"1":"<base64url 32 bytes>"},"revoked":[]}`, strictly
 * validated (no other keys; canonical epoch numbers; the current epoch present and not
 * revoked), parsed strictly (I-JSON). Mode: no group/other permission bits (0600, or the
 * stricter 0400), checked on the open handle by the shell's one secret reader
 * (`readFileBounded` of src/shell/files/read_file.ts), so there is no stat/read race.
 *
 * @module
 */
import { fromBase64Url } from "../../core/base64url.ts";
import { parseStrictJson } from "../../core/strict_json.ts";
import { FileReadError, readFileBounded } from "../files/read_file.ts";
import { KEY_EPOCHS_MAX, KEY_FILE_BYTES_MAX, KEY_RELOAD_INTERVAL_MS_MAX } from "./limits.ts";

/** A validated caps key file. */
export interface CapsKeys {
  currentEpoch: number;
  /** Master secrets by key epoch (32 bytes each). */
  epochs: ReadonlyMap<number, Uint8Array>;
  revoked: ReadonlySet<number>;
}

/** Reads a key file: its permission bits and text. Injectable for tests. */
export type KeyFileReader = (path: string) => Promise<{ mode: number; text: string }>;

/** Reads through one handle (mode and bytes from the same inode), refusing a loose mode. */
export const readKeyFileWithMode: KeyFileReader = async (path) => {
  try {
    const { bytes, mode } = await readFileBounded(path, {
      maxBytes: KEY_FILE_BYTES_MAX,
      secret: true,
    });
    const text = new TextDecoder().decode(bytes);
    bytes.fill(0);
    return { mode, text };
  } catch (err) {
    if (err instanceof FileReadError && err.problem === "loose_mode") {
      fail(`its mode ${err.mode?.toString(8)} is looser than 0600`);
    }
    throw err;
  }
};

const EPOCH_KEY = /^[1-9][0-9]{0,8}$/;

function fail(what: string): never {
  throw new Error(`Cannot load caps key file as ${what}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates key file text; throws Error naming the rule broken (never a secret). */
export function parseCapsKeys(text: string): CapsKeys {
  const parsed = parseStrictJson(text);
  if (!parsed.ok) fail("it is not JSON, or not I-JSON (a duplicate member, a BOM)");
  const doc = parsed.value;
  if (!isPlainObject(doc)) fail("it is not an object");
  const keys = Object.keys(doc).sort().join(",");
  if (keys !== "current_epoch,epochs,revoked") {
    fail("its keys are not exactly current_epoch, epochs, revoked");
  }
  const { current_epoch: current, epochs, revoked } = doc;
  if (typeof current !== "number" || !EPOCH_KEY.test(String(current))) {
    fail("current_epoch is not an integer ≥ 1");
  }
  if (!isPlainObject(epochs)) fail("epochs is not an object");
  const entries = Object.entries(epochs);
  if (entries.length === 0 || entries.length > KEY_EPOCHS_MAX) {
    fail("epochs has too few or too many entries");
  }
  const secrets = new Map<number, Uint8Array>();
  for (const [k, v] of entries) {
    if (!EPOCH_KEY.test(k)) fail("an epoch key is not a canonical integer ≥ 1");
    let bytes: Uint8Array;
    try {
      bytes = fromBase64Url(typeof v === "string" ? v : "!");
    } catch {
      fail("a master secret is not base64url");
    }
    if (bytes.length !== 32) fail("a master secret is not 32 bytes");
    secrets.set(Number(k), bytes);
  }
  if (!Array.isArray(revoked) || revoked.length > KEY_EPOCHS_MAX) {
    fail("revoked is not a short array");
  }
  const revokedSet = new Set<number>();
  for (const r of revoked) {
    if (typeof r !== "number" || !EPOCH_KEY.test(String(r))) {
      fail("a revoked epoch is not an integer ≥ 1");
    }
    if (revokedSet.has(r)) fail("revoked lists an epoch twice");
    revokedSet.add(r);
  }
  if (!secrets.has(current)) fail("current_epoch has no master secret");
  if (revokedSet.has(current)) fail("current_epoch is revoked");
  return { currentEpoch: current, epochs: secrets, revoked: revokedSet };
}

/** Loads and validates a key file, refusing modes looser than 0600. */
export async function loadCapsKeys(
  path: string,
  reader: KeyFileReader = readKeyFileWithMode,
): Promise<CapsKeys> {
  const { mode, text } = await reader(path);
  if ((mode & 0o077) !== 0) fail(`its mode ${mode.toString(8)} is looser than 0600`);
  return parseCapsKeys(text);
}

/** Options of {@link openKeyRing}. */
export interface KeyRingOptions {
  path: string;
  /** Reload period; at most 60 000 ms (the revocation deadline). Default 60 000. */
  reloadIntervalMs?: number;
  /** Clock in epoch ms (injectable). Default Date.now. */
  nowMs?: () => number;
  /** File reader (injectable). Default {@link readKeyFileWithMode}. */
  reader?: KeyFileReader;
  /**
   * Told after a reload that changed the current epoch or revoked an epoch (for the audit
   * log's `key_epoch_changed`); never told about the secrets.
   */
  onChange?: (change: KeyEpochChange) => void;
}

/** A change of the key ring seen by a reload: a new current epoch, or a newly revoked one. */
export interface KeyEpochChange {
  kind: "current" | "revoked";
  keyEpoch: number;
}

/** The live caps keys: reloads lazily on use once the interval has passed, and on demand. */
export interface KeyRing {
  /** The epoch's master secret, or undefined when unknown or revoked. May reload first. */
  masterSecretFor(keyEpoch: number): Promise<Uint8Array | undefined>;
  /** The epoch new tokens are minted under (last good file). */
  currentEpoch(): number;
  /** `unreadable` while the last reload failed (the last good keys stay in use); for /readyz. */
  status(): "ok" | "unreadable";
  /** Reloads now; never throws (a failure keeps the last good keys and flips status). */
  reload(): Promise<void>;
  /** Starts a background timer reloading every interval (unref'd); returns its stopper. */
  startTimer(): () => void;
  /**
   * Calls `listener` after every reload that changed the keys in any way (current epoch, a
   * secret, an epoch added or removed, a revocation); returns its remover. What derives from
   * the keys (the verified tokens cache, src/shell/caps/verified_tokens.ts) forgets itself there.
   */
  subscribe(listener: () => void): () => void;
}

/** True when two key sets are the same: current epoch, secrets (bytes) and revocations. */
export function sameCapsKeys(a: CapsKeys, b: CapsKeys): boolean {
  if (a.currentEpoch !== b.currentEpoch || a.epochs.size !== b.epochs.size) return false;
  if (a.revoked.size !== b.revoked.size || [...a.revoked].some((r) => !b.revoked.has(r))) {
    return false;
  }
  for (const [epoch, secret] of a.epochs) {
    const other = b.epochs.get(epoch);
    if (other === undefined || other.length !== secret.length) return false;
    let diff = 0;
    for (let i = 0; i < secret.length; i++) diff |= secret[i]! ^ other[i]!;
    if (diff !== 0) return false;
  }
  return true;
}

/**
 * Opens the key ring. Throws (the service must refuse to start) when the file is missing,
 * invalid or too permissive at startup.
 */
export async function openKeyRing(options: KeyRingOptions): Promise<KeyRing> {
  const intervalMs = options.reloadIntervalMs ?? KEY_RELOAD_INTERVAL_MS_MAX;
  if (!(intervalMs > 0 && intervalMs <= KEY_RELOAD_INTERVAL_MS_MAX)) {
    throw new RangeError(
      `Cannot open key ring as reloadIntervalMs is ${intervalMs}: must be in (0, 60000]`,
    );
  }
  const nowMs = options.nowMs ?? Date.now;
  const reader = options.reader ?? readKeyFileWithMode;
  let keys = await loadCapsKeys(options.path, reader);
  let loadedAtMs = nowMs();
  let healthy = true;
  let inflight: Promise<void> | undefined;
  const listeners = new Set<() => void>();

  function reload(): Promise<void> {
    inflight ??= (async () => {
      try {
        const previous = keys;
        keys = await loadCapsKeys(options.path, reader);
        healthy = true;
        if (!sameCapsKeys(previous, keys)) { for (const listener of listeners) listener(); }
        if (keys.currentEpoch !== previous.currentEpoch) {
          options.onChange?.({ kind: "current", keyEpoch: keys.currentEpoch });
        }
        for (const r of keys.revoked) {
          if (!previous.revoked.has(r)) options.onChange?.({ kind: "revoked", keyEpoch: r });
        }
      } catch {
        healthy = false; // keep the last good keys; /readyz reports it
      } finally {
        loadedAtMs = nowMs();
        inflight = undefined;
      }
    })();
    return inflight;
  }

  return {
    async masterSecretFor(keyEpoch) {
      if (nowMs() - loadedAtMs >= intervalMs) await reload();
      if (keys.revoked.has(keyEpoch)) return undefined;
      return keys.epochs.get(keyEpoch);
    },
    currentEpoch: () => keys.currentEpoch,
    status: () => (healthy ? "ok" : "unreadable"),
    reload,
    startTimer() {
      const timer = setInterval(() => void reload(), intervalMs);
      (timer as unknown as { unref?: () => void }).unref?.();
      return () => clearInterval(timer);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
