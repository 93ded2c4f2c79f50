/**
 * The auditor's page (contract §6, §10, §13): `?epoch=<id>` reads the epoch's envelope and
 * the published keys from this origin, `&account=<a>` also the account's proof; dropped
 * files are verified the same way (two envelopes: the what-if diff A → B). The verdicts are
 * the hooks tests read: `[data-verdict]` and `[data-proof-verdict]` ("valid" | "invalid"),
 * and `body[data-state="done"]` once everything asked for is settled.
 *
 * @module
 */
import "./zod_jitless.ts"; // first: before any zod schema is built (see the module)
import { ACCOUNT_PATTERN, EPOCH_ID_PATTERN } from "../../src/core/ids.ts";
import type { VerifyKey } from "../../src/core/seal.ts";
import type { Manifest, SealedEnvelope } from "../../src/core/types.ts";
import { diffManifests } from "../../src/core/diff.ts";
import { adoptFragmentToken, readFileJson, readJson, storedToken, storeToken } from "./fetch.ts";
import { byId, el, showDiff, showManifest, showVerdict } from "./render.ts";
import {
  CANNOT_CHECK,
  type Check,
  keysOf,
  verifyEnvelopeReport,
  verifyProofReport,
} from "./verify.ts";

let violations = 0;
document.addEventListener("securitypolicyviolation", (e) => {
  violations += 1;
  const p = byId("csp");
  p.dataset.cspViolations = String(violations);
  p.textContent =
    `Content-Security-Policy refused ${violations} load(s); last: ${e.violatedDirective}`;
});

function fail(headline: string, checks: Check[] = []): void {
  showVerdict("verdict", "data-verdict", false, headline, "checks", checks);
}

async function publishedKeys(dropped: VerifyKey[] | null): Promise<VerifyKey[] | string> {
  if (dropped !== null) return dropped;
  const read = await readJson("/rewarder/keys", false);
  if (!read.ok) return `cannot read the keys: ${read.detail}`;
  return keysOf(read.value) ?? "the keys document is malformed";
}

async function lookup(
  epochId: string,
  account: string,
  keys: VerifyKey[],
  envelope: SealedEnvelope,
) {
  byId("lookup").hidden = false;
  byId<HTMLInputElement>("account-input").value = account;
  const path = `/rewarder/epochs/${encodeURIComponent(epochId)}/proofs/${
    encodeURIComponent(account)
  }`;
  const read = ACCOUNT_PATTERN.test(account)
    ? await readJson(path, true)
    : { ok: false as const, status: 0, detail: "not an account id (contract §1)" };
  if (!read.ok) {
    showVerdict(
      "proof",
      "data-proof-verdict",
      false,
      `no proof: ${read.detail}`,
      "proof-checks",
      [],
    );
    return;
  }
  const report = await verifyProofReport(read.value, keys, account, envelope);
  const amount = report.value?.amount_minor ?? "?";
  const headline = `${account} receives ${amount} ${envelope.manifest.asset} (minor units)`;
  showVerdict("proof", "data-proof-verdict", report.ok, headline, "proof-checks", report.checks);
}

async function fromEpoch(epochId: string, account: string | null): Promise<void> {
  byId<HTMLInputElement>("epoch-input").value = epochId;
  if (!EPOCH_ID_PATTERN.test(epochId)) return fail("not an epoch id (contract §1)");
  const [read, keys] = await Promise.all([
    readJson(`/rewarder/epochs/${encodeURIComponent(epochId)}`, true),
    publishedKeys(null),
  ]);
  if (!read.ok) {
    if (read.status === 401 || read.status === 403) byId("token").hidden = false;
    const hint = read.status === 401 || read.status === 403
      ? storedToken() === null ? " — this origin needs a token" : " — the token was refused"
      : "";
    return fail(`cannot read the epoch: ${read.detail}${hint}`);
  }
  if (typeof keys === "string") return fail(keys);
  const report = await verifyEnvelopeReport(read.value, keys, epochId);
  showVerdict("verdict", "data-verdict", report.ok, `epoch ${epochId}`, "checks", report.checks);
  if (report.value === undefined) return;
  showManifest(report.value.manifest, report.value.manifest_hash);
  byId("lookup").hidden = false;
  if (account !== null) await lookup(epochId, account, keys, report.value);
}

async function fromFiles(files: File[]): Promise<void> {
  const docs = await Promise.all(
    files.map(async (f) => ({ name: f.name, doc: await readFileJson(f) })),
  );
  const unreadable = docs.find((d) => d.doc === null);
  if (unreadable !== undefined) return fail(`${unreadable.name} is not I-JSON (contract §1)`);
  const isObject = (d: unknown): d is Record<string, unknown> =>
    typeof d === "object" && d !== null;
  const keysDoc = docs.find((d) => isObject(d.doc) && "keys" in d.doc);
  const envelopes = docs.filter((d) => isObject(d.doc) && "manifest" in d.doc);
  if (envelopes.length === 0 || envelopes.length > 2) {
    return fail(`drop one or two envelopes (got ${envelopes.length})`);
  }
  const keys = await publishedKeys(keysDoc === undefined ? null : keysOf(keysDoc.doc));
  if (typeof keys === "string") return fail(keys);
  const reports = [];
  for (const e of envelopes) {
    reports.push({ name: e.name, ...(await verifyEnvelopeReport(e.doc, keys)) });
  }
  const checks = reports.flatMap((r) =>
    r.checks.map((c) => ({ ...c, name: envelopes.length > 1 ? `${r.name}: ${c.name}` : c.name }))
  );
  const ok = reports.every((r) => r.ok);
  showVerdict(
    "verdict",
    "data-verdict",
    ok,
    reports.map((r) => r.name).join(" → "),
    "checks",
    checks,
  );
  const manifests = reports.map((r) => r.value?.manifest).filter((m): m is Manifest =>
    m !== undefined
  );
  if (manifests.length > 0) showManifest(manifests[0]!, reports[0]!.value!.manifest_hash);
  if (manifests.length === 2) {
    const [a, b] = manifests as [Manifest, Manifest];
    // Minor units of two assets cannot be subtracted: diffManifests refuses (reason `asset`).
    if (a.asset !== b.asset) {
      byId("diff").hidden = false;
      byId("diff-totals").textContent = `No diff: A pays ${a.asset}, B pays ${b.asset}.`;
    } else showDiff(diffManifests(a, b), a, b);
  }
}

function wireForms(): void {
  byId("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    storeToken(byId<HTMLInputElement>("token-input").value);
    location.reload();
  });
  const go = (params: Record<string, string>) => {
    const url = new URL(location.href);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    location.assign(url.pathname + url.search);
  };
  byId("epoch-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = new URL(location.href);
    url.searchParams.delete("account");
    url.searchParams.set("epoch", byId<HTMLInputElement>("epoch-input").value.trim());
    location.assign(url.pathname + url.search);
  });
  byId("account-form").addEventListener("submit", (e) => {
    e.preventDefault();
    go({ account: byId<HTMLInputElement>("account-input").value.trim() });
  });
  const onFiles = (list: FileList | null) => {
    if (list === null || list.length === 0) return;
    document.body.dataset.state = "loading";
    void settle(fromFiles([...list]));
  };
  byId<HTMLInputElement>("files").addEventListener("change", (e) => {
    onFiles((e.target as HTMLInputElement).files);
  });
  const drop = byId("drop");
  drop.addEventListener("dragover", (e) => e.preventDefault());
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    onFiles(e.dataTransfer?.files ?? null);
  });
}

async function settle(work: Promise<void>): Promise<void> {
  try {
    await work;
  } catch (err) {
    fail(`verification stopped: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    document.body.dataset.state = "done";
  }
}

function start(): void {
  adoptFragmentToken();
  const list = byId("cannot");
  for (const line of CANNOT_CHECK) list.append(el("li", line));
  wireForms();
  const params = new URLSearchParams(location.search);
  const epochId = params.get("epoch");
  if (epochId === null) {
    document.body.dataset.state = "idle";
    return;
  }
  void settle(fromEpoch(epochId, params.get("account")));
}

start();
