#!/usr/bin/env bash
# Runs one test file N times back to back and reports every run: a flaky test is a defect, and
# this is how to see one (deno task test:repeat FILE N). Optional BUSY=K holds the CPU with K
# `yes > /dev/null` loops for the whole repeat (the loops are stopped on exit).
#
#   deno task test:repeat tests/chaos_test.ts 5
#   BUSY=4 deno task test:repeat tests/dos_test.ts 5
set -uo pipefail
cd "$(dirname "$0")/.."
file=${1:?usage: test:repeat FILE N}
runs=${2:?usage: test:repeat FILE N}
[[ "$runs" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "test:repeat: N is 1..999" >&2; exit 2; }
[ -f "$file" ] || { echo "test:repeat: $file: no such file" >&2; exit 2; }
export NO_COLOR=1
busy_pids=()
stop_busy() { for p in "${busy_pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap stop_busy EXIT
for _ in $(seq 1 "${BUSY:-0}"); do yes >/dev/null & busy_pids+=($!); done
passed=0; failed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  log=$(mktemp)
  if deno test --allow-all --unstable-no-legacy-abort "$file" >"$log" 2>&1; then
    passed=$((passed + 1)); verdict=ok
  else
    failed=$((failed + 1)); verdict=FAILED
    sed -n '/ERRORS\|FAILURES/,$p' "$log" | head -60
  fi
  echo "test:repeat run $i/$runs: $verdict in $(( $(date +%s) - start )) s ($(grep -E '^(ok|FAILED) \|' "$log" | tail -1))"
  rm -f "$log"
done
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
