#!/usr/bin/env bash
# The whole test suite (the README's test command runs this through `deno task test`):
# formatting, lint and type check; every Deno test; the cross-runtime conformance suite; the
# protocol model. Each extra suite prints one `suite: N passed, N failed` line; `deno test`
# prints its own summary. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export NO_COLOR=1
# Bun runs the cross-runtime conformance suite; install it beside Deno when missing.
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
if ! command -v bun >/dev/null 2>&1; then
  npm install --prefix .tools --no-save --no-audit --no-fund bun@1.4.5 >/dev/null 2>&1 || echo "note: could not install bun"
fi
status=0
checks_passed=0; checks_failed=0
run_check() {
  local name=$1; shift
  if "$@"; then checks_passed=$((checks_passed + 1)); else echo "check failed: $name"; checks_failed=$((checks_failed + 1)); status=1; fi
}
run_check fmt deno fmt --check
run_check lint deno lint
run_check typecheck deno check .
echo "suite: ${checks_passed} passed, ${checks_failed} failed"

deno test --allow-all --parallel --unstable-no-legacy-abort || status=1

# Tenants cannot hurt each other (tests/isolation_acceptance.ts): it compares the honest
# tenant's latency under attack with its latency alone in the same run, so it runs alone —
# `--parallel` above runs two test files at a time, and the other one's load would land in
# one phase and not the other.
deno test --allow-all --unstable-no-legacy-abort tests/isolation_acceptance.ts || status=1

# Cross-runtime conformance (Deno, Deno on node:http, Bun, Node from the bundle; TCP and UDS):
# once against the fixture server (drain of an in-flight request), once against the real
# service (the contract block: auth, media type, compute, replay, envelope).
bash tests/conformance/run_all.sh || status=1
SERVER_SRC=main.ts SERVER_BUNDLE=dist/main.mjs CONFORMANCE_FIXTURE=0 \
  bash tests/conformance/run_all.sh || status=1
bash model/check.sh || status=1
exit $status
