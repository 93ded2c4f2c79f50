/**
 * `rewarder diff` (docs/FORMATS.md "What-if for governors"): two pinned envelopes (v1 or v2),
 * verified with the vector keys; the same epoch computed from its inputs under two policies
 * gives the same diff; tampered envelopes exit 1; bad command lines and files are one line,
 * exit 2; a quarantined side exits 3.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCliCaptured } from "./main.ts";

const V = "vectors/cases";
const FLOOR = `${V}/hamilton-10-floor`;
const LR = `${V}/hamilton-10-largest-remainder`;
const KEYS = "vectors/keys/vector-keys.json";

/** Same inputs (apportion-1), floor vs largest remainder: party-a, -b gain 1, party-e joins. */
const EXPECTED = {
  accounts: [
    { a_minor: "4", account: "party-a", b_minor: "5", delta_minor: "1" },
    { a_minor: "1", account: "party-b", b_minor: "2", delta_minor: "1" },
    { a_minor: "0", account: "party-e", b_minor: "1", delta_minor: "1" },
  ],
  totals: {
    fee_minor_delta: "0",
    payout_minor_a: "7",
    payout_minor_b: "10",
    payout_minor_delta: "3",
    pool_minor_a: "10",
    pool_minor_b: "10",
    recipients_a: 4,
    recipients_b: 5,
    residual_minor_delta: "-3",
  },
};

/** One line `error: …` (after any `warning:` line), exit 2. */
async function assertRefused(argv: string[], pattern: RegExp): Promise<void> {
  const out = await runCliCaptured(["diff", ...argv]);
  assert.equal(out.code, 2, `${argv.join(" ")}: exit 2 (${out.stderr})`);
  const stderr = out.stderr.replace(/^warning: [^\n]*\n/gm, "");
  assert.match(stderr, /^error: [^\n]+\n$/, argv.join(" "));
  assert.match(stderr, pattern, argv.join(" "));
  assert.equal(out.stdout, "");
}

Deno.test("diff of two verified envelopes: the JCS document, sorted by |delta|", async () => {
  const out = await runCliCaptured([
    "diff",
    "--envelope",
    `${FLOOR}/envelope.json`,
    "--envelope-b",
    `${LR}/envelope.json`,
    "--keys",
    KEYS,
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stderr, "");
  assert.equal(out.stdout, JSON.stringify(EXPECTED) + "\n", "JCS: sorted members, one line");
  // Swapped: every delta negated, the losers first by |delta| then account.
  const back = await runCliCaptured([
    "diff",
    "--envelope",
    `${LR}/envelope.json`,
    "--envelope-b",
    `${FLOOR}/envelope.json`,
    "--keys",
    KEYS,
  ]);
  const doc = JSON.parse(back.stdout);
  assert.deepEqual(doc.accounts.map((r: { delta_minor: string }) => r.delta_minor), [
    "-1",
    "-1",
    "-1",
  ]);
  assert.equal(doc.totals.payout_minor_delta, "-3");
});

Deno.test("a v1 envelope compares with a v2 one (same payouts form)", async () => {
  const out = await runCliCaptured([
    "diff",
    "--envelope",
    `vectors/v1/cases/hamilton-10-floor/envelope.json`,
    "--envelope-b",
    `${LR}/envelope.json`,
    "--keys",
    KEYS,
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), EXPECTED);
});

Deno.test("inputs + two policies: computed by the engine, the same diff as the sealed pair", async () => {
  const out = await runCliCaptured([
    "diff",
    "--inputs",
    `${FLOOR}/inputs.json`,
    "--policy",
    `${FLOOR}/policy.json`,
    "--policy-b",
    `${LR}/policy.json`,
    "--epoch",
    "apportion-1",
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stderr, "");
  assert.equal(out.stdout, JSON.stringify(EXPECTED) + "\n");
  // Other inputs for B (a different epoch's snapshot would be refused as stale: same epoch).
  const dir = await Deno.makeTempDir({ prefix: "diff_cli_" });
  try {
    const inputs = JSON.parse(await Deno.readTextFile(`${FLOOR}/inputs.json`));
    inputs.entries = inputs.entries.filter((e: { account: string }) => e.account !== "party-a");
    const inputsB = join(dir, "inputs-b.json");
    await Deno.writeTextFile(inputsB, JSON.stringify(inputs));
    const other = await runCliCaptured([
      "diff",
      "--inputs",
      `${FLOOR}/inputs.json`,
      "--inputs-b",
      inputsB,
      "--policy",
      `${FLOOR}/policy.json`,
      "--epoch",
      "apportion-1",
    ]);
    assert.equal(other.code, 0, other.stderr);
    const doc = JSON.parse(other.stdout);
    const partyA = doc.accounts.find((r: { account: string }) => r.account === "party-a");
    assert.deepEqual(partyA, { account: "party-a", a_minor: "4", b_minor: "0", delta_minor: "-4" });
    const sum = doc.accounts.reduce(
      (s: bigint, r: { delta_minor: string }) => s + BigInt(r.delta_minor),
      0n,
    );
    assert.equal(String(sum), doc.totals.payout_minor_delta);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--format table: sides, totals with deltas, top --limit rows and how many more", async () => {
  const base = [
    "diff",
    "--envelope",
    `${FLOOR}/envelope.json`,
    "--envelope-b",
    `${LR}/envelope.json`,
  ];
  const out = await runCliCaptured([...base, "--keys", KEYS, "--format", "table", "--limit", "2"]);
  assert.equal(out.code, 0, out.stderr);
  const text = out.stdout;
  assert.match(text, new RegExp(`^A: ${FLOOR}/envelope.json \\(epoch apportion-1, policy `, "m"));
  assert.match(text, /^payout_minor +7 +10 +\+3$/m);
  assert.match(text, /^residual_minor +3 +0 +-3$/m);
  assert.match(text, /^recipients +4 +5 +\+1$/m);
  assert.match(text, /^3 account\(s\) gain, 0 lose/m);
  assert.match(text, /^party-a +4 +5 +\+1\nparty-b +1 +2 +\+1\n… 1 more/m);
  assert.doesNotMatch(text, /party-e/, "--limit 2");
  const all = await runCliCaptured([...base, "--format", "table", "--include-unchanged"]);
  assert.equal(all.code, 0);
  assert.match(all.stderr, /^warning: no --keys given; signatures are not checked\n$/);
  assert.match(all.stdout, /^party-c +1 +1 +0$/m, "unchanged accounts with the switch");
});

Deno.test("an invalid envelope is refused: exit 1, one line naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "diff_cli_" });
  try {
    const env = JSON.parse(await Deno.readTextFile(`${LR}/envelope.json`));
    // A changed amount: the manifest is no longer valid (sums, payouts_root), keys or not.
    const amount = structuredClone(env);
    amount.manifest.payouts[0].amount_minor = "6";
    const badAmount = join(dir, "amount.json");
    await Deno.writeTextFile(badAmount, JSON.stringify(amount));
    // A foreign signature on a valid manifest: only --keys can see it.
    const sig = structuredClone(env);
    sig.signatures[0].sig = sig.signatures[0].sig.replace(
      /^./,
      (c: string) => c === "A" ? "B" : "A",
    );
    const badSig = join(dir, "sig.json");
    await Deno.writeTextFile(badSig, JSON.stringify(sig));
    for (const keys of [["--keys", KEYS], []]) {
      const out = await runCliCaptured([
        "diff",
        "--envelope",
        `${FLOOR}/envelope.json`,
        "--envelope-b",
        badAmount,
        ...keys,
      ]);
      assert.equal(out.code, 1, out.stderr);
      assert.equal(out.stdout, "", "nothing compared");
      assert.match(out.stderr, new RegExp(`^invalid: \\w+.* \\(${badAmount}\\)$`, "m"));
    }
    const signed = await runCliCaptured([
      "diff",
      "--envelope",
      badSig,
      "--envelope-b",
      `${LR}/envelope.json`,
      "--keys",
      KEYS,
    ]);
    assert.equal(signed.code, 1, signed.stderr);
    assert.match(signed.stderr, new RegExp(`^invalid: .*\\(${badSig}\\)\n$`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad command lines and files: one line, exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "diff_cli_" });
  try {
    const dup = join(dir, "dup.json");
    await Deno.writeTextFile(dup, '{"manifest":{},"manifest":{}}');
    const env = ["--envelope", `${FLOOR}/envelope.json`, "--envelope-b", `${LR}/envelope.json`];
    const inputs = ["--inputs", `${FLOOR}/inputs.json`, "--policy", `${FLOOR}/policy.json`];
    await assertRefused(
      ["--envelope", dup, "--envelope-b", `${LR}/envelope.json`],
      new RegExp(`^error: ${dup}: not I-JSON \\(duplicate member name\\)`),
    );
    await assertRefused([...env, "--format", "xml"], /^error: --format: must be json or table/);
    await assertRefused([...env, "--limit", "5"], /^error: --limit: goes with --format table/);
    await assertRefused([...env, "--format", "table", "--limit", "0"], /^error: --limit: /);
    await assertRefused([...env, ...inputs], /^error: diff: .*two forms: use one/);
    await assertRefused([], /^error: diff: needs --envelope and --envelope-b, or --inputs/);
    await assertRefused(["--envelope", `${FLOOR}/envelope.json`], /^error: --envelope-b: is req/);
    await assertRefused([...inputs, "--epoch", "apportion-1"], /^error: --policy-b: is required/);
    await assertRefused([...inputs, "--policy-b", `${LR}/policy.json`], /^error: --epoch: is req/);
    await assertRefused(
      [...inputs, "--policy-b", `${LR}/policy.json`, "--epoch", "another-epoch"],
      new RegExp(`^error: ${FLOOR}/inputs.json: BAD_REQUEST stale`),
    );
    await assertRefused(
      ["--envelope", join(dir, "missing.json"), "--envelope-b", `${LR}/envelope.json`],
      /: no such file/,
    );
    // Another asset: a valid (unsigned) envelope paying "usd" cannot be subtracted from "roc".
    const policy = JSON.parse(await Deno.readTextFile(`${LR}/policy.json`));
    policy.asset = "usd";
    const usdPolicy = join(dir, "usd-policy.json");
    await Deno.writeTextFile(usdPolicy, JSON.stringify(policy));
    const inputsDoc = JSON.parse(await Deno.readTextFile(`${FLOOR}/inputs.json`));
    inputsDoc.asset = "usd";
    const usdInputs = join(dir, "usd-inputs.json");
    await Deno.writeTextFile(usdInputs, JSON.stringify(inputsDoc));
    const sealed = await runCliCaptured([
      "compute",
      "--epoch",
      "apportion-1",
      "--inputs",
      usdInputs,
      "--policy",
      usdPolicy,
    ]);
    assert.equal(sealed.code, 0, sealed.stderr);
    const usdEnvelope = join(dir, "usd.json");
    await Deno.writeTextFile(usdEnvelope, sealed.stdout);
    await assertRefused(
      ["--envelope", `${FLOOR}/envelope.json`, "--envelope-b", usdEnvelope],
      new RegExp(`^error: ${usdEnvelope}: pays another asset than A`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a quarantined side is compared (it pays nobody) and exits 3", async () => {
  const q = `${V}/overflow-quarantines/envelope.json`;
  const out = await runCliCaptured(["diff", "--envelope", q, "--envelope-b", q, "--keys", KEYS]);
  assert.equal(out.code, 3, out.stderr);
  assert.equal(JSON.parse(out.stdout).accounts.length, 0);
  assert.match(
    out.stderr,
    /^warning: .*overflow-quarantines\/envelope.json: quarantined \(overflow\)/,
  );
});

Deno.test("rewarder diff --help names both forms' options; rewarder --help lists diff", async () => {
  const out = await runCliCaptured(["diff", "--help"]);
  assert.equal(out.code, 0);
  for (
    const flag of [
      "--envelope",
      "--envelope-b",
      "--keys",
      "--inputs",
      "--policy",
      "--policy-b",
      "--epoch",
      "--inputs-b",
      "--format",
      "--limit",
      "--include-unchanged",
    ]
  ) {
    assert.match(out.stdout, new RegExp(`^  ${flag} .*\\S`, "m"), flag);
  }
  assert.match(out.stdout, /^Exit: 0 .*1 .*2 .*3 /m);
  assert.match((await runCliCaptured(["--help"])).stdout, /^ {2}diff +what-if/m);
});
