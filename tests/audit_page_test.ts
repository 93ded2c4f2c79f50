/**
 * The auditor's page (`/audit/`, routes/audit_page.ts, web/audit/): the committed build is a
 * fresh build of the sources; the handler's CSP, content types, ETags and redirect; and, in
 * headless Chromium against the REAL service with a committed 1k-recipient epoch, the
 * verdicts: valid for the epoch and a recipient's proof, invalid for one byte changed in a
 * payout, a signature or a proof, for an unknown epoch and without a token; two dropped
 * envelopes give the what-if diff. Screenshots go to dist/artifacts/audit-page/;
 * AUDIT_SCREENSHOT_UPDATE=1 also refreshes docs/img/audit-page.png.
 *
 * Without `chromium` the browser test is skipped with a message, except under CI (the CI
 * setup installs it: .ci/setup.d/70-chromium.sh), where its absence fails.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { canonicalJson } from "../src/core/canonical_json.ts";
import { policyHashOf } from "../src/core/policy.ts";
import { POLICY_SIG_DOMAIN } from "../src/core/policy_envelope.ts";
import { signStatement } from "../src/core/seal.ts";
import type { SealedEnvelope } from "../src/core/types.ts";
import { loadSigningKey, writeSecretFile } from "../src/shell/keys/key_files.ts";
import { secureHeaders } from "../middleware/secure_headers.ts";
import { AUDIT_PAGE_CSP, auditPage } from "../routes/audit_page.ts";
import { assetsModuleText, buildAuditAssets } from "../scripts/build_audit_page.ts";
import { GENERATED_POLICY } from "../vectors/generate_epoch.ts";
import { startAuditSite } from "./support/audit_site.ts";
import { chromiumPath, launchChromium, type Page } from "./support/chromium.ts";
import { prepareFixtures } from "./support/fixtures.ts";
import { caller, freshDataDir, startService, tokenMinter } from "./support/service.ts";

const REPO = new URL("../", import.meta.url).pathname;
const ARTIFACTS = join(REPO, "dist", "artifacts", "audit-page");

Deno.test("audit page: the committed build (web/audit/build/assets.ts) equals a fresh build", async () => {
  const fresh = assetsModuleText(await buildAuditAssets());
  const committed = await Deno.readTextFile(join(REPO, "web", "audit", "build", "assets.ts"));
  assert.ok(committed === fresh, "web/audit/build/assets.ts is stale: run `deno task build:audit`");
  const index = await Deno.readTextFile(join(REPO, "web", "audit", "index.html"));
  assert.doesNotMatch(index, /(src|href)="(https?:)?\/\//, "the page loads nothing external");
});

Deno.test("audit page handler: CSP, content types, ETag/304, redirect, 404", async () => {
  const page = auditPage({ hstsMaxAgeS: 0 });
  const index = await page.request("/audit/");
  assert.equal(index.status, 200);
  assert.equal(index.headers.get("content-security-policy"), AUDIT_PAGE_CSP);
  assert.match(AUDIT_PAGE_CSP, /^default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; /);
  assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(index.headers.get("x-content-type-options"), "nosniff");
  assert.match(await index.text(), /<script type="module" src="\.\/audit\.js"><\/script>/);
  const js = await page.request("/audit/audit.js");
  assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
  const etag = js.headers.get("etag")!;
  assert.match(etag, /^"b3:[0-9a-f]{64}"$/);
  const again = await page.request("/audit/audit.js", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(
    (await page.request("/audit/audit.css")).headers.get("content-type"),
    "text/css; charset=utf-8",
  );
  const redirect = await page.request("/audit?epoch=e1&account=a");
  assert.deepEqual([redirect.status, redirect.headers.get("location")], [
    308,
    "/audit/?epoch=e1&account=a",
  ]);
  assert.equal((await page.request("/audit/nope.js")).status, 404);
  assert.equal((await page.request("/audit/%2e%2e/deno.json")).status, 404);

  // Mounted before the service's secureHeaders(), the page keeps its own CSP; after it, the
  // JSON API's deny-all CSP would replace it (and the page's script would not run).
  const before = new Hono();
  before.route("/", auditPage({ hstsMaxAgeS: 0 }));
  before.use(secureHeaders({ hstsMaxAgeS: 0 }));
  const mounted = await before.request("/audit/");
  assert.equal(mounted.headers.get("content-security-policy"), AUDIT_PAGE_CSP);
  const after = new Hono();
  after.use(secureHeaders({ hstsMaxAgeS: 0 }));
  after.route("/", auditPage({ hstsMaxAgeS: 0 }));
  assert.notEqual(
    (await after.request("/audit/")).headers.get("content-security-policy"),
    AUDIT_PAGE_CSP,
  );
});

const chromium = chromiumPath();
if (chromium === null && Deno.env.get("CI") === undefined) {
  console.warn(
    "audit page browser test SKIPPED: no `chromium` on PATH (apt-get install chromium, " +
      "or bash .ci/setup.d/70-chromium.sh)",
  );
}

/** Writes a signed variant of the generated policy (a what-if B) into the data dir. */
async function writeVariantPolicy(dataDir: string) {
  const policy = {
    ...GENERATED_POLICY,
    version: 2,
    fee: { bps: 500, account: "treasury" },
    cap_minor: "1500000",
  };
  const gov = await loadSigningKey(join(dataDir, "keys", "gov-dev.key.json"));
  const policyHash = policyHashOf(policy);
  const signatures = await signStatement(POLICY_SIG_DOMAIN, policyHash, [gov]);
  await writeSecretFile(
    join(dataDir, "policies", "generated-variant.json"),
    new TextEncoder().encode(canonicalJson({ policy, policy_hash: policyHash, signatures }) + "\n"),
  );
  return { policy_id: policy.policy_id, policy_hash: policyHash };
}

/** What the tests read back from the page. */
type PageState = Record<
  | "verdict"
  | "verdictText"
  | "checks"
  | "proof"
  | "proofText"
  | "csp"
  | "cspText"
  | "tokenShown"
  | "firstTop"
  | "diffAccounts"
  | "diffPayoutDelta",
  string | null
>;

async function attrs(page: Page): Promise<PageState> {
  return await page.evaluate(`({
    verdict: document.getElementById("verdict").getAttribute("data-verdict"),
    verdictText: document.getElementById("verdict").textContent,
    checks: document.getElementById("checks").textContent,
    proof: document.getElementById("proof").getAttribute("data-proof-verdict"),
    proofText: document.getElementById("proof").textContent,
    csp: document.getElementById("csp").dataset.cspViolations,
    cspText: document.getElementById("csp").textContent,
    tokenShown: String(!document.getElementById("token").hidden),
    firstTop: document.querySelector("#top-table tr:nth-child(2) td:nth-child(2)")?.textContent ?? null,
    diffAccounts: document.getElementById("diff").dataset.diffAccounts ?? null,
    diffPayoutDelta: document.getElementById("diff").dataset.diffPayoutDelta ?? null,
  })`);
}

Deno.test({
  name: "audit page in headless Chromium: verdicts, proof, tampering, token, what-if diff",
  ignore: chromium === null && Deno.env.get("CI") === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    assert.ok(chromium !== null, "CI must have chromium (.ci/setup.d/70-chromium.sh)");
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const dataDir = await freshDataDir("audit");
    const fx = await prepareFixtures(dataDir);
    const variant = await writeVariantPolicy(dataDir);
    const svc = await startService({ dataDir, transport: "tcp" });
    const call = caller(svc);
    const token = await tokenMinter(dataDir).mint();
    const epochId = fx.generated.epochId;
    const site = startAuditSite(svc);
    const browser = await launchChromium(chromium);
    const visit = async (path: string, shot?: string) => {
      const page = await browser.open(site.origin + path);
      try {
        await page.waitDone();
        if (shot !== undefined) await page.screenshot(join(ARTIFACTS, shot));
        const a = await attrs(page);
        return { ...a, log: page.log().join("\n") };
      } finally {
        await page.close();
      }
    };
    try {
      const committed = await call("POST", `/rewarder/epochs/${epochId}/compute`, {
        token,
        json: {
          inputs_cid: fx.generated.inputs_cid,
          policy_id: fx.generated.policy_id,
          policy_hash: fx.generated.policy_hash,
        },
      });
      assert.equal(committed.status, 200, committed.text);
      const envelopeA: SealedEnvelope =
        (await call("GET", `/rewarder/epochs/${epochId}`, { token }))
          .body;
      const largest = [...envelopeA.manifest.payouts].sort((x, y) =>
        BigInt(y.amount_minor) > BigInt(x.amount_minor) ? 1 : -1
      )[0]!;
      const account = envelopeA.manifest.payouts[7]!.account;

      await t.step("a committed epoch and a recipient's proof verify: valid, valid", async () => {
        const a = await visit(
          `/audit/?epoch=${epochId}&account=${encodeURIComponent(account)}#token=${token}`,
          "valid-epoch.png",
        );
        assert.equal(a.verdict, "valid", `${a.verdictText}\n${a.checks}\n${a.log}`);
        assert.equal(a.proof, "valid", `${a.proofText}\n${a.log}`);
        assert.match(a.checks!, /Ed25519 signatures \(browser WebCrypto\)✔?/);
        assert.match(a.checks!, new RegExp(`rebuild ${envelopeA.manifest.payouts_root}`));
        assert.equal(a.firstTop, largest.account);
        assert.equal(a.csp, "0", `${a.cspText}\n${a.log}`);
        assert.equal(a.tokenShown, "false");
        if (Deno.env.get("AUDIT_SCREENSHOT_UPDATE") === "1") {
          await Deno.mkdir(join(REPO, "docs", "img"), { recursive: true });
          await Deno.copyFile(
            join(ARTIFACTS, "valid-epoch.png"),
            join(REPO, "docs", "img", "audit-page.png"),
          );
        }
      });

      await t.step("one byte changed in a payout amount: invalid", async () => {
        site.tamper = "payout";
        const a = await visit(`/audit/?epoch=${epochId}#token=${token}`, "tampered-payout.png");
        assert.equal(a.verdict, "invalid", a.checks!);
        assert.match(a.checks!, /arithmetic|payouts_root/);
      });

      await t.step("one byte changed in a signature: invalid", async () => {
        site.tamper = "signature";
        const a = await visit(`/audit/?epoch=${epochId}#token=${token}`);
        assert.equal(a.verdict, "invalid", a.checks!);
        assert.match(a.checks!, /bad_signature/);
      });

      await t.step(
        "one byte changed in a proof: the epoch is valid, the proof invalid",
        async () => {
          site.tamper = "proof";
          const a = await visit(
            `/audit/?epoch=${epochId}&account=${encodeURIComponent(account)}#token=${token}`,
          );
          assert.equal(a.verdict, "valid", a.checks!);
          assert.equal(a.proof, "invalid", a.proofText!);
          site.tamper = "none";
        },
      );

      await t.step("an unknown epoch, and no token: invalid (cannot fetch)", async () => {
        const unknown = await visit(`/audit/?epoch=no-such-epoch#token=${token}`);
        assert.equal(unknown.verdict, "invalid");
        assert.match(unknown.verdictText!, /404/);
        const anonymous = await visit(`/audit/?epoch=${epochId}`, "no-token.png");
        assert.equal(anonymous.verdict, "invalid");
        assert.match(anonymous.verdictText!, /401.*needs a token/);
        assert.equal(anonymous.tokenShown, "true");
      });

      await t.step("two dropped envelopes: both valid, the what-if diff A → B", async () => {
        const dry = await call("POST", `/rewarder/epochs/${epochId}/compute`, {
          token,
          json: { inputs_cid: fx.generated.inputs_cid, ...variant, dry_run: true },
        });
        assert.equal(dry.status, 200, dry.text);
        const envelopeB: SealedEnvelope = (await call("GET", `/rewarder/runs/${dry.body.run_key}`, {
          token,
        })).body.envelope;
        const dir = await Deno.makeTempDir({ prefix: "audit_drop_" });
        await Deno.writeTextFile(join(dir, "A.json"), JSON.stringify(envelopeA));
        await Deno.writeTextFile(join(dir, "B.json"), JSON.stringify(envelopeB));
        const page = await browser.open(`${site.origin}/audit/`);
        try {
          await page.evaluate(`document.body.dataset.state = "waiting"`);
          await page.setFiles("#files", [join(dir, "A.json"), join(dir, "B.json")]);
          await page.waitDone();
          await page.screenshot(join(ARTIFACTS, "what-if-diff.png"));
          const a = await attrs(page);
          assert.equal(a.verdict, "valid", `${a.checks}\n${page.log().join("\n")}`);
          const amounts = new Map<string, bigint>();
          for (const p of envelopeA.manifest.payouts) {
            amounts.set(p.account, -BigInt(p.amount_minor));
          }
          for (const p of envelopeB.manifest.payouts) {
            amounts.set(p.account, (amounts.get(p.account) ?? 0n) + BigInt(p.amount_minor));
          }
          const changed = [...amounts.values()].filter((d) => d !== 0n).length;
          assert.ok(changed > 0, "the variant policy must change some payouts");
          assert.equal(a.diffAccounts, String(changed));
          assert.equal(
            a.diffPayoutDelta,
            String(
              BigInt(envelopeB.manifest.totals.payout_minor) -
                BigInt(envelopeA.manifest.totals.payout_minor),
            ),
          );
        } finally {
          await page.close();
          await Deno.remove(dir, { recursive: true });
        }
      });
    } finally {
      await browser.close();
      await site.close();
      await svc.stop();
    }
  },
});
