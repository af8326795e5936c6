#!/usr/bin/env bash
# PowerDNS Authoritative (Debian's pdns-server with the sqlite3 backend) on 127.0.0.1 for the
# tests: DNS on $PDNS_DNS_PORT (default 5310), the HTTP API (X-API-Key) on $PDNS_API_PORT
# (default 8091), and the zones testkit.example, bench.example and mix.example for the HTTP adapter.
# RFC 2136 updates are on: the zones rfc2136.example and rfc2136-faults.example take updates
# and give transfers signed with one TSIG key only (hmac-sha256). Writes PDNS_API_URL,
# PDNS_API_KEY, PDNS_DNS and PDNS_TSIG (algorithm:name:secret) to $RUN_ROOT/pdns/env.
#
# usage: pdns.sh install | start | stop | status
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/pdns
DNS_PORT=${PDNS_DNS_PORT:-5310}
API_PORT=${PDNS_API_PORT:-8091}
API_KEY=${PDNS_API_KEY:-dcgw-test-pdns-key}
ZONES=${PDNS_ZONES:-testkit.example bench.example mix.example}
UPDATE_ZONES=${PDNS_UPDATE_ZONES:-rfc2136.example rfc2136-faults.example}
TSIG_NAME=dcgw-pdns
TSIG_SECRET=${PDNS_TSIG_SECRET:-ZGNndy1wZG5zLXRzaWctc2VjcmV0LTAxMjM0NTY3ODk=}
SCHEMA=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
API=http://127.0.0.1:$API_PORT/api/v1/servers/localhost

install() {
  apt_install pdns-server pdns-backend-sqlite3 sqlite3 curl ca-certificates bind9-dnsutils
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
gsqlite3-dnssec=yes
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
dnsupdate=yes
allow-dnsupdate-from=127.0.0.0/8
allow-axfr-ips=127.0.0.0/8
default-soa-content=ns1.@ hostmaster.@ 1 10800 3600 604800 3600
CONF
  pdnsutil --config-dir="$DIR" import-tsig-key "$TSIG_NAME" hmac-sha256 "$TSIG_SECRET" >/dev/null
  local extra=()
  if [ "$(id -u)" -eq 0 ] && id pdns >/dev/null 2>&1; then
    # pdns_server drops to the pdns user, which must reach $DIR (RUN_ROOT may be a 0700 mktemp dir).
    chown -R pdns:pdns "$DIR"; chmod a+x "$RUN_ROOT"; extra=(--setuid=pdns --setgid=pdns)
  fi
  nohup pdns_server --config-dir="$DIR" "${extra[@]}" >"$DIR/pdns.log" 2>&1 &
  echo $! > "$DIR/pdns.pid"
  wait_for "pdns API" 20 curl -sf -H "X-API-Key: $API_KEY" "$API" || { cat "$DIR/pdns.log" >&2; return 1; }
  local z
  for z in $ZONES $UPDATE_ZONES; do
    curl -sf -o /dev/null -H "X-API-Key: $API_KEY" -X POST "$API/zones" \
      -d '{"name":"'"$z"'.","kind":"Native","nameservers":["ns1.'"$z"'.","ns2.'"$z"'."]}'
  done
  # Updates and transfers of the RFC 2136 zones need the key (the API cannot set TSIG-ALLOW-AXFR).
  local pdnsutil=(pdnsutil --config-dir="$DIR")
  [ "$(id -u)" -eq 0 ] && id pdns >/dev/null 2>&1 && pdnsutil=(runuser -u pdns -- "${pdnsutil[@]}")
  for z in $UPDATE_ZONES; do
    curl -sf -o /dev/null -H "X-API-Key: $API_KEY" -X POST "$API/zones/$z./metadata" \
      -d '{"kind":"TSIG-ALLOW-DNSUPDATE","metadata":["'"$TSIG_NAME"'"]}'
    "${pdnsutil[@]}" set-meta "$z" TSIG-ALLOW-AXFR "$TSIG_NAME" >/dev/null
  done
  printf 'PDNS_API_URL=http://127.0.0.1:%s\nPDNS_API_KEY=%s\nPDNS_DNS=127.0.0.1:%s\nPDNS_TSIG=hmac-sha256:%s:%s\n' \
    "$API_PORT" "$API_KEY" "$DNS_PORT" "$TSIG_NAME" "$TSIG_SECRET" > "$DIR/env"
  log "pdns ready on 127.0.0.1:$DNS_PORT, API on $API_PORT, in $(( $(now_ms) - t0 )) ms (zones: $ZONES)"
}

stop() { stop_pidfile "$DIR/pdns.pid"; }
status() { is_running "$DIR/pdns.pid" && echo running || { echo stopped; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
