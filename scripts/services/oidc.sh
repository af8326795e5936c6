#!/usr/bin/env bash
# The OpenID Provider for the login tests: the npm `oidc-provider` package (8.x, which runs on
# Debian 12's Node.js 18 and on newer ones), installed once into a cache outside the clone.
# The tests start it themselves (tests/oidc/provider.mjs), each with its own port and client,
# so `start` only installs and writes OIDC_PROVIDER_DIR to $RUN_ROOT/oidc/env.
# usage: oidc.sh install | start | stop | status
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/oidc
PREFIX=${OIDC_PROVIDER_DIR:-$HOME/.cache/dc-gateway/oidc}
VERSION=${OIDC_PROVIDER_VERSION:-8.8.1}

install() {
  command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
  if ! (cd "$PREFIX" 2>/dev/null && node -e "process.exit(require('oidc-provider/package.json').version === '$VERSION' ? 0 : 1)" 2>/dev/null); then
    mkdir -p "$PREFIX"
    local t0; t0=$(now_ms)
    npm install --prefix "$PREFIX" --no-audit --no-fund --silent "oidc-provider@$VERSION" >/dev/null
    log "oidc-provider $VERSION installed in $(( $(now_ms) - t0 )) ms"
  fi
}

start() {
  install
  mkdir -p "$DIR"
  echo "OIDC_PROVIDER_DIR=$PREFIX" > "$DIR/env"
  log "oidc-provider ready in $PREFIX (started by the tests)"
}

stop() { :; }
status() { [ -f "$DIR/env" ] && echo installed || { echo absent; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
