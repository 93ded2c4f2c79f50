#!/usr/bin/env bash
# Debian's headless Chromium for the auditor's page browser tests (tests/audit_page_test.ts).
# Idempotent.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null
