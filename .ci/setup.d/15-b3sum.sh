#!/usr/bin/env bash
# b3sum: an independent BLAKE3 (Rust reference crate) used by tests/reference to cross-check
# the JS BLAKE3 outputs (tie keys, payout leaves, CIDs). Idempotent.
set -euo pipefail
if command -v b3sum >/dev/null 2>&1; then exit 0; fi
apt-get update -qq
apt-get install -y -qq b3sum >/dev/null
command -v b3sum >/dev/null
