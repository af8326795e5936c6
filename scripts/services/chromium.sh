#!/usr/bin/env bash
# Headless Chromium for the browser test: Debian's chromium + chromium-driver; chromedriver
# (W3C WebDriver) on 127.0.0.1:$CHROMEDRIVER_PORT (default 9515). The test drives it over plain
# HTTP and starts Chromium itself through the session's capabilities. Writes WEBDRIVER_URL and
# CHROMIUM_BIN to $RUN_ROOT/chromium/env.
# usage: chromium.sh install | start | stop | status
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/chromium
PORT=${CHROMEDRIVER_PORT:-9515}

install() {
  apt_install chromium chromium-driver curl ca-certificates fonts-dejavu-core
}

start() {
  install
  is_running "$DIR/chromedriver.pid" && { log "chromedriver already running"; return 0; }
  mkdir -p "$DIR/tmp"
  local t0; t0=$(now_ms)
  # Chromium leaves its profile directories in $TMPDIR; keep them in the run directory.
  TMPDIR="$DIR/tmp" nohup chromedriver --port="$PORT" >"$DIR/chromedriver.log" 2>&1 &
  echo $! > "$DIR/chromedriver.pid"
  wait_for chromedriver 20 curl -sf "http://127.0.0.1:$PORT/status" -o /dev/null \
    || { cat "$DIR/chromedriver.log" >&2; return 1; }
  printf 'WEBDRIVER_URL=http://127.0.0.1:%s\nCHROMIUM_BIN=%s\n' "$PORT" "$(command -v chromium)" > "$DIR/env"
  log "chromedriver ready on 127.0.0.1:$PORT in $(( $(now_ms) - t0 )) ms"
}

stop() { stop_pidfile "$DIR/chromedriver.pid"; }
status() { is_running "$DIR/chromedriver.pid" && echo running || { echo stopped; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
