#!/usr/bin/env bash
# Cross-runtime conformance: for each runtime × {tcp, unix}, start the server (Deno from
# source, Bun and Node from the deno bundle), wait until ready, run tests/conformance/suite.ts
# with that runtime's own test runner, then SIGTERM the server during a slow request and check
# the drain, the exit status and (UDS) the socket file's mode and removal.
#
# Prints one detail line per combination, then exactly one line `suite: N passed, N failed`
# (.ci/run adds it to the total). Runner output is kept in a temp dir and shown indented
# only on failure, so its own summary lines never reach .ci/run's parser.
#
#   tests/conformance/run_all.sh                       # the fixture server, all combinations
#   RUNTIMES="deno node" TRANSPORTS=unix tests/conformance/run_all.sh
#
# Lead: to run the real service, set SERVER_SRC=main.ts, SERVER_BUNDLE=dist/main.mjs and
# CONFORMANCE_FIXTURE=0 (the generic block then runs against the real app), and add
# main.ts to scripts/bundle.sh. The server must print `listening tcp host:port` or
# `listening unix /path` on stdout once bound (listen()'s onListen does it in the fixture).
set -uo pipefail
cd "$(dirname "$0")/../.."
export NO_COLOR=1

# deno-node: Deno running listen()'s node:http engine (LISTEN_ENGINE=node), see RUNTIMES.md.
RUNTIMES=${RUNTIMES:-"deno deno-node bun node"}
TRANSPORTS=${TRANSPORTS:-"tcp unix"}
SERVER_SRC=${SERVER_SRC:-tests/conformance/fixture_server.ts}
SERVER_BUNDLE=${SERVER_BUNDLE:-dist/fixture_server.mjs}
SUITE_BUNDLE=dist/suite.mjs
export CONFORMANCE_FIXTURE=${CONFORMANCE_FIXTURE:-1}
READY_TENTHS_MAX=150   # 15 s for a server to print its readiness line
EXIT_TENTHS_MAX=150    # 15 s for a drained server to exit (DRAIN_MS_MAX is 10 s)
SUITE_S_MAX=120        # one runner's whole suite
DRAIN_SLOW_MS=1000     # the in-flight request SIGTERM must not cut

total_passed=0
total_failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! scripts/bundle.sh >"$work/bundle.log" 2>&1; then
  sed 's/^/    /' "$work/bundle.log"
  echo "conformance: bundling failed"
  echo "suite: 0 passed, 1 failed"
  exit 1
fi

# Server command for a runtime (argv on stdout, one word per line).
server_cmd() {
  if [ "$CONFORMANCE_FIXTURE" = 0 ]; then # the real service: its data dir lives in $2
    case "$1" in
      deno) printf '%s\n' deno run --allow-net --allow-env --allow-read --allow-write="$2" \
        --allow-sys --deny-run --deny-ffi --unstable-no-legacy-abort "$SERVER_SRC" ;;
      deno-node) printf '%s\n' env LISTEN_ENGINE=node deno run --allow-net --allow-env --allow-read \
        --allow-write="$2" --allow-sys --deny-run --deny-ffi --unstable-no-legacy-abort "$SERVER_SRC" ;;
      bun) printf '%s\n' bun "$SERVER_BUNDLE" ;;
      node) printf '%s\n' node "$SERVER_BUNDLE" ;;
    esac
    return
  fi
  case "$1" in
    deno) printf '%s\n' deno run --allow-net --allow-env --allow-read="$2" --allow-write="$2" \
      --allow-sys=uid "$SERVER_SRC" ;;
    deno-node) printf '%s\n' env LISTEN_ENGINE=node deno run --allow-net --allow-env \
      --allow-read="$2" --allow-write="$2" --allow-sys=uid "$SERVER_SRC" ;;
    bun) printf '%s\n' bun "$SERVER_BUNDLE" ;;
    node) printf '%s\n' node "$SERVER_BUNDLE" ;;
  esac
}

# Run the suite with the runtime's runner, JUnit into $2; prints "<passed> <failed>".
run_suite() {
  local rt=$1 xml=$2 log=$3 rc
  case "$rt" in
    deno | deno-node) timeout "$SUITE_S_MAX" deno test --allow-all --reporter=junit --junit-path="$xml" \
      tests/conformance/suite.ts >"$log" 2>&1 ;;
    bun) timeout "$SUITE_S_MAX" bun test --reporter=junit --reporter-outfile="$xml" \
      ./tests/conformance/suite.ts >"$log" 2>&1 ;;
    node) timeout "$SUITE_S_MAX" node --test --test-reporter=junit \
      --test-reporter-destination="$xml" "$SUITE_BUNDLE" >"$log" 2>&1 ;;
  esac
  rc=$?
  local counts="0 0"
  [ -s "$xml" ] && counts=$(deno run --allow-read tests/conformance/junit_count.ts "$xml")
  read -r p f <<<"$counts"
  # A runner that failed without a failing testcase (crash, load error) still fails once.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "$p $f"
}

# Start a request to /slow in the background (node client, any transport); result in $2, the
# client's pid in SLOW_PID. Called directly, not in `$(…)`: the client must be this shell's own
# child, or `wait` returns at once and the result is read before the client has written it.
slow_request() {
  local target=$1 out=$2
  node -e '
    const http = require("node:http");
    const [target, ms] = process.argv.slice(1);
    const opts = target.startsWith("/") ? { socketPath: target } : { host: target.split(":")[0], port: Number(target.split(":")[1]) };
    const req = http.get({ ...opts, path: `/slow?ms=${ms}`, timeout: 20000 }, (res) => {
      let text = ""; res.on("data", (c) => (text += c)); res.on("end", () => console.log(res.statusCode, text));
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (e) => console.log("error", e.code));
  ' "$target" "$DRAIN_SLOW_MS" >"$out" 2>&1 &
  SLOW_PID=$!
}

run_combo() {
  local rt=$1 tp=$2 dir="$work/$1-$2" passed=0 failed=0 notes=()
  mkdir -p "$dir"
  local bind="127.0.0.1:0" sock="$dir/run/api.sock"
  [ "$tp" = unix ] && bind="unix://$sock"
  mapfile -t cmd < <(server_cmd "$rt" "$dir")
  : >"$dir/server.out"
  DATA_DIR="$dir/data" BIND_ADDR="$bind" "${cmd[@]}" >"$dir/server.out" 2>"$dir/server.err" &
  local pid=$! ready="" i
  for ((i = 0; i < READY_TENTHS_MAX; i++)); do
    ready=$(sed -nE 's/^listening (tcp|unix) (.+)$/\2/p' "$dir/server.out" | head -1)
    [ -n "$ready" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    echo "conformance $rt/$tp: server not ready"; sed 's/^/    /' "$dir/server.err" | tail -20
    kill -KILL "$pid" 2>/dev/null
    total_failed=$((total_failed + 1)); return
  fi

  # The real service prints a development token and a first compute: the contract block of
  # the suite uses them (nothing is configured by hand).
  if [ "$CONFORMANCE_FIXTURE" = 0 ]; then
    for ((i = 0; i < READY_TENTHS_MAX; i++)); do # the banner follows the listening line
      grep -q "The token expires" "$dir/server.out" && break
      sleep 0.1
    done
    export CONFORMANCE_TOKEN CONFORMANCE_EPOCH_PATH CONFORMANCE_COMPUTE_BODY
    CONFORMANCE_TOKEN=$(sed -nE "s/^  TOKEN='(.*)'$/\1/p" "$dir/server.out" | head -1)
    CONFORMANCE_EPOCH_PATH=$(sed -nE 's#.*(/rewarder/epochs/[^/ ]+)/compute.*#\1#p' "$dir/server.out" | head -1)
    CONFORMANCE_COMPUTE_BODY=$(sed -nE "s/^    -d '(.*)'$/\1/p" "$dir/server.out" | head -1)
    if [ -z "$CONFORMANCE_TOKEN" ] || [ -z "$CONFORMANCE_EPOCH_PATH" ]; then
      failed=$((failed + 1)); notes+=("service banner not read: contract block skipped")
    fi
  fi

  # 1. The suite, with this runtime's runner.
  local counts
  if [ "$tp" = unix ]; then
    counts=$(CONFORMANCE_UNIX="$ready" CONFORMANCE_URL= run_suite "$rt" "$dir/junit.xml" "$dir/suite.log")
  else
    counts=$(CONFORMANCE_URL="http://$ready" CONFORMANCE_UNIX= run_suite "$rt" "$dir/junit.xml" "$dir/suite.log")
  fi
  read -r p f <<<"$counts"
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -gt 0 ] && notes+=("suite failed") && sed 's/^/    /' "$dir/suite.log" | tail -40

  # 2. Harness checks: UDS modes, drain on SIGTERM, exit status, socket removal.
  check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); notes+=("$1"); fi; }
  if [ "$tp" = unix ]; then
    check "socket mode 0600" '[ "$(stat -c %a "$sock")" = 600 ]'
    check "socket dir mode 0700" '[ "$(stat -c %a "$(dirname "$sock")")" = 700 ]'
  fi
  local slow_pid
  local marks_before
  marks_before=$(grep -c "slow request started" "$dir/server.out")
  slow_request "$ready" "$dir/slow.out"
  slow_pid=$SLOW_PID
  # SIGTERM only once the server runs this slow handler (one more marker than before; bounded
  # wait), so under load the check cannot race the client's start-up. The real service has
  # no slow route: a fixed pause, and the drain check is not made there.
  for ((i = 0; i < READY_TENTHS_MAX; i++)); do
    [ "$(grep -c "slow request started" "$dir/server.out")" -gt "$marks_before" ] && break
    [ "$CONFORMANCE_FIXTURE" = 0 ] && { sleep 0.5; break; }
    sleep 0.1
  done
  kill -TERM "$pid"
  local exited=""
  for ((i = 0; i < EXIT_TENTHS_MAX; i++)); do
    kill -0 "$pid" 2>/dev/null || { exited=1; break; }
    sleep 0.1
  done
  [ -z "$exited" ] && kill -KILL "$pid" 2>/dev/null
  wait "$pid"; local status=$?
  wait "$slow_pid" # the client has written its result (it ends at its own 20 s timeout at worst)
  check "server exits after SIGTERM" '[ -n "$exited" ]'
  check "exit status 0 after drain" '[ "$status" -eq 0 ]'
  [ "$CONFORMANCE_FIXTURE" = 1 ] &&
    check "in-flight request drained" 'grep -q "^200 .*\"sleptMs\":$DRAIN_SLOW_MS" "$dir/slow.out"'
  [ "$tp" = unix ] && check "socket removed on shutdown" '[ ! -e "$sock" ]'
  if [ "$failed" -gt 0 ]; then
    sed 's/^/    server: /' "$dir/server.err" | tail -20
    sed 's/^/    server out: /' "$dir/server.out" | tail -5
    [ -e "$dir/slow.out" ] && sed 's/^/    slow request: /' "$dir/slow.out"
  fi

  local detail="conformance $rt/$tp: $passed passed, $failed failed"
  if [ "${#notes[@]}" -gt 0 ]; then detail+=" ($(IFS=';'; echo "${notes[*]}"))"; fi
  echo "$detail"
  total_passed=$((total_passed + passed)); total_failed=$((total_failed + failed))
}

for rt in $RUNTIMES; do
  if ! command -v "${rt%-node}" >/dev/null; then
    echo "conformance $rt: runtime not on PATH"; total_failed=$((total_failed + 1)); continue
  fi
  for tp in $TRANSPORTS; do run_combo "$rt" "$tp"; done
done

echo "suite: ${total_passed} passed, ${total_failed} failed"
[ "$total_failed" -eq 0 ]
