#!/usr/bin/env bash
# Bundle entry points into dist/ as single ES modules that run on Node 20 and Bun (and Deno).
#
#   scripts/bundle.sh                 # the default entries below (deno task bundle)
#   scripts/bundle.sh path/to/x.ts    # extra entries -> dist/x.mjs
#
# `deno bundle` (Deno 2.9.6) works offline, inlines npm packages from node_modules, keeps
# `node:` builtins as imports, and inlines the listeners' dynamic imports (one file per entry).
# hash-wasm's top-level await and base64-embedded WASM survive (checked by run_all.sh through
# the fixture and by hand: BLAKE3("abc") agrees on all three runtimes).
# `--platform deno` rather than `browser`: browser resolution would pick npm packages'
# browser builds and refuse `node:` imports.
#
# dist/main.mjs (the service) also needs, beside it:
# - dist/vectors -> ../vectors: the embedded default loads its sample epochs from
#   `new URL("./vectors/", import.meta.url)`, i.e. dist/vectors once bundled;
# - dist/engine_worker.ts and dist/engine_worker.mjs: src/shell/engine/engine_thread.ts starts
#   the engine pool's workers from `new URL("./engine_worker.ts", import.meta.url)` (Web Workers,
#   Deno and Bun) or `./engine_worker.mjs` (node:worker_threads, Node: it refuses a .ts name),
#   which resolve beside the bundle. The same bundled ES module under both names (plain JS is
#   valid TS, so Bun and Deno load the .ts one).
set -euo pipefail
cd "$(dirname "$0")/.."

# Output names are unique by construction: the service is dist/main.mjs, the CLI
# (src/cli/rewarder.ts) dist/rewarder.mjs; an extra entry whose name is taken is refused rather
# than overwriting another bundle.
ENTRIES=(
  tests/conformance/fixture_server.ts
  tests/conformance/suite.ts
  main.ts
  src/cli/rewarder.ts
)
if [ "$#" -gt 0 ]; then ENTRIES+=("$@"); fi

mkdir -p dist
declare -A taken=()
for entry in "${ENTRIES[@]}"; do
  name="$(basename "${entry%.ts}")"
  if [ -n "${taken[$name]:-}" ]; then
    echo "bundle: ${entry} would overwrite dist/${name}.mjs (from ${taken[$name]}); rename the entry" >&2
    exit 2
  fi
  taken[$name]=$entry
  deno bundle --quiet --platform deno --format esm -o "dist/${name}.mjs" "$entry"
  echo "bundle: ${entry} -> dist/${name}.mjs"
done
deno bundle --quiet --platform deno --format esm -o dist/engine_worker.ts src/shell/engine/engine_worker.ts
cp dist/engine_worker.ts dist/engine_worker.mjs
echo "bundle: src/shell/engine/engine_worker.ts -> dist/engine_worker.ts (Deno, Bun) and .mjs (Node), beside dist/main.mjs"
ln -sfn ../vectors dist/vectors
