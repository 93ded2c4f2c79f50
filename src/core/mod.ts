/**
 * The engine's front door: everything a caller outside `src/core/` needs to compute, seal,
 * verify and prove a run (contract §2–§7), pure and deterministic (no I/O, no clock, no
 * randomness). The shell, the command line, the routes, the auditor's page and the edge import
 * the engine from here; the modules behind it stay free to move.
 *
 * Money is a decimal string of minor units on the wire and a `bigint` inside; ids are branded
 * strings ({@link Cid}, {@link EpochId}, {@link RunKey}, {@link IntentKey}) made by the checked
 * constructors, plain strings on the wire. Failures by rule are `Result` values carrying a
 * {@link RewarderError} (contract §8); a quarantine is a value, not an error.
 *
 * @example One run, end to end
 * ```ts
 * import {
 *   computeManifest,
 *   parsePolicy,
 *   policyHashOf,
 *   publicKeyOf,
 *   sealManifest,
 *   verifyEnvelope,
 * } from "./mod.ts";
 *
 * const policyDoc = {
 *   schema: "svc-rewarder.policy.v1",
 *   policy_id: "votes",
 *   version: 1,
 *   asset: "roc",
 *   funding_source: "protocol_pool",
 *   allocation: "largest_remainder",
 *   pool: { source: "inputs" },
 *   score: [{ metric: "votes", mul: "1", div: "1" }],
 * };
 * const policy = parsePolicy(policyDoc);
 * if (!policy.ok) throw policy.error;
 * const inputs = new TextEncoder().encode(JSON.stringify({
 *   schema: "svc-rewarder.inputs.v1",
 *   epoch_id: "2025-01",
 *   asset: "roc",
 *   pool_minor: "10",
 *   entries: [{ account: "alice", metrics: { votes: "1" } }, {
 *     account: "bob",
 *     metrics: { votes: "3" },
 *   }],
 * }));
 * const run = computeManifest({
 *   epochId: "2025-01",
 *   inputsBytes: inputs,
 *   policy: policy.value.policy,
 *   policyHash: policyHashOf(policyDoc),
 * });
 * if (!run.ok) throw run.error;
 * const seed = new Uint8Array(32).fill(7);
 * const envelope = await sealManifest(run.value.manifest, [{ alg: "ed25519", kid: "k1", seed }]);
 * const keys = [{
 *   alg: "ed25519",
 *   kid: "k1",
 *   publicKey: publicKeyOf(seed),
 *   status: "active",
 * }] as const;
 * if (!verifyEnvelope(envelope, keys).ok) throw new Error("unreachable");
 * ```
 *
 * @module
 */

/**
 * Runs one epoch: inputs bytes + verified policy → manifest, its hash, the run key and the
 * inputs CID (contract §2–§6). The inputs CID is over exactly the given bytes.
 *
 * @example
 * ```ts
 * import { computeManifest, parsePolicy, policyHashOf } from "./mod.ts";
 *
 * const doc = {
 *   schema: "svc-rewarder.policy.v1",
 *   policy_id: "votes",
 *   version: 1,
 *   asset: "roc",
 *   funding_source: "protocol_pool",
 *   allocation: "largest_remainder",
 *   pool: { source: "inputs" },
 *   score: [{ metric: "votes", mul: "1", div: "1" }],
 * };
 * const policy = parsePolicy(doc);
 * if (!policy.ok) throw policy.error;
 * const inputsBytes = new TextEncoder().encode(
 *   '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e1","asset":"roc","pool_minor":"10",' +
 *     '"entries":[{"account":"a","metrics":{"votes":"1"}},{"account":"b","metrics":{"votes":"3"}}]}',
 * );
 * const run = computeManifest({
 *   epochId: "e1",
 *   inputsBytes,
 *   policy: policy.value.policy,
 *   policyHash: policyHashOf(doc),
 * });
 * if (!run.ok || run.value.manifest.totals.payout_minor !== "10") throw new Error("10 paid");
 *
 * // A malformed epoch id is a typed refusal, not a throw:
 * const bad = computeManifest({
 *   epochId: "..",
 *   inputsBytes,
 *   policy: policy.value.policy,
 *   policyHash: policyHashOf(doc),
 * });
 * if (bad.ok || bad.error.reason !== "schema") throw new Error("refused");
 * ```
 */
export { computeManifest } from "./compute.ts";

/**
 * Seals a manifest: signs `domain + manifest_hash` with every key (at least one Ed25519),
 * the domain chosen by the manifest's schema (contract §6).
 *
 * @example
 * ```ts
 * import { computeManifest, parsePolicy, policyHashOf, sealManifest } from "./mod.ts";
 *
 * const doc = {
 *   schema: "svc-rewarder.policy.v1",
 *   policy_id: "p",
 *   version: 1,
 *   asset: "roc",
 *   funding_source: "protocol_pool",
 *   allocation: "largest_remainder",
 *   pool: { source: "inputs" },
 *   score: [{ metric: "votes", mul: "1", div: "1" }],
 * };
 * const policy = parsePolicy(doc);
 * if (!policy.ok) throw policy.error;
 * const run = computeManifest({
 *   epochId: "e1",
 *   inputsBytes: new TextEncoder().encode(
 *     '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e1","asset":"roc","pool_minor":"5","entries":[{"account":"a","metrics":{"votes":"1"}}]}',
 *   ),
 *   policy: policy.value.policy,
 *   policyHash: policyHashOf(doc),
 * });
 * if (!run.ok) throw run.error;
 * const envelope = await sealManifest(
 *   run.value.manifest,
 *   [{ alg: "ed25519", kid: "k1", seed: new Uint8Array(32).fill(1) }],
 *   run.value.manifestHash,
 * );
 * if (envelope.manifest_hash !== run.value.manifestHash) throw new Error("same hash");
 * if (envelope.signatures[0]?.kid !== "k1") throw new Error("signed by k1");
 * ```
 */
export { sealManifest } from "./seal.ts";

/**
 * Verifies an untrusted envelope (`unknown`: from a file, a store or an origin): exact
 * members, the manifest's schema and arithmetic, the hash, and the signature rule against the
 * published keys (contract §6). A failure is a `Result` with the reason.
 *
 * @example
 * ```ts
 * import { verifyEnvelope } from "./mod.ts";
 *
 * const checked = verifyEnvelope({ manifest: {}, manifest_hash: "b3:00", signatures: [] }, []);
 * if (checked.ok) throw new Error("a malformed envelope never verifies");
 * console.log(checked.error.reason, checked.error.path); // e.g. "schema", a field path
 * ```
 */
export { verifyEnvelope } from "./seal.ts";

/**
 * The envelope checks without the signatures (members, manifest, hash): for tools that compare
 * envelopes without the published keys. Use {@link verifyEnvelope} to trust one.
 *
 * @example
 * ```ts
 * import { checkEnvelopeUnsigned } from "./mod.ts";
 *
 * const checked = checkEnvelopeUnsigned({ manifest: {}, manifest_hash: "b3:00", signatures: [] });
 * if (checked.ok) throw new Error("a malformed envelope never passes");
 * ```
 */
export { checkEnvelopeUnsigned } from "./seal.ts";

/**
 * The proof document of one account's payout in an envelope, in the envelope's schema
 * (`svc-rewarder.proof.v2` for v2: the header, the leaf, its index and the Merkle path;
 * contract §6), or `undefined` when the account is not paid.
 *
 * @example
 * ```ts
 * import {
 *   computeManifest,
 *   parsePolicy,
 *   policyHashOf,
 *   proofDocumentOf,
 *   publicKeyOf,
 *   sealManifest,
 *   verifyProofDocument,
 * } from "./mod.ts";
 *
 * const doc = {
 *   schema: "svc-rewarder.policy.v1",
 *   policy_id: "p",
 *   version: 1,
 *   asset: "roc",
 *   funding_source: "protocol_pool",
 *   allocation: "largest_remainder",
 *   pool: { source: "inputs" },
 *   score: [{ metric: "votes", mul: "1", div: "1" }],
 * };
 * const policy = parsePolicy(doc);
 * if (!policy.ok) throw policy.error;
 * const run = computeManifest({
 *   epochId: "e1",
 *   inputsBytes: new TextEncoder().encode(
 *     '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e1","asset":"roc","pool_minor":"9","entries":[' +
 *       '{"account":"a","metrics":{"votes":"1"}},{"account":"b","metrics":{"votes":"2"}}]}',
 *   ),
 *   policy: policy.value.policy,
 *   policyHash: policyHashOf(doc),
 * });
 * if (!run.ok) throw run.error;
 * const seed = new Uint8Array(32).fill(2);
 * const envelope = await sealManifest(run.value.manifest, [{ alg: "ed25519", kid: "k", seed }]);
 * const proof = proofDocumentOf(envelope, "b");
 * if (proof === undefined || proofDocumentOf(envelope, "nobody") !== undefined) {
 *   throw new Error("b is paid, nobody is not");
 * }
 * const keys = [{ alg: "ed25519", kid: "k", publicKey: publicKeyOf(seed), status: "active" }] as const;
 * if (!verifyProofDocument(proof, keys).ok) throw new Error("the proof verifies");
 * ```
 */
export { proofDocumentOf } from "./proof.ts";

/**
 * Verifies an untrusted proof document with the published keys only (contract §6): the leaf,
 * its index, the path to `payouts_root`, the header's hash and the signature rule. A document
 * without `schema` is read as v1.
 *
 * @example
 * ```ts
 * import { verifyProofDocument } from "./mod.ts";
 *
 * const checked = verifyProofDocument({ schema: "svc-rewarder.proof.v2" }, []);
 * if (checked.ok || checked.error.reason !== "schema") throw new Error("refused");
 * ```
 */
export { verifyProofDocument } from "./proof.ts";

/**
 * The `svc-rewarder.intent.v2` of a sealed v2 envelope (contract §7): the transfers (payouts,
 * then the fee), their total, the tenant and the intent key the ledger deduplicates on.
 *
 * @example
 * ```ts
 * import {
 *   computeManifest,
 *   intentKeyOf,
 *   intentOf,
 *   parsePolicy,
 *   policyHashOf,
 *   sealManifest,
 * } from "./mod.ts";
 *
 * const doc = {
 *   schema: "svc-rewarder.policy.v1",
 *   policy_id: "p",
 *   version: 1,
 *   asset: "roc",
 *   funding_source: "protocol_pool",
 *   allocation: "largest_remainder",
 *   pool: { source: "inputs" },
 *   score: [{ metric: "votes", mul: "1", div: "1" }],
 * };
 * const policy = parsePolicy(doc);
 * if (!policy.ok) throw policy.error;
 * const run = computeManifest({
 *   epochId: "e1",
 *   inputsBytes: new TextEncoder().encode(
 *     '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e1","asset":"roc","pool_minor":"7","entries":[{"account":"a","metrics":{"votes":"1"}}]}',
 *   ),
 *   policy: policy.value.policy,
 *   policyHash: policyHashOf(doc),
 * });
 * if (!run.ok) throw run.error;
 * const envelope = await sealManifest(run.value.manifest, [{
 *   alg: "ed25519",
 *   kid: "k",
 *   seed: new Uint8Array(32).fill(3),
 * }]);
 * const intentKey = intentKeyOf({ tenant: "acme", runKey: run.value.runKey });
 * const intent = intentOf(envelope, { tenant: "acme", intentKey });
 * if (intent.total_minor !== "7" || intent.intent_key !== intentKey) throw new Error("intent");
 * ```
 */
export { intentOf } from "./intent.ts";

/**
 * The run key (contract §5) from named, checked parts: swapping two CIDs, or passing an
 * unchecked string, does not compile.
 *
 * @example
 * ```ts
 * import { asCid, asEpochId, DEFAULT_IDEMPOTENCY_SALT, runKeyOf } from "./mod.ts";
 *
 * const runKey = runKeyOf({
 *   epochId: asEpochId("2025-01"),
 *   policyHash: asCid("b3:" + "a".repeat(64)),
 *   inputsCid: asCid("b3:" + "b".repeat(64)),
 *   salt: DEFAULT_IDEMPOTENCY_SALT, // the default when omitted
 * });
 * if (!runKey.startsWith("b3:")) throw new Error("a run key is a CID");
 * ```
 */
export { DEFAULT_IDEMPOTENCY_SALT, runKeyOf } from "./run_key.ts";

/**
 * The intent key of a tenant's run (contract §5): the ledger's Idempotency-Key. Two tenants
 * with the same run never share one.
 *
 * @example
 * ```ts
 * import { asRunKey, intentKeyOf } from "./mod.ts";
 *
 * const runKey = asRunKey("b3:" + "0".repeat(64));
 * const a = intentKeyOf({ tenant: "acme", runKey });
 * const b = intentKeyOf({ tenant: "umbrella", runKey });
 * if (a === b) throw new Error("distinct per tenant");
 * ```
 */
export { intentKeyOf } from "./run_key.ts";

/**
 * The header of a manifest (every member but `payouts`): what a v2 `manifest_hash` covers and
 * what a v2 proof document carries (contract §6).
 *
 * @example
 * ```ts
 * import { computeManifest, manifestHeaderOf, parsePolicy, policyHashOf } from "./mod.ts";
 *
 * const doc = {
 *   schema: "svc-rewarder.policy.v1",
 *   policy_id: "p",
 *   version: 1,
 *   asset: "roc",
 *   funding_source: "protocol_pool",
 *   allocation: "largest_remainder",
 *   pool: { source: "inputs" },
 *   score: [{ metric: "votes", mul: "1", div: "1" }],
 * };
 * const policy = parsePolicy(doc);
 * if (!policy.ok) throw policy.error;
 * const run = computeManifest({
 *   epochId: "e1",
 *   inputsBytes: new TextEncoder().encode(
 *     '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e1","asset":"roc","pool_minor":"1","entries":[{"account":"a","metrics":{"votes":"1"}}]}',
 *   ),
 *   policy: policy.value.policy,
 *   policyHash: policyHashOf(doc),
 * });
 * if (!run.ok) throw run.error;
 * const header = manifestHeaderOf(run.value.manifest);
 * if ("payouts" in header) throw new Error("no payouts in a header");
 * ```
 */
export { manifestHeaderOf } from "./manifest.ts";

/**
 * `manifest_hash` by schema (contract §6): v2 = `b3:` + BLAKE3(JCS(header)); v1 = over the
 * whole manifest.
 *
 * @example
 * ```ts
 * import { computeManifest, manifestHashOf, parsePolicy, policyHashOf } from "./mod.ts";
 *
 * const doc = {
 *   schema: "svc-rewarder.policy.v1",
 *   policy_id: "p",
 *   version: 1,
 *   asset: "roc",
 *   funding_source: "protocol_pool",
 *   allocation: "largest_remainder",
 *   pool: { source: "inputs" },
 *   score: [{ metric: "votes", mul: "1", div: "1" }],
 * };
 * const policy = parsePolicy(doc);
 * if (!policy.ok) throw policy.error;
 * const run = computeManifest({
 *   epochId: "e1",
 *   inputsBytes: new TextEncoder().encode(
 *     '{"schema":"svc-rewarder.inputs.v1","epoch_id":"e1","asset":"roc","pool_minor":"1","entries":[{"account":"a","metrics":{"votes":"1"}}]}',
 *   ),
 *   policy: policy.value.policy,
 *   policyHash: policyHashOf(doc),
 * });
 * if (!run.ok) throw run.error;
 * if (manifestHashOf(run.value.manifest) !== run.value.manifestHash) throw new Error("same");
 * ```
 */
export { manifestHashOf } from "./manifest.ts";

/**
 * Parses and checks a policy document (contract §3); its hash is {@link policyHashOf}, over
 * the document as written.
 *
 * @example
 * ```ts
 * import { parsePolicy, policyHashOf } from "./mod.ts";
 *
 * const doc = {
 *   schema: "svc-rewarder.policy.v1",
 *   policy_id: "p",
 *   version: 1,
 *   asset: "roc",
 *   funding_source: "protocol_pool",
 *   allocation: "largest_remainder",
 *   pool: { source: "inputs" },
 *   score: [{ metric: "votes", mul: "1", div: "1" }],
 * };
 * const parsed = parsePolicy(doc);
 * if (!parsed.ok || parsed.value.policy.asset !== "roc") throw new Error("parsed");
 * if (!policyHashOf(doc).startsWith("b3:")) throw new Error("a CID");
 * if (parsePolicy({ ...doc, version: 0 }).ok) throw new Error("refused");
 * ```
 */
export { parsePolicy, policyHashOf } from "./policy.ts";

/**
 * The Ed25519 public key of a 32-byte seed, for a {@link VerifyKey} next to a
 * {@link SigningKey}.
 *
 * @example
 * ```ts
 * import { publicKeyOf } from "./mod.ts";
 *
 * if (publicKeyOf(new Uint8Array(32)).length !== 32) throw new Error("32 bytes");
 * ```
 */
export { publicKeyOf } from "./ed25519.ts";

/**
 * Content ids (contract §1): {@link cidOf} hashes exact bytes; {@link asCid} checks a received
 * one (400 `schema` at its path otherwise); {@link isCid} is the guard.
 *
 * @example
 * ```ts
 * import { asCid, cidOf, isCid, RewarderError } from "./mod.ts";
 *
 * const cid = cidOf(new TextEncoder().encode("hello"));
 * if (asCid(cid) !== cid || !isCid(cid)) throw new Error("well-formed");
 * try {
 *   asCid("B3:" + "0".repeat(64), "inputs_cid"); // uppercase is never re-cased
 *   throw new Error("unreachable");
 * } catch (err) {
 *   if (!(err instanceof RewarderError) || err.path !== "inputs_cid") throw err;
 * }
 * ```
 */
export { asCid, type Cid, cidOf, isCid } from "./cid.ts";

/**
 * A checked `epoch_id` (contract §1).
 *
 * @example
 * ```ts
 * import { asEpochId, isEpochId } from "./mod.ts";
 *
 * const epochId = asEpochId("2025-01");
 * if (isEpochId("..") || isEpochId("a/b")) throw new Error("never a path");
 * console.log(epochId);
 * ```
 */
export { asEpochId, type EpochId, isEpochId } from "./ids.ts";

/**
 * Run and intent keys received from a store or a client, checked.
 *
 * @example
 * ```ts
 * import { asIntentKey, asRunKey, type IntentKey, type RunKey } from "./mod.ts";
 *
 * const runKey: RunKey = asRunKey("b3:" + "1".repeat(64));
 * const intentKey: IntentKey = asIntentKey("b3:" + "2".repeat(64));
 * console.log(runKey, intentKey);
 * ```
 */
export { asIntentKey, asRunKey, type IntentKey, type RunKey, type RunKeyParts } from "./run_key.ts";

/**
 * The typed refusal of contract §8 (`code`, `reason`, `path`) and the `Result` the engine's
 * functions answer with.
 *
 * @example
 * ```ts
 * import { RewarderError, type Result } from "./mod.ts";
 *
 * const r: Result<number> = {
 *   ok: false,
 *   error: new RewarderError("BAD_REQUEST", "schema", { path: "epoch_id" }),
 * };
 * if (!r.ok) console.log(r.error.code, r.error.reason, r.error.path);
 * ```
 */
export { type Result, RewarderError } from "./errors.ts";

/**
 * What the engine's functions take and give besides the wire types.
 *
 * @example
 * ```ts
 * import type { ComputeInput, SigningKey, VerifyKey, VerifyOptions } from "./mod.ts";
 *
 * const signing: SigningKey = { alg: "ed25519", kid: "k", seed: new Uint8Array(32) };
 * const options: VerifyOptions = { requirePq: false };
 * const describe = (input: ComputeInput, key: VerifyKey) => `${input.epochId} ${key.kid}`;
 * console.log(signing.kid, options, typeof describe);
 * ```
 */
export type { ComputeInput, ComputeOutput } from "./compute.ts";
/**
 * Keys and verification options of {@link sealManifest} and the verifiers.
 *
 * @example
 * ```ts
 * import type { VerifyKey } from "./mod.ts";
 *
 * const key: VerifyKey = { alg: "ed25519", kid: "k", publicKey: new Uint8Array(32), status: "active" };
 * console.log(key.status);
 * ```
 */
export type { SigningKey, VerifyKey, VerifyOptions } from "./seal.ts";
/**
 * The options of {@link intentOf} and the parsed policy.
 *
 * @example
 * ```ts
 * import type { IntentOptions, Policy } from "./mod.ts";
 *
 * const options: IntentOptions = { tenant: "acme", intentKey: "b3:" + "0".repeat(64) };
 * const assetOf = (p: Policy) => p.asset;
 * console.log(options.tenant, typeof assetOf);
 * ```
 */
export type { IntentOptions } from "./intent.ts";
/**
 * The policy as written (`PolicyDocument`) and as the engine uses it (`Policy`).
 *
 * @example
 * ```ts
 * import type { PolicyDocument } from "./mod.ts";
 *
 * const asset = (d: PolicyDocument) => d.asset;
 * console.log(typeof asset);
 * ```
 */
export type { Policy, PolicyDocument } from "./policy.ts";

/**
 * The wire types of contract §3, §6, §7 and §10: what the JSON on the wire looks like (money
 * and ids are strings there).
 *
 * @example
 * ```ts
 * import type { Manifest, SealedEnvelope } from "./mod.ts";
 *
 * const recipients = (e: SealedEnvelope): number => e.manifest.totals.recipients;
 * const sealed = (m: Manifest): boolean => m.status === "sealed";
 * console.log(typeof recipients, typeof sealed);
 * ```
 */
export type {
  LedgerIntent,
  LedgerIntentV1,
  LedgerIntentV2,
  Manifest,
  ManifestHeader,
  ManifestSchema,
  ManifestTotals,
  Payout,
  ProofDocumentV1,
  ProofDocumentV2,
  ProofStep,
  RunRecord,
  SealedEnvelope,
  Signature,
  Transfer,
} from "./types.ts";
