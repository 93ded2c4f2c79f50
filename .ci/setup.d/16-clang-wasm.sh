#!/usr/bin/env bash
# clang 14 + lld 14 (Debian 12) targeting wasm32: rebuilds the BLAKE3 batch kernel
# (scripts/build_blake3_wasm.sh) so src/core/blake3_batch/build_test.ts can check that the
# committed module is what its source builds, byte for byte. Pinned to the exact Debian
# version: another compiler build may emit other bytes. Idempotent.
set -euo pipefail
VERSION=1:14.0.6-12
installed() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
if [ "$(installed clang-14)" = "$VERSION" ] && [ "$(installed lld-14)" = "$VERSION" ] \
  && command -v clang-14 >/dev/null 2>&1 && [ -x /usr/lib/llvm-14/bin/wasm-ld ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "clang-14=$VERSION" "lld-14=$VERSION" >/dev/null
clang-14 --version | grep -q 'clang version 14.0.6'
[ -x /usr/lib/llvm-14/bin/wasm-ld ]
