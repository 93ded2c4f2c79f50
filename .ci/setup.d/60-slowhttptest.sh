#!/usr/bin/env bash
# slowhttptest (Debian) for the slowloris / slow-body runs of tests/dos_test.ts. Idempotent.
set -euo pipefail
if command -v slowhttptest >/dev/null 2>&1; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq slowhttptest >/dev/null
command -v slowhttptest >/dev/null
