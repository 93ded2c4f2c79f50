#!/usr/bin/env bash
# Exhaustively model-checks model/settlement.pml and model/tenants.pml with spin (docs/MODEL.md).
#
# Each "test" generates a verifier (spin -a), compiles it (gcc) and runs a full search:
#   - settlement.pml (one epoch under crash and retry) satisfies no_double_spend,
#     idempotent_run_key, the bounded progress assertions and (under weak fairness)
#     eventually_delivered;
#   - tenants.pml (contract v2: per-tenant intent keys, the inputs commitment, intent bytes fixed
#     at first enqueue over a v1 -> v2 upgrade) satisfies no_double_pay, one_snapshot_per_tenant
#     and its bounded progress assertions, with and without the upgrade;
#   - every deliberately broken variant is caught on the property it breaks.
# Prints exactly one line `suite: N passed, N failed`; exits non-zero on any failure.
# Without spin or gcc: skips with a message, but fails when CI=true.
set -uo pipefail
cd "$(dirname "$0")"
MODEL_DIR="$PWD"
DEPTH_MAX_STEPS=200000   # pan -m: search depth bound; a run that hits it counts as a failure
NFAIR_PROCS=3            # pan -DNFAIR: process slots for the weak-fairness construction
RUN_TIMEOUT_S=900        # one verifier run (a safety bound): ~1 min quiet, 5+ min seen on a 2-core machine 7x oversubscribed

for tool in spin gcc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
      echo "model: $tool is missing (see .ci/setup.d/40-spin.sh)"
      echo "suite: 0 passed, 1 failed"
      exit 1
    fi
    echo "model: SKIPPED: $tool is not installed (apt-get install -y spin gcc)"
    echo "suite: 0 passed, 0 failed"
    exit 0
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# verify NAME EXPECT SPIN_FLAGS CC_FLAGS PAN_FLAGS [MODEL_FILE]
#   EXPECT: "pass" (full search, no error) or a regex the report must show (the bug was caught).
#   MODEL_FILE: settlement.pml unless given.
verify() {
  local name=$1 expect=$2 spin_flags=$3 cc_flags=$4 pan_flags=$5 model=${6:-settlement.pml}
  local dir="$work/$name" ok=0 started=$SECONDS
  mkdir -p "$dir" && cp "$MODEL_DIR/$model" "$dir/"
  # shellcheck disable=SC2086 # flags are word lists on purpose
  if ! (cd "$dir" && spin $spin_flags -a "$model" >spin.log 2>&1); then
    { echo "model: FAIL $name: spin -a failed"; tail -20 "$dir/spin.log"; } >"$dir/result"; return
  fi
  # -w: pan.c is generated code and gcc's overflow heuristics misfire on its undo records.
  # shellcheck disable=SC2086
  if ! (cd "$dir" && gcc -O2 -w $cc_flags -o pan pan.c >cc.log 2>&1); then
    { echo "model: FAIL $name: gcc failed"; tail -20 "$dir/cc.log"; } >"$dir/result"; return
  fi
  # shellcheck disable=SC2086
  (cd "$dir" && timeout "$RUN_TIMEOUT_S" ./pan -m"$DEPTH_MAX_STEPS" $pan_flags >pan.log 2>&1)
  local log="$dir/pan.log"
  local errors states
  errors=$(sed -nE 's/.*errors: ([0-9]+).*/\1/p' "$log" | tail -1)
  states=$(sed -nE 's/^ *([0-9.e+]+) states, stored.*/\1/p' "$log" | tail -1)
  if [ "$expect" = "pass" ]; then
    if [ "${errors:-x}" = "0" ] && ! grep -q -E "max search depth too small|Search not completed|out of memory" "$log"; then
      ok=1
    fi
  elif [ -n "${errors:-}" ] && [ "$errors" -gt 0 ] && grep -q -E "$expect" "$log"; then
    ok=1
  fi
  local took=$((SECONDS - started))
  if [ "$ok" = 1 ]; then
    echo "model: ok   $name (errors=${errors}, states=${states:-?}, ${took}s)" >"$dir/result"
  else
    {
      echo "model: FAIL $name (expected ${expect}; errors=${errors:-none}, ${took}s)"
      grep -E "violated|cycle|error|depth too small|Search not completed" "$log" | head -5 | sed 's/^/  /'
    } >"$dir/result"
  fi
}

claim_violated="assertion violated +!\\("  # how pan reports a broken safety LTL claim

# The correct protocol: every property holds on every interleaving. The liveness search is the
# longest (about half the suite), so it runs beside the others: one core each.
verify eventually_delivered pass "" "-DNFAIR=$NFAIR_PROCS" "-a -f -N eventually_delivered" &
liveness_pid=$!
verify no_double_spend pass "" "" "-N no_double_spend"
verify idempotent_run_key pass "" "" "-N idempotent_run_key"
verify bounded_progress pass "-DPROGRESS_CHECK" "-DSAFETY -DNOCLAIM" ""

# Broken variants: the model must be able to fail.
verify buggy_no_dedup "$claim_violated" "-DBUGGY_NO_DEDUP" "" "-N no_double_spend"
verify buggy_emit_before_commit "$claim_violated" "-DBUGGY_EMIT_BEFORE_COMMIT" "" "-N no_double_spend"
verify buggy_check_then_commit "$claim_violated" "-DBUGGY_CHECK_THEN_COMMIT" "" "-N no_double_spend"
verify buggy_replay_recompute "$claim_violated" "-DBUGGY_REPLAY_RECOMPUTE" "" "-N idempotent_run_key"
verify buggy_volatile_outbox_liveness "acceptance cycle" "-DBUGGY_VOLATILE_OUTBOX" \
  "-DNFAIR=$NFAIR_PROCS" "-a -f -N eventually_delivered"
verify buggy_volatile_outbox_progress "assertion violated \\(outbox" \
  "-DBUGGY_VOLATILE_OUTBOX -DPROGRESS_CHECK" "-DSAFETY -DNOCLAIM" ""

# Contract v2 (tenants.pml): per-tenant intent keys, the inputs commitment, intent bytes fixed at
# first enqueue across the v1 -> v2 upgrade.
T=tenants.pml
verify v2_no_double_pay pass "" "" "-N no_double_pay" "$T"
verify v2_one_snapshot_per_tenant pass "" "" "-N one_snapshot_per_tenant" "$T"
verify v2_progress pass "-DPROGRESS_CHECK" "-DSAFETY -DNOCLAIM" "" "$T"
verify v2_upgrade_no_double_pay pass "-DUPGRADE" "" "-N no_double_pay" "$T"
verify v2_upgrade_progress pass "-DUPGRADE -DPROGRESS_CHECK" "-DSAFETY -DNOCLAIM" "" "$T"
verify buggy_run_key_as_key "assertion violated \\(\\(\\(ob_state" \
  "-DBUGGY_RUN_KEY_AS_KEY -DPROGRESS_CHECK" "-DSAFETY -DNOCLAIM" "" "$T"
verify buggy_no_inputs_commit "$claim_violated" "-DBUGGY_NO_INPUTS_COMMIT" "" \
  "-N one_snapshot_per_tenant" "$T"
verify buggy_rebuild_intent "$claim_violated" "-DUPGRADE -DBUGGY_REBUILD_INTENT" "" \
  "-N no_double_pay" "$T"

wait "$liveness_pid"

passed=0
failed=0
for name in no_double_spend idempotent_run_key bounded_progress eventually_delivered \
  buggy_no_dedup buggy_emit_before_commit buggy_check_then_commit buggy_replay_recompute \
  buggy_volatile_outbox_liveness buggy_volatile_outbox_progress \
  v2_no_double_pay v2_one_snapshot_per_tenant v2_progress v2_upgrade_no_double_pay \
  v2_upgrade_progress buggy_run_key_as_key buggy_no_inputs_commit buggy_rebuild_intent; do
  if [ -s "$work/$name/result" ] && head -1 "$work/$name/result" | grep -q "^model: ok "; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  cat "$work/$name/result" 2>/dev/null || echo "model: FAIL $name (no result)"
done
echo "suite: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
