#!/usr/bin/env bash
# PowerDNS Authoritative (Debian's pdns-server with the sqlite3 backend) on 127.0.0.1 for the
# tests: DNS on $PDNS_DNS_PORT (default 5310), the HTTP API (X-API-Key) on $PDNS_API_PORT
# (default 8091), and the zone testkit.example. Writes PDNS_API_URL, PDNS_API_KEY and
# PDNS_DNS to $RUN_ROOT/pdns/env.
#
# usage: pdns.sh install | start | stop | status
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/pdns
DNS_PORT=${PDNS_DNS_PORT:-5310}
API_PORT=${PDNS_API_PORT:-8091}
API_KEY=${PDNS_API_KEY:-dcgw-test-pdns-key}
ZONES=${PDNS_ZONES:-testkit.example bench.example}
SCHEMA=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
API=http://127.0.0.1:$API_PORT/api/v1/servers/localhost

install() {
  apt_install pdns-server pdns-backend-sqlite3 sqlite3 curl ca-certificates
  # Under systemd the package would start its own pdns on port 53.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl disable --now pdns >/dev/null 2>&1 || true; fi
}

start() {
  install
  is_running "$DIR/pdns.pid" && { log "pdns already running"; return 0; }
  local t0; t0=$(now_ms)
  rm -rf "$DIR"; mkdir -p "$DIR"
  sqlite3 "$DIR/pdns.sqlite3" < "$SCHEMA"
  cat > "$DIR/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$DIR/pdns.sqlite3
local-address=127.0.0.1
local-port=$DNS_PORT
socket-dir=$DIR
daemon=no
guardian=no
write-pid=no
disable-syslog=yes
loglevel=4
security-poll-suffix=
api=yes
api-key=$API_KEY
webserver=yes
webserver-address=127.0.0.1
webserver-port=$API_PORT
webserver-allow-from=127.0.0.0/8
CONF
  local extra=()
  if [ "$(id -u)" -eq 0 ] && id pdns >/dev/null 2>&1; then
    # pdns_server drops to the pdns user, which must reach $DIR (RUN_ROOT may be a 0700 mktemp dir).
    chown -R pdns:pdns "$DIR"; chmod a+x "$RUN_ROOT"; extra=(--setuid=pdns --setgid=pdns)
  fi
  nohup pdns_server --config-dir="$DIR" "${extra[@]}" >"$DIR/pdns.log" 2>&1 &
  echo $! > "$DIR/pdns.pid"
  wait_for "pdns API" 20 curl -sf -H "X-API-Key: $API_KEY" "$API" || { cat "$DIR/pdns.log" >&2; return 1; }
  local z
  for z in $ZONES; do
    curl -sf -o /dev/null -H "X-API-Key: $API_KEY" -X POST "$API/zones" \
      -d '{"name":"'"$z"'.","kind":"Native","nameservers":["ns1.'"$z"'.","ns2.'"$z"'."]}'
  done
  printf 'PDNS_API_URL=http://127.0.0.1:%s\nPDNS_API_KEY=%s\nPDNS_DNS=127.0.0.1:%s\n' "$API_PORT" "$API_KEY" "$DNS_PORT" > "$DIR/env"
  log "pdns ready on 127.0.0.1:$DNS_PORT, API on $API_PORT, in $(( $(now_ms) - t0 )) ms (zones: $ZONES)"
}

stop() { stop_pidfile "$DIR/pdns.pid"; }
status() { is_running "$DIR/pdns.pid" && echo running || { echo stopped; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
