#!/usr/bin/env bash
# Independent Ed25519 verifiers for tests/keys_governance_test.ts (issue 6): OpenSSL
# (`pkeyutl -verify -rawin`) and PyNaCl (libsodium), plus pyca/cryptography when present.
set -euo pipefail
if command -v openssl >/dev/null 2>&1 && /usr/bin/python3 -c "import nacl.signing" >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq openssl python3-nacl >/dev/null
openssl version >/dev/null
/usr/bin/python3 -c "import nacl.signing"
