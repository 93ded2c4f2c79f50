#!/usr/bin/env bash
# python3-pymacaroons: the independent libmacaroons-compatible implementation that
# tests/caps_interop_test.ts mints and verifies against (contract §9, issue 4).
set -euo pipefail
if /usr/bin/python3 -c "import pymacaroons" >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-pymacaroons >/dev/null
/usr/bin/python3 -c "import pymacaroons"
