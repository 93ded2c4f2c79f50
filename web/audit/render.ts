/**
 * DOM output of the page. Every value from a document (accounts, ids, reasons) is set as
 * text, never as markup: an envelope is untrusted input.
 *
 * @module
 */
import type { Manifest } from "../../src/core/types.ts";
import { drawHistogram, drawLorenz, drawWaterfall } from "./charts.ts";
import type { ManifestDiff } from "../../src/core/diff.ts";
import {
  giniOf,
  histogramOf,
  lorenzOf,
  ratioToDecimal,
  sortedAmounts,
  topRecipientsOf,
  waterfallOf,
} from "./stats.ts";
import type { Check } from "./verify.ts";

/** Rows of the diff table shown (the rest are counted). */
export const DIFF_ROWS_MAX = 50;

/** The element with this id (the page's own markup: a missing one is a bug). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`Cannot render: no element #${id}`);
  return found as T;
}

/** A new element with text content and attributes. */
export function el(tag: string, text = "", attrs: Record<string, string> = {}): HTMLElement {
  const e = document.createElement(tag);
  e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function table(id: string, head: string[], rows: string[][], numeric: number[] = []): void {
  const t = byId<HTMLTableElement>(id);
  t.replaceChildren();
  const tr = el("tr");
  for (const h of head) tr.append(el("th", h));
  t.append(tr);
  for (const row of rows) {
    const r = el("tr");
    row.forEach((cell, i) => r.append(el("td", cell, numeric.includes(i) ? { class: "num" } : {})));
    t.append(r);
  }
}

/** Shows the verdict in `verdictId` (attribute `attr`) and the checks list. */
export function showVerdict(
  verdictId: string,
  attr: "data-verdict" | "data-proof-verdict",
  ok: boolean,
  headline: string,
  checksId: string,
  checks: readonly Check[],
): void {
  const v = byId(verdictId);
  v.setAttribute(attr, ok ? "valid" : "invalid");
  v.className = `verdict ${ok ? "valid" : "invalid"}${verdictId === "proof" ? " small" : ""}`;
  v.textContent = `${ok ? "✔ VALID" : "✘ INVALID"} · ${headline}`;
  const list = byId(checksId);
  list.replaceChildren();
  for (const c of checks) {
    const mark = c.ok === true ? "✔" : c.ok === false ? "✘" : "–";
    const cls = c.ok === true ? "ok" : c.ok === false ? "bad" : "skip";
    const li = el("li", "", { class: cls });
    li.append(el("span", `${mark} ${c.name}`, { class: "name" }), el("span", c.detail));
    list.append(li);
  }
}

/** Shows the manifest's facts, totals, distribution and top recipients. */
export function showManifest(m: Manifest, manifestHash: string): void {
  const facts = byId("facts");
  facts.replaceChildren();
  const pairs: [string, string][] = [
    ["epoch", m.epoch_id],
    ["manifest hash", manifestHash],
    ["schema", m.schema],
    ["status", m.quarantine === null ? m.status : `${m.status} (${m.quarantine.reason})`],
    ["policy", `${m.policy_id} · ${m.policy_hash}`],
    ["inputs", m.inputs_cid],
    ["asset", `${m.asset} · ${m.funding_source}`],
    ["recipients", String(m.totals.recipients)],
  ];
  for (const [k, v] of pairs) facts.append(el("dt", k), el("dd", v));

  const { steps, conserves } = waterfallOf(m);
  drawWaterfall(byId<HTMLCanvasElement>("waterfall-chart"), steps);
  table(
    "totals-table",
    ["", "minor units"],
    [
      ["pool", m.totals.pool_minor],
      [`fee${m.fee === null ? "" : ` → ${m.fee.account}`}`, m.totals.fee_minor],
      ["payouts", m.totals.payout_minor],
      [
        `residual${m.residual.account === null ? "" : ` → ${m.residual.account}`}`,
        m.totals.residual_minor,
      ],
      ["  rounding", m.residual.rounding_minor],
      ["  below min", m.residual.below_min_minor],
      ["  capped", m.residual.capped_minor],
      ["pool = fee + payouts + residual", conserves ? "holds" : "DOES NOT HOLD"],
    ],
    [1],
  );

  const ascending = sortedAmounts(m);
  const gini = giniOf(ascending);
  byId("gini").textContent = `Gini coefficient ${
    ratioToDecimal(gini.num, gini.den, 4)
  } over ${ascending.length} recipients (exact: ${gini.num} / ${gini.den}); accounts with no payout are not in the manifest.`;
  byId("gini").dataset.gini = ratioToDecimal(gini.num, gini.den, 6);
  drawHistogram(byId<HTMLCanvasElement>("histogram-chart"), histogramOf(ascending));
  drawLorenz(byId<HTMLCanvasElement>("lorenz-chart"), lorenzOf(ascending));
  table(
    "top-table",
    ["#", "account", "amount (minor)", "share"],
    topRecipientsOf(m).map((r, i) => [
      String(i + 1),
      r.account,
      r.amountMinor.toString(),
      `${ratioToDecimal(r.shareNum * 100n, r.shareDen, 3)} %`,
    ]),
    [0, 2, 3],
  );
  for (const id of ["summary", "totals", "distribution"]) byId(id).hidden = false;
}

/** Shows the what-if diff (A → B). */
export function showDiff(diff: ManifestDiff, a: Manifest, b: Manifest): void {
  const t = diff.totals;
  const delta = (x: string, y: string) => (BigInt(y) - BigInt(x)).toString();
  table(
    "diff-totals",
    ["", "A", "B", "B − A"],
    [
      ["epoch · policy", `${a.epoch_id} · ${a.policy_id}`, `${b.epoch_id} · ${b.policy_id}`, ""],
      ["pool", t.pool_minor_a, t.pool_minor_b, delta(t.pool_minor_a, t.pool_minor_b)],
      ["fee", a.totals.fee_minor, b.totals.fee_minor, t.fee_minor_delta],
      ["payouts", t.payout_minor_a, t.payout_minor_b, t.payout_minor_delta],
      ["residual", a.totals.residual_minor, b.totals.residual_minor, t.residual_minor_delta],
      [
        "recipients",
        String(t.recipients_a),
        String(t.recipients_b),
        String(t.recipients_b - t.recipients_a),
      ],
    ],
    [1, 2, 3],
  );
  const gainers = diff.accounts.filter((r) => !r.delta_minor.startsWith("-")).length;
  table(
    "diff-accounts",
    ["account", "A", "B", "delta"],
    diff.accounts.slice(0, DIFF_ROWS_MAX).map((r) => [
      r.account,
      r.a_minor,
      r.b_minor,
      r.delta_minor.startsWith("-") ? r.delta_minor : `+${r.delta_minor}`,
    ]),
    [1, 2, 3],
  );
  const section = byId("diff");
  section.dataset.diffAccounts = String(diff.accounts.length);
  section.dataset.diffPayoutDelta = t.payout_minor_delta;
  section.dataset.diffFirst = diff.accounts[0]?.account ?? "";
  byId("diff").querySelector("h2")!.textContent = `What-if: A → B · ${diff.accounts.length} ` +
    `accounts change (${gainers} gain, ${diff.accounts.length - gainers} lose)`;
  section.hidden = false;
}
