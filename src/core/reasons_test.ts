import assert from "node:assert/strict";
import {
  type Reason,
  REASONS,
  reasonsOfStatus,
  REJECT_LABELS,
  STATUS_BY_CODE,
  statusOfReason,
} from "./reasons.ts";
import { RewarderError, statusOf } from "./errors.ts";

const reasons = Object.keys(REASONS) as Reason[];

Deno.test("reasons table: each status is its code's, narrowed only to 413/415 (§8)", () => {
  for (const r of reasons) {
    const { code, status } = REASONS[r];
    if (status !== STATUS_BY_CODE[code]) {
      assert.equal(code, "BAD_REQUEST", r);
      assert.ok(status === 413 || status === 415, r);
    }
    assert.equal(statusOf(new RewarderError(code, r)), status, r);
    assert.match(r, /^[a-z][a-z0-9_]*$/);
    assert.ok(REJECT_LABELS.includes(REASONS[r].label), r);
  }
  assert.deepEqual(
    ["oversize", "decompress_cap", "media_type", "encoding"].map((r) =>
      statusOfReason(r as Reason)
    ),
    [413, 413, 415, 415],
  );
});

Deno.test("reasons table: the contract's named reasons are there with their codes", () => {
  const named: [Reason, string][] = [
    ["json", "BAD_REQUEST"],
    ["path", "BAD_REQUEST"],
    ["policy_mismatch", "BAD_REQUEST"],
    ["no_payout", "NOT_FOUND"],
    ["unknown_policy", "NOT_FOUND"],
    ["epoch_committed", "CONFLICT"],
    ["inputs_settled", "CONFLICT"],
    ["origin_integrity", "DEPENDENCY_UNAVAILABLE"],
    ["store_corrupt", "INTERNAL"],
  ];
  for (const [r, code] of named) assert.equal(REASONS[r].code, code, r);
  // A server fault never reads as the client's: own-store corruption is 500.
  assert.equal(statusOfReason("store_corrupt"), 500);
  assert.ok(reasonsOfStatus(409).includes("inputs_settled"));
  assert.ok(!reasonsOfStatus(400).includes("store_corrupt"));
});

Deno.test("reasons table: every label is used by some reason", () => {
  const used = new Set(reasons.map((r) => REASONS[r].label));
  for (const label of REJECT_LABELS) assert.ok(used.has(label), label);
});
