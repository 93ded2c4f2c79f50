/**
 * Writes `vectors/v2/` (from `extras.ts`) and the v1 proofs of the frozen v1 envelopes in
 * `vectors/v1/cases/` (those envelopes are kept as sealed by v1 and never regenerated).
 *
 * @module
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { intentOf } from "../src/core/intent.ts";
import { proofDocumentOf } from "../src/core/proof.ts";
import { asCid } from "../src/core/cid.ts";
import { asEpochId } from "../src/core/ids.ts";
import { intentKeyOf, runKeyOf } from "../src/core/run_key.ts";
import type { ProofDocumentV2, SealedEnvelope } from "../src/core/types.ts";
import {
  INTENT_KEY_TENANTS,
  PROOF_TAMPERINGS,
  PROOF_VECTORS,
  REFUSALS,
  RUN_KEY_EXAMPLE,
  TWO_TENANT,
} from "./extras.ts";

const pretty = (value: unknown) => JSON.stringify(value, null, 2) + "\n";

async function envelopeOf(dir: string): Promise<SealedEnvelope> {
  return JSON.parse(await readFile(join(dir, "envelope.json"), "utf8"));
}

function tamper(doc: ProofDocumentV2, name: string): Record<string, unknown> {
  const copy = structuredClone(doc) as unknown as Record<string, unknown>;
  if (name === "other-index") copy.index = doc.index === 0 ? 1 : 0;
  if (name === "header-changed") (copy.header as { epoch_id: string }).epoch_id += "x";
  if (name === "extra-member") copy.payouts_root = doc.header.payouts_root;
  return copy;
}

/** Writes `vectors/v2/`. */
export async function writeV2Extras(root: string): Promise<void> {
  const v2 = join(root, "v2");
  await mkdir(join(v2, "two-tenant"), { recursive: true });
  await mkdir(join(v2, "proofs"), { recursive: true });
  const r = RUN_KEY_EXAMPLE;
  const runKey = runKeyOf({
    epochId: asEpochId(r.epoch_id),
    policyHash: asCid(r.policy_hash),
    inputsCid: asCid(r.inputs_cid),
    salt: r.salt,
  });
  if (runKey !== r.run_key) throw new Error("run key differs from the contract's example");
  await writeFile(
    join(v2, "keys.json"),
    pretty({
      run_key: r,
      intent_keys: INTENT_KEY_TENANTS.map((tenant) => ({
        tenant,
        run_key: r.run_key,
        intent_key: intentKeyOf({ tenant, runKey: r.run_key }),
      })),
    }),
  );

  const envelope = await envelopeOf(join(root, "cases", TWO_TENANT.case));
  const intents: Record<string, unknown>[] = [];
  for (const tenant of TWO_TENANT.tenants) {
    const intentKey = intentKeyOf({ tenant, runKey: envelope.manifest.run_key });
    const body = canonicalJson(intentOf(envelope, { tenant, intentKey }));
    await writeFile(join(v2, "two-tenant", `intent.${tenant}.json`), body);
    intents.push({ tenant, intent_key: intentKey, file: `intent.${tenant}.json` });
  }
  await writeFile(
    join(v2, "two-tenant", "expected.json"),
    pretty({
      why: "Contract §5, §7: two tenants settling the same epoch, policy and inputs share " +
        "the run key and the sealed manifest, but each has its own intent key and body",
      case: TWO_TENANT.case,
      run_key: envelope.manifest.run_key,
      manifest_hash: envelope.manifest_hash,
      intents,
    }),
  );

  const proofs: Record<string, unknown>[] = [];
  for (const p of PROOF_VECTORS) {
    const env = await envelopeOf(join(root, "cases", p.case));
    const doc = proofDocumentOf(env, p.account) as ProofDocumentV2;
    const base = `${p.case}.${p.account}`;
    await writeFile(join(v2, "proofs", `${base}.json`), canonicalJson(doc) + "\n");
    proofs.push({ file: `${base}.json`, why: p.why, valid: true, amount_minor: doc.amount_minor });
    for (const t of PROOF_TAMPERINGS) {
      const file = `${base}.${t.name}.json`;
      await writeFile(join(v2, "proofs", file), canonicalJson(tamper(doc, t.name)) + "\n");
      proofs.push({ file, why: t.why, valid: false, reason: t.reason });
    }
  }
  await writeFile(join(v2, "proofs", "expected.json"), pretty(proofs));
  await writeFile(join(v2, "refusals.json"), pretty(REFUSALS));
}

/** Writes v1 proof documents of the frozen v1 envelopes (verification-only vectors). */
export async function writeV1Proofs(root: string): Promise<void> {
  const v1 = join(root, "v1");
  await mkdir(join(v1, "proofs"), { recursive: true });
  const out: Record<string, unknown>[] = [];
  for (const name of (await readdir(join(v1, "cases"))).sort()) {
    const env = await envelopeOf(join(v1, "cases", name));
    const first = env.manifest.payouts[0];
    if (first === undefined) continue;
    const doc = proofDocumentOf(env, first.account)!;
    const file = `${name}.${first.account}.json`;
    await writeFile(join(v1, "proofs", file), canonicalJson(doc) + "\n");
    out.push({ file, valid: true, amount_minor: first.amount_minor });
  }
  await writeFile(join(v1, "proofs", "expected.json"), pretty(out));
}
