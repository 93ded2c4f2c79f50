#!/usr/bin/env bash
# promtool (Debian package `prometheus`) for tests/ops_promtool_test.ts: checks ops/alerts.yml,
# runs ops/alerts_test.yml and lints the /metrics exposition. Idempotent. The package's service
# is not needed; where systemd runs it, it is stopped again.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl stop prometheus || true
fi
command -v promtool >/dev/null
