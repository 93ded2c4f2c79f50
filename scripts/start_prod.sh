#!/usr/bin/env bash
# Production launcher: computes the narrowest Deno permissions from the environment and
# execs the service with them (docs/DEPLOY.md). Network: the bind address and the configured
# downstreams only. Files: read the code, the key files and DATA_DIR; write DATA_DIR only
# (nothing at all with AMNESIA=on). No subprocesses, no FFI.
set -euo pipefail
cd "$(dirname "$0")/.."
DENO_BIN=${DENO_BIN:-deno}
bind=${BIND_ADDR:-127.0.0.1:8090}
data=${DATA_DIR:-./.rewarder-data}

host_of() { # http(s)://host[:port]/... → host:port
  local url=$1 rest hostport
  rest=${url#*://}; hostport=${rest%%/*}
  case "$url" in https://*) [[ $hostport == *:* ]] || hostport="$hostport:443";; *) [[ $hostport == *:* ]] || hostport="$hostport:80";; esac
  printf '%s' "$hostport"
}

net=()
reads=("$PWD" "$data")
writes=()
case "$bind" in
  unix://*) sock=${bind#unix://}; reads+=("$(dirname "$sock")"); writes+=("$(dirname "$sock")"); net+=("unix:$sock") ;;
  *) net+=("$bind") ;;
esac
for var in LEDGER_URL INPUTS_SOURCE POLICY_SOURCE; do
  [ -n "${!var:-}" ] && net+=("$(host_of "${!var}")")
done
if [ -n "${DATABASE_URL:-}" ]; then
  dbhost=${DATABASE_URL#*@}; dbhost=${dbhost%%/*}; [[ $dbhost == *:* ]] || dbhost="$dbhost:5432"; net+=("$dbhost")
fi
for var in CAPS_KEYS_PATH GOV_KEYS_PATH AT_REST_KEY_PATH LEDGER_TOKEN_PATH TLS_CERT_PATH TLS_KEY_PATH CONFIG_RELOAD_PATH; do
  [ -n "${!var:-}" ] && reads+=("${!var}")
done
for var in SIGNING_KEYS_DIR POLICY_DIR; do
  [ -n "${!var:-}" ] && reads+=("${!var}")
done
case "${AMNESIA:-off}" in on|true|1) ;; *) writes+=("$data") ;; esac

join() { local IFS=,; printf '%s' "$*"; }
flags=(--allow-env --allow-sys=uid,hostname,osRelease,loadavg,networkInterfaces,systemMemoryInfo,cpus
  --allow-read="$(join "${reads[@]}")" --deny-run --deny-ffi --unstable-no-legacy-abort)
[ ${#net[@]} -gt 0 ] && flags+=(--allow-net="$(join "${net[@]}")")
[ ${#writes[@]} -gt 0 ] && flags+=(--allow-write="$(join "${writes[@]}")")
exec "$DENO_BIN" run "${flags[@]}" main.ts --production "$@"
