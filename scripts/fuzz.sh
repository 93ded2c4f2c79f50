#!/usr/bin/env bash
# Nightly fuzzing (docs/SUPPLY-CHAIN.md): every fuzz target for FUZZ_RUNS cases (default 200,000 each,
# ~10-15 min on 2 cores) from FUZZ_SEED (default random, printed). Counterexamples are written
# to fuzz/regressions/ — commit them; tests/fuzz_test.ts replays them in CI.
#
#   scripts/fuzz.sh                  # all targets
#   scripts/fuzz.sh macaroon inputs  # some targets
#   FUZZ_RUNS=1000000 FUZZ_SEED=42 scripts/fuzz.sh compressed
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_RUNS="${FUZZ_RUNS:-200000}"
exec deno run --allow-all --unstable-no-legacy-abort fuzz/main.ts "$@"
