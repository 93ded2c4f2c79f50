#!/usr/bin/env bash
# Measure what each runtime's listener (src/shell/listen) actually does; the figures feed
# docs/RUNTIMES.md. Not a test: it prints observations, it does not pass or fail.
#   tests/conformance/measure_runtimes.sh        (needs openssl; ~40 s)
set -uo pipefail
cd "$(dirname "$0")/../.."
export NO_COLOR=1
WINDOW_S=${WINDOW_S:-40}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
scripts/bundle.sh >/dev/null

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 "$work/key.pem"

start() { # start <runtime> <name> [env...] -> prints host:port
  local rt=$1 name=$2; shift 2
  local -a cmd=(node dist/fixture_server.mjs)
  [ "$rt" = bun ] && cmd=(bun dist/fixture_server.mjs)
  [ "$rt" = deno ] && cmd=(deno run -A tests/conformance/fixture_server.ts)
  env BIND_ADDR=127.0.0.1:0 "$@" "${cmd[@]}" >"$work/$name.out" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 150; i++)); do
    sed -nE 's/^listening tcp (.+)$/\1/p' "$work/$name.out" | grep . && return
    sleep 0.1
  done
  echo "none"
}

for rt in deno bun node; do
  addr=$(start "$rt" "$rt-tls" TLS_CERT_PATH="$work/cert.pem" TLS_KEY_PATH="$work/key.pem")
  for v in tls1_2 tls1_3; do
    line=$(echo | timeout 5 openssl s_client -connect "$addr" "-$v" -brief 2>&1 |
      grep -E "Protocol version|alert" | head -1)
    case "$line" in
      *"Protocol version"*) echo "$rt $v: accepted (${line##*: })" ;;
      *) echo "$rt $v: refused (${line##*:})" ;;
    esac
  done
  zstd=$(case $rt in
    deno) deno eval 'import z from "node:zlib"; console.log(typeof z.zstdCompressSync)' ;;
    bun) bun -e 'console.log(typeof require("node:zlib").zstdCompressSync)' ;;
    node) node -e 'console.log(typeof require("node:zlib").zstdCompressSync)' ;;
  esac)
  echo "$rt node:zlib zstdCompressSync: $zstd"
done

for rt in deno bun node; do
  addr=$(start "$rt" "$rt-slow")
  for mode in idle trickle body; do
    node tests/conformance/slow_probe.mjs "${addr%:*}" "${addr##*:}" "$mode" "$WINDOW_S" \
      | sed "s/^/$rt slow-client /" &
  done
done
wait_for=$((WINDOW_S + 5))
sleep 1; for ((i = 0; i < wait_for; i++)); do jobs -r | grep -q slow_probe || break; sleep 1; done
