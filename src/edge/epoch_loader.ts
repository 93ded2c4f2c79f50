/**
 * Loading a published epoch for the edge (contract §13): the signed pointer, then the object
 * it names, both checked before anything is kept or served. Verified envelopes are kept in an
 * LRU bounded by bytes (keyed by manifest hash: content-addressed, so immutable); a verified
 * pointer's hash is remembered per epoch (an epoch commits once, §10). Concurrent requests for
 * one epoch share one origin read and one verification. A failure is never cached: the next
 * request reads the origin again.
 *
 * @module
 */
import {
  checkPublishedEpoch,
  objectPath,
  originIntegrity,
  pointerPath,
  verifyPointer,
} from "../core/publication.ts";
import { parseStrictJson } from "../core/strict_json.ts";
import { ByteLru } from "./byte_lru.ts";
import type { EdgeMetrics } from "./edge_metrics.ts";
import type { OriginReader } from "./origin.ts";
import {
  RewarderError,
  type SealedEnvelope,
  type VerifyKey,
  type VerifyOptions,
} from "../core/mod.ts";

/** A published epoch that passed every check, with the exact bytes to serve. */
export interface LoadedEpoch {
  envelope: SealedEnvelope;
  /** The object's bytes: the envelope's JCS (checked). */
  bytes: Uint8Array;
  manifestHash: string;
}

/** Bounds of the loader. */
export interface EpochLoaderLimits {
  /** Largest pointer read, bytes (16 signatures of ML-DSA-65 are ~72 KiB). */
  pointerBytesMax: number;
  /** Largest object read, bytes (a 1M-recipient envelope is ~60 MB). */
  objectBytesMax: number;
  /** Verified envelopes kept, by object bytes. */
  envelopeCacheBytesMax: number;
  /** Epoch → manifest hash entries kept. */
  pointersMax: number;
}

/** Defaults of {@link EpochLoaderLimits}. */
export const EPOCH_LOADER_LIMITS: Readonly<EpochLoaderLimits> = Object.freeze({
  pointerBytesMax: 128 * 1024,
  objectBytesMax: 128 * 1024 * 1024,
  envelopeCacheBytesMax: 64 * 1024 * 1024,
  pointersMax: 16_384,
});

/** Entries of the envelope cache at most, whatever their size. */
const ENVELOPES_MAX = 4096;

/** Options of {@link epochLoader}. */
export interface EpochLoaderOptions {
  tenant: string;
  origin: OriginReader;
  keys: readonly VerifyKey[];
  verify: VerifyOptions;
  limits: EpochLoaderLimits;
  metrics: EdgeMetrics;
}

/** The loader: `load(epochId)` → a checked epoch, or a RewarderError (404, 503). */
export interface EpochLoader {
  load(epochId: string): Promise<LoadedEpoch>;
  /** Bytes held by the envelope cache. */
  cacheBytes(): number;
}

/**
 * Builds a loader. `load` throws NOT_FOUND `unknown_epoch` when the origin has no pointer
 * for the epoch, DEPENDENCY_UNAVAILABLE `origin_integrity` (counted) when a check fails or
 * the pointer names a missing object, and the origin reader's errors (counted) otherwise.
 */
export function epochLoader(o: EpochLoaderOptions): EpochLoader {
  const envelopes = new ByteLru<LoadedEpoch>({
    bytesMax: o.limits.envelopeCacheBytesMax,
    entriesMax: ENVELOPES_MAX,
  });
  const pointers = new ByteLru<string>({
    bytesMax: o.limits.pointersMax,
    entriesMax: o.limits.pointersMax,
  });
  const inflight = new Map<string, Promise<LoadedEpoch>>();

  function integrity(err: RewarderError): never {
    o.metrics.originIntegrityFailures += 1;
    throw err;
  }

  async function read(path: string, bytesMax: number) {
    try {
      return await o.origin(path, bytesMax);
    } catch (err) {
      if (
        err instanceof RewarderError &&
        (err.reason === "source_unreachable" || err.reason === "source_status" ||
          err.reason === "source_oversize")
      ) {
        o.metrics.originFailure(err.reason);
      }
      throw err;
    }
  }

  function cached(epochId: string, hash: string): LoadedEpoch | undefined {
    const hit = envelopes.get(hash);
    // The same bytes could only sit under another epoch if its signer said so; never serve
    // an envelope under an epoch its manifest does not name.
    return hit !== undefined && hit.envelope.manifest.epoch_id === epochId ? hit : undefined;
  }

  async function fetchAndCheck(epochId: string): Promise<LoadedEpoch> {
    const pointerAnswer = await read(pointerPath(o.tenant, epochId), o.limits.pointerBytesMax);
    if (!pointerAnswer.found) throw new RewarderError("NOT_FOUND", "unknown_epoch");
    const parsed = parseStrictJson(pointerAnswer.bytes);
    if (!parsed.ok) integrity(originIntegrity("pointer"));
    const pointer = verifyPointer(parsed.value, o.keys, { tenant: o.tenant, epochId }, o.verify);
    if (!pointer.ok) integrity(pointer.error);
    const hash = pointer.value.manifest_hash;
    const hit = cached(epochId, hash);
    if (hit !== undefined) {
      pointers.set(epochId, hash, 1);
      return hit;
    }
    const objectAnswer = await read(objectPath(o.tenant, hash), o.limits.objectBytesMax);
    if (!objectAnswer.found) integrity(originIntegrity("object"));
    const checked = checkPublishedEpoch({
      pointerBytes: pointerAnswer.bytes,
      objectBytes: objectAnswer.bytes,
      keys: o.keys,
      tenant: o.tenant,
      epochId,
      options: o.verify,
    });
    if (!checked.ok) integrity(checked.error);
    const loaded = {
      envelope: checked.value.envelope,
      bytes: objectAnswer.bytes,
      manifestHash: hash,
    };
    envelopes.set(hash, loaded, loaded.bytes.byteLength);
    pointers.set(epochId, hash, 1);
    return loaded;
  }

  return {
    load(epochId) {
      const known = pointers.get(epochId);
      const hit = known === undefined ? undefined : cached(epochId, known);
      o.metrics.cache("envelopes", hit !== undefined);
      if (hit !== undefined) return Promise.resolve(hit);
      const running = inflight.get(epochId);
      if (running !== undefined) return running;
      const loading = fetchAndCheck(epochId).finally(() => inflight.delete(epochId));
      inflight.set(epochId, loading);
      return loading;
    },
    cacheBytes: () => envelopes.bytes,
  };
}
