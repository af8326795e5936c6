#!/usr/bin/env bash
# A stateful stand-in for the Cloudflare v4 DNS API (adapters/cloudflare/fake/cf_fake.py,
# stdlib Python; no Cloudflare emulator exists) on 127.0.0.1:$CF_PORT (default 8093), with the
# zones testkit.example, cf.example and gw.example, and the official Cloudflare SDK (PyPI `cloudflare`) in
# a venv for the contract test that holds the fake to the SDK's models. Writes CF_API_URL,
# CF_API_TOKEN and CF_SDK_PYTHON to $RUN_ROOT/cloudflare/env.
#
# usage: cloudflare.sh install | start | stop | status
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/cloudflare
PORT=${CF_PORT:-8093}
TOKEN=${CF_TOKEN:-dcgw-test-cloudflare-token}
VENV=${DCGW_CF_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dc-gateway/cf-venv}
FAKE=$HERE/../../adapters/cloudflare/fake/cf_fake.py

install() {
  apt_install curl ca-certificates
  if ! "$VENV/bin/python" -c 'import cloudflare' 2>/dev/null; then
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    local t0; t0=$(now_ms)
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q cloudflare==5.9.0
    log "cloudflare SDK installed in $(( $(now_ms) - t0 )) ms"
  fi
}

start() {
  install
  is_running "$DIR/fake.pid" && { log "cloudflare fake already running"; return 0; }
  mkdir -p "$DIR"
  CF_FAKE_TOKEN=$TOKEN CF_FAKE_ZONES=testkit.example,cf.example,gw.example \
    nohup python3 "$FAKE" --host 127.0.0.1 --port "$PORT" >"$DIR/fake.log" 2>&1 &
  echo $! > "$DIR/fake.pid"
  wait_for "cloudflare fake" 20 curl -sf "http://127.0.0.1:$PORT/__fake/state" -o /dev/null || { cat "$DIR/fake.log" >&2; return 1; }
  printf 'CF_API_URL=http://127.0.0.1:%s/client/v4\nCF_API_TOKEN=%s\nCF_SDK_PYTHON=%s\n' "$PORT" "$TOKEN" "$VENV/bin/python" > "$DIR/env"
  log "cloudflare fake ready on 127.0.0.1:$PORT"
}

stop() { stop_pidfile "$DIR/fake.pid"; }
status() { is_running "$DIR/fake.pid" && echo running || { echo stopped; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
