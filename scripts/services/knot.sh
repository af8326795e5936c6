#!/usr/bin/env bash
# Knot DNS (Debian's `knot`) on 127.0.0.1:$KNOT_PORT (default 5302) for the tests: the zones in
# $KNOT_ZONES, each updatable (RFC 2136) with one TSIG key, so tests publish the records they
# need (_domainconnect TXT, signing keys), and rfc2136*.example for the RFC 2136 adapter's tests.
# Writes KNOT_DNS and KNOT_TSIG to $RUN_ROOT/knot/env.
# usage: knot.sh install | start | stop | status
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/knot
PORT=${KNOT_PORT:-5302}
ZONES=${KNOT_ZONES:-example.com keys.sp.example rfc2136.example rfc2136-faults.example rfc-gw.example}
KEY_NAME=dcgw-test
KEY_SECRET=${KNOT_TSIG_SECRET:-ZGNndy10ZXN0LXRzaWctc2VjcmV0LTAxMjM0NTY3ODk=}

install() {
  apt_install knot bind9-dnsutils
  # Under systemd the package would start its own knotd on port 53.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl disable --now knot >/dev/null 2>&1 || true; fi
}

start() {
  install
  is_running "$DIR/knotd.pid" && { log "knotd already running"; return 0; }
  rm -rf "$DIR"; mkdir -p "$DIR/db"
  cat > "$DIR/knot.conf" <<CONF
server:
    rundir: "$DIR"
    pidfile: "$DIR/knot.pid"
    listen: 127.0.0.1@$PORT
log:
  - target: stderr
    any: warning
database:
    storage: "$DIR/db"
key:
  - id: $KEY_NAME
    algorithm: hmac-sha256
    secret: $KEY_SECRET
acl:
  - id: tests
    key: $KEY_NAME
    action: [update, transfer]
template:
  - id: default
    storage: "$DIR"
    file: "%s.zone"
    acl: tests
    zonefile-sync: -1
zone:
CONF
  local z
  for z in $ZONES; do
    echo "  - domain: $z" >> "$DIR/knot.conf"
    printf '$TTL 300\n@ IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 60\n@ IN NS ns1.%s.\nns1 IN A 127.0.0.1\n' "$z" "$z" "$z" > "$DIR/$z.zone"
  done
  knotc -c "$DIR/knot.conf" conf-check >/dev/null
  nohup knotd -c "$DIR/knot.conf" >"$DIR/knot.log" 2>&1 &
  echo $! > "$DIR/knotd.pid"
  local first=${ZONES%% *}
  wait_for knotd 20 sh -c "dig +short +time=1 +tries=1 @127.0.0.1 -p $PORT $first SOA | grep -q ns1" \
    || { cat "$DIR/knot.log" >&2; return 1; }
  printf 'KNOT_DNS=127.0.0.1:%s\nKNOT_TSIG=hmac-sha256:%s:%s\n' "$PORT" "$KEY_NAME" "$KEY_SECRET" > "$DIR/env"
  log "knotd ready on 127.0.0.1:$PORT (zones: $ZONES)"
}

stop() { stop_pidfile "$DIR/knotd.pid"; }
status() { is_running "$DIR/knotd.pid" && echo running || { echo stopped; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
