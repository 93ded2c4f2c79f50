/**
 * `rewarder diff`: what-if for governors (docs/FORMATS.md "What-if for governors"). Two forms:
 *
 * - `--envelope A --envelope-b B [--keys F]`: two sealed envelopes (v1 or v2). Each is
 *   checked before it is compared — with `--keys`, fully as `verify` does (contract §6:
 *   members, sums, `payouts_root`, `manifest_hash`, signatures); without, everything but the
 *   signatures (a warning says so). An invalid one is `invalid: <why> (<file>)`, exit 1.
 * - `--inputs F --policy P --policy-b Q --epoch E [--inputs-b F2]`: both manifests computed
 *   offline by the engine, as `compute` does (nothing is signed: the manifests are compared).
 *   B is computed from `--inputs-b` (default `--inputs`) and `--policy-b` (default `--policy`);
 *   at least one of them must be given.
 *
 * The output is the diff of `src/core/diff.ts` as JCS (RFC 8785, one line: the same bytes on
 * every runtime), or with `--format table` a readable table: the totals of both sides and the
 * top `--limit` accounts (default 20). Documents are read strictly as I-JSON (contract §1);
 * a bad one is `error: <file>: <what>`, exit 2. A side that is quarantined (contract §4.9) is
 * still compared (it pays nobody) and the command exits 3, as `compute` does.
 *
 * @module
 */
import { canonicalJson } from "../core/canonical_json.ts";
import { diffManifests, type ManifestDiff } from "../core/diff.ts";
import { type CliIo, DocumentError, parseArgs, UsageError } from "./args.ts";
import {
  computeOrThrow,
  EXIT_INVALID,
  EXIT_QUARANTINED,
  EXIT_SEALED,
  readBytes,
  readDocument,
  readKeys,
  readPolicy,
} from "./engine_commands.ts";
import {
  checkEnvelopeUnsigned,
  type Manifest,
  type SealedEnvelope,
  verifyEnvelope,
} from "../core/mod.ts";

/** Rows of the table when `--limit` is not given. */
export const DIFF_TABLE_LIMIT_DEFAULT = 20;

const ENVELOPE_FLAGS = ["envelope", "envelope-b", "keys"] as const;
const COMPUTE_FLAGS = ["inputs", "inputs-b", "policy", "policy-b", "epoch"] as const;

/** One side of the diff: its manifest and a label for the table (the file it came from). */
interface Side {
  manifest: Manifest;
  label: string;
}

/** Reads and checks both envelopes; undefined (after `invalid:` lines) when one is invalid. */
async function envelopeSides(
  flags: Map<string, string>,
  io: CliIo,
): Promise<[Side, Side] | undefined> {
  const paths = [flags.get("envelope"), flags.get("envelope-b")];
  if (paths[0] === undefined || paths[1] === undefined) {
    throw new UsageError(paths[0] === undefined ? "--envelope" : "--envelope-b", "is required");
  }
  const docs = [await readDocument(paths[0]), await readDocument(paths[1])];
  const keysPath = flags.get("keys");
  const keys = keysPath === undefined ? undefined : await readKeys(keysPath);
  if (keys === undefined) io.stderr("warning: no --keys given; signatures are not checked\n");
  let valid = true;
  docs.forEach((doc, i) => {
    const checked = keys === undefined ? checkEnvelopeUnsigned(doc) : verifyEnvelope(doc, keys);
    if (checked.ok) return;
    const at = checked.error.path ? ` at ${checked.error.path}` : "";
    io.stderr(`invalid: ${checked.error.reason}${at} (${paths[i]})\n`);
    valid = false;
  });
  if (!valid) return undefined;
  return [
    { manifest: (docs[0] as SealedEnvelope).manifest, label: paths[0] },
    { manifest: (docs[1] as SealedEnvelope).manifest, label: paths[1] },
  ];
}

/** Computes both manifests with the engine, as `compute` does (unsigned). */
async function computedSides(flags: Map<string, string>, io: CliIo): Promise<[Side, Side]> {
  for (const flag of ["inputs", "policy", "epoch"]) {
    if (!flags.has(flag)) throw new UsageError(`--${flag}`, "is required");
  }
  if (!flags.has("policy-b") && !flags.has("inputs-b")) {
    throw new UsageError("--policy-b", "is required (or --inputs-b)");
  }
  const epochId = flags.get("epoch")!;
  const salt = io.env("IDEMPOTENCY_SALT");
  const side = async (inputsPath: string, policyPath: string): Promise<Side> => {
    const policy = await readPolicy(policyPath);
    const inputs = await readBytes(inputsPath);
    const out = computeOrThrow(epochId, inputsPath, inputs, policy, salt);
    return { manifest: out.manifest, label: `${inputsPath} + ${policyPath}` };
  };
  const inputsA = flags.get("inputs")!;
  const policyA = flags.get("policy")!;
  return [
    await side(inputsA, policyA),
    await side(flags.get("inputs-b") ?? inputsA, flags.get("policy-b") ?? policyA),
  ];
}

/** `+5`, `-5`, `0`: a delta as the table shows it. */
function signed(delta: string): string {
  return delta === "0" || delta.startsWith("-") ? delta : `+${delta}`;
}

/** Columns: the first left-aligned, the others right-aligned, two spaces apart. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join("  ").trimEnd()
  );
}

/**
 * The readable form of a diff: which side is which, the totals of both with their deltas,
 * and the first `limit` accounts (largest change first), with how many are not shown.
 */
export function formatDiffTable(
  diff: ManifestDiff,
  a: { manifest: Manifest; label: string },
  b: { manifest: Manifest; label: string },
  limit: number,
): string {
  const describe = (m: Manifest) =>
    `epoch ${m.epoch_id}, policy ${m.policy_id} ${m.policy_hash}, ${m.status}`;
  const ta = a.manifest.totals;
  const tb = b.manifest.totals;
  const t = diff.totals;
  const delta = (x: string, y: string) => signed((BigInt(y) - BigInt(x)).toString());
  const totals = columns([
    ["totals", "A", "B", "delta"],
    ["pool_minor", ta.pool_minor, tb.pool_minor, delta(ta.pool_minor, tb.pool_minor)],
    ["fee_minor", ta.fee_minor, tb.fee_minor, signed(t.fee_minor_delta)],
    ["payout_minor", ta.payout_minor, tb.payout_minor, signed(t.payout_minor_delta)],
    ["residual_minor", ta.residual_minor, tb.residual_minor, signed(t.residual_minor_delta)],
    [
      "recipients",
      String(ta.recipients),
      String(tb.recipients),
      signed(String(
        tb.recipients - ta.recipients,
      )),
    ],
  ]);
  const shown = diff.accounts.slice(0, limit);
  const gains = diff.accounts.filter((r) => !r.delta_minor.startsWith("-") && r.delta_minor !== "0")
    .length;
  const losses = diff.accounts.filter((r) => r.delta_minor.startsWith("-")).length;
  const accounts = columns([
    ["account", "A", "B", "delta"],
    ...shown.map((r) => [r.account, r.a_minor, r.b_minor, signed(r.delta_minor)]),
  ]);
  const rest = diff.accounts.length - shown.length;
  return [
    `A: ${a.label} (${describe(a.manifest)})`,
    `B: ${b.label} (${describe(b.manifest)})`,
    `asset ${a.manifest.asset}; amounts in minor units; delta = B - A`,
    "",
    ...totals,
    "",
    `${gains} account(s) gain, ${losses} lose` +
    (shown.length === 0 ? "" : `; largest changes first (top ${shown.length}):`),
    ...(shown.length === 0 ? [] : accounts),
    ...(rest > 0 ? [`… ${rest} more (--limit N shows more; --format json shows all)`] : []),
    "",
  ].join("\n");
}

/** `--limit N`: a whole number ≥ 1. */
function parseLimit(text: string | undefined): number {
  if (text === undefined) return DIFF_TABLE_LIMIT_DEFAULT;
  if (!/^[1-9][0-9]{0,8}$/.test(text)) {
    throw new UsageError("--limit", "must be a whole number ≥ 1");
  }
  return Number(text);
}

/**
 * `diff --envelope <A> --envelope-b <B> [--keys <file>]` or
 * `diff --inputs <file> --policy <P> --policy-b <Q> --epoch <id> [--inputs-b <file>]`, with
 * `[--format json|table] [--limit N] [--include-unchanged]`.
 */
export async function diffCommand(args: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseArgs(
    args,
    [...ENVELOPE_FLAGS, ...COMPUTE_FLAGS, "format", "limit"],
    ["include-unchanged"],
  );
  const flags = parsed.flags;
  const format = flags.get("format") ?? "json";
  if (format !== "json" && format !== "table") {
    throw new UsageError("--format", "must be json or table");
  }
  if (format === "json" && flags.has("limit")) {
    throw new UsageError("--limit", "goes with --format table (json lists every account)");
  }
  const limit = parseLimit(flags.get("limit"));
  const envelopeForm = ENVELOPE_FLAGS.some((f) => flags.has(f));
  const computeForm = COMPUTE_FLAGS.some((f) => flags.has(f));
  if (envelopeForm === computeForm) {
    throw new UsageError(
      "diff",
      envelopeForm
        ? "--envelope/--envelope-b/--keys and --inputs/--policy… are two forms: use one"
        : "needs --envelope and --envelope-b, or --inputs, --policy, --policy-b and --epoch",
    );
  }
  const sides = envelopeForm ? await envelopeSides(flags, io) : await computedSides(flags, io);
  if (sides === undefined) return EXIT_INVALID;
  const [a, b] = sides;
  if (a.manifest.asset !== b.manifest.asset) {
    const fileB = envelopeForm ? flags.get("envelope-b")! : flags.get("policy-b")!;
    throw new DocumentError(fileB, "pays another asset than A (a diff compares one asset)");
  }
  const diff = diffManifests(a.manifest, b.manifest, {
    includeUnchanged: flags.has("include-unchanged"),
  });
  io.stdout(format === "table" ? formatDiffTable(diff, a, b, limit) : canonicalJson(diff) + "\n");
  for (const side of sides) {
    if (side.manifest.status === "quarantined") {
      const reason = side.manifest.quarantine?.reason ?? "unknown";
      io.stderr(`warning: ${side.label}: quarantined (${reason}); it pays nobody\n`);
    }
  }
  return sides.some((s) => s.manifest.status === "quarantined") ? EXIT_QUARANTINED : EXIT_SEALED;
}
