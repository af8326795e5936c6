#!/usr/bin/env bash
# BIND 9 (Debian's `bind9`) as an RFC 2136 primary on 127.0.0.1:$BIND_PORT (default 5301), in
# the foreground with a throwaway directory. The zones in $BIND_ZONES take updates and give
# transfers to one TSIG key (hmac-sha256) only. Writes BIND_DNS and BIND_TSIG
# (algorithm:name:secret) to $RUN_ROOT/bind9/env.
# usage: bind9.sh install | start | stop | status
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/bind9
PORT=${BIND_PORT:-5301}
ZONES=${BIND_ZONES:-rfc2136.example rfc2136-faults.example}
KEY_NAME=dcgw-bind
KEY_SECRET=${BIND_TSIG_SECRET:-ZGNndy1iaW5kLXRzaWctc2VjcmV0LTAxMjM0NTY3ODk=}

install() {
  apt_install bind9 bind9-dnsutils
  # Under systemd the package would start its own named on port 53.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then systemctl disable --now named >/dev/null 2>&1 || true; fi
  # On an AppArmor host the packaged profile confines named to /etc/bind and /var/cache/bind.
  if [ -r /sys/kernel/security/apparmor/profiles ] && grep -q 'named' /sys/kernel/security/apparmor/profiles 2>/dev/null \
     && command -v apparmor_parser >/dev/null; then
    apparmor_parser -R /etc/apparmor.d/usr.sbin.named 2>/dev/null || true
  fi
}

start() {
  install
  is_running "$DIR/named.pid" && { log "named already running"; return 0; }
  rm -rf "$DIR"; mkdir -p "$DIR"
  {
    printf 'key "%s" { algorithm hmac-sha256; secret "%s"; };\n' "$KEY_NAME" "$KEY_SECRET"
    printf 'options { directory "%s"; pid-file none; session-keyfile none; managed-keys-directory "%s";\n' "$DIR" "$DIR"
    printf '  listen-on port %s { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; dnssec-validation no;\n' "$PORT"
    printf '  notify no; allow-transfer { none; }; };\ncontrols { };\n'
    printf 'logging { channel default_stderr { stderr; severity warning; }; category default { default_stderr; }; };\n'
  } > "$DIR/named.conf"
  local z
  for z in $ZONES; do
    printf 'zone "%s" { type primary; file "%s/%s.db"; allow-update { key "%s"; }; allow-transfer { key "%s"; }; };\n' \
      "$z" "$DIR" "$z" "$KEY_NAME" "$KEY_NAME" >> "$DIR/named.conf"
    printf '$TTL 300\n@ IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 60\n@ IN NS ns1.%s.\n@ IN NS ns2.%s.\nns1 IN A 127.0.0.1\nns2 IN A 127.0.0.2\n' \
      "$z" "$z" "$z" "$z" > "$DIR/$z.db"
  done
  named-checkconf "$DIR/named.conf"
  nohup named -g -n 2 -c "$DIR/named.conf" >"$DIR/named.log" 2>&1 &
  echo $! > "$DIR/named.pid"
  local first=${ZONES%% *}
  wait_for named 20 sh -c "dig +short +time=1 +tries=1 @127.0.0.1 -p $PORT $first SOA | grep -q ns1" \
    || { cat "$DIR/named.log" >&2; return 1; }
  printf 'BIND_DNS=127.0.0.1:%s\nBIND_TSIG=hmac-sha256:%s:%s\n' "$PORT" "$KEY_NAME" "$KEY_SECRET" > "$DIR/env"
  log "named ready on 127.0.0.1:$PORT (zones: $ZONES)"
}

stop() { stop_pidfile "$DIR/named.pid"; }
status() { is_running "$DIR/named.pid" && echo running || { echo stopped; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
