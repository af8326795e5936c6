#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests: 127.0.0.1:$PG_PORT (default 5433), trust
# auth, fsync off. Writes DCGW_TEST_POSTGRES_URL to $RUN_ROOT/postgres/env.
# usage: postgres.sh install | start | stop | status
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/postgres
PORT=${PG_PORT:-5433}
DB=${PG_DB:-dcgw_test}
BIN=/usr/lib/postgresql/15/bin

install() {
  if [ ! -x $BIN/postgres ]; then
    # keep the package from creating (and under systemd starting) a default cluster on 5432
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf
  fi
  apt_install postgresql-15 postgresql-client-15
}

# initdb and postgres refuse to run as root: run them as the package's postgres user.
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start() {
  install
  is_running "$DIR/postgres.pid" && { log "postgres already running"; return 0; }
  rm -rf "$DIR"; mkdir -p "$DIR"
  chmod o+x "$RUN_ROOT"   # the postgres user must reach its directory
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DIR"
  as_owner $BIN/initdb -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$DIR/initdb.log"
  as_owner $BIN/pg_ctl -D "$DIR/data" -l "$DIR/postgres.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  head -1 "$DIR/data/postmaster.pid" > "$DIR/postgres.pid"
  psql -h 127.0.0.1 -p "$PORT" -U postgres -qAt -c "CREATE DATABASE $DB" >/dev/null
  echo "DCGW_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PORT/$DB" > "$DIR/env"
  log "postgres ready on 127.0.0.1:$PORT (database $DB)"
}

stop() {
  if [ -f "$DIR/data/postmaster.pid" ]; then as_owner $BIN/pg_ctl -D "$DIR/data" -m fast -w stop >/dev/null || true; fi
  stop_pidfile "$DIR/postgres.pid"
}

status() { is_running "$DIR/postgres.pid" && echo running || { echo stopped; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
