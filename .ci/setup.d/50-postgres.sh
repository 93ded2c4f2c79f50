#!/usr/bin/env bash
# PostgreSQL for the postgres RunStore tests (issue 8): src/shell/store/postgres_run_store_test.ts
# and tests/multi_instance_test.ts. Idempotent.
#
# 1. Installs the Debian package `postgresql` when no server binaries are present.
# 2. Creates a throwaway cluster under /tmp (loopback TCP only, socket in the cluster dir,
#    scram-sha-256 for TCP) on port ${REWARDER_CI_PG_PORT:-55432} and starts it. An already
#    running cluster of an earlier run is reused.
# 3. Creates the role `rewarder` (random password) and the database `rewarder_test` it owns.
# 4. Writes the connection URL to .ci/state/database_url (0600): environment variables do not
#    carry over from setup steps to the test run, so the tests read TEST_DATABASE_URL or, failing
#    that, this file.
set -euo pipefail
cd "$(dirname "$0")/../.."

PORT="${REWARDER_CI_PG_PORT:-55432}"
CLUSTER="/tmp/rewarder-ci-pg-${PORT}"
STATE_DIR=".ci/state"
URL_FILE="${STATE_DIR}/database_url"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

if [ -z "$(pg_bin)" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # The package's own cluster/service is not used; stop it where systemd started it.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop postgresql >/dev/null 2>&1 || true; fi
fi
BIN="$(pg_bin)"
[ -n "$BIN" ] || { echo "50-postgres: no PostgreSQL server binaries after install" >&2; exit 1; }

# The cluster runs as `postgres` when we are root (initdb refuses root), else as ourselves.
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

if ! "$BIN/pg_isready" -q -h "$CLUSTER" -p "$PORT" 2>/dev/null; then
  if [ ! -f "$CLUSTER/PG_VERSION" ]; then
    rm -rf "$CLUSTER"
    mkdir -p "$CLUSTER"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$CLUSTER"; fi
    chmod 0700 "$CLUSTER"
    as_pg "$BIN/initdb" -D "$CLUSTER" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  # Stale pid file of a killed server: pg_ctl start would refuse it.
  if [ -f "$CLUSTER/postmaster.pid" ] && ! as_pg "$BIN/pg_ctl" -D "$CLUSTER" status >/dev/null 2>&1; then
    rm -f "$CLUSTER/postmaster.pid"
  fi
  as_pg "$BIN/pg_ctl" -D "$CLUSTER" -l "$CLUSTER/server.log" -w -t 60 \
    -o "-p ${PORT} -k ${CLUSTER} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" \
    start >/dev/null
fi

psql_pg() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$CLUSTER" -p "$PORT" -U postgres -d postgres "$@"; }

mkdir -p "$STATE_DIR"
chmod 0700 "$STATE_DIR"
printf '*\n' > "${STATE_DIR}/.gitignore"
# One password per cluster, kept beside it (0600) and reused: several checkouts (or CI runs)
# may share this cluster, and rotating the password would break the tests of the others.
PW_FILE="${CLUSTER}.rewarder-password"
if [ ! -s "$PW_FILE" ]; then
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$PW_FILE")
fi
PASSWORD=$(cat "$PW_FILE")
# The password is passed on stdin (never on a command line).
printf "SELECT 'CREATE ROLE rewarder LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rewarder') \\\\gexec\nALTER ROLE rewarder CREATEDB PASSWORD '%s';\n" "$PASSWORD" | psql_pg >/dev/null
if [ "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = 'rewarder_test'")" != "1" ]; then
  psql_pg -c "CREATE DATABASE rewarder_test OWNER rewarder" >/dev/null
fi
umask 077
printf 'postgres://rewarder:%s@127.0.0.1:%s/rewarder_test\n' "$PASSWORD" "$PORT" > "$URL_FILE"
chmod 0600 "$URL_FILE"
echo "50-postgres: cluster on 127.0.0.1:${PORT} ready; URL in ${URL_FILE}"
