#!/usr/bin/env bash
# Dependency audit (docs/SUPPLY-CHAIN.md): `deno audit` against the npm advisory
# database for the packages in deno.lock. Exit codes:
#   0  no high/critical advisory — or the audit could not be performed (this Deno has no
#      `deno audit`, or the advisory endpoint is unreachable); that is said loudly, and
#      AUDIT_REQUIRE=1 turns it into a failure (exit 3) for release builds.
#   1  a high or critical advisory was found (the build must fail).
#   3  AUDIT_REQUIRE=1 and the audit could not be performed.
set -uo pipefail
cd "$(dirname "$0")/.."
AUDIT_TIMEOUT_S=90   # one call to the advisory endpoint, bounded
DENO_BIN=${DENO_BIN:-deno}

not_performed() {
  echo "audit: NOT PERFORMED: $1"
  if [ "${AUDIT_REQUIRE:-0}" = "1" ]; then exit 3; fi
  exit 0
}

if ! "$DENO_BIN" audit --help >/dev/null 2>&1; then
  not_performed "this Deno ($("$DENO_BIN" --version | head -1)) has no 'deno audit'"
fi

out=$(NO_COLOR=1 timeout "$AUDIT_TIMEOUT_S" "$DENO_BIN" audit --level=high 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
  echo "audit: ok: no high or critical advisories for the packages in deno.lock"
  exit 0
fi
if [ "$rc" -eq 124 ]; then
  not_performed "the advisory endpoint did not answer within ${AUDIT_TIMEOUT_S}s"
fi
# Transport failures name the endpoint and never list an advisory.
if grep -q -E "error sending request|advisories/bulk|client error|dns error|certificate|Connect|timed out|status code" <<<"$out" \
  && ! grep -q -i -E "severity|advisor(y|ies) found|GHSA-|CVE-" <<<"$out"; then
  reason=$(grep -m1 -E "error" <<<"$out" | sed -E 's/\x1b\[[0-9;]*m//g' | cut -c1-200)
  not_performed "advisory endpoint unreachable (${reason})"
fi
echo "$out" | sed -E 's/\x1b\[[0-9;]*m//g' | grep -v -E "^\s+[0-9]+: <unknown>|Stack backtrace"
echo "audit: FAILED: high or critical advisories (see above)"
exit 1
