#!/usr/bin/env bash
# Load test of the discovery endpoints against nginx serving the same JSON as static files,
# on this machine, in the same run: requests per second and p99 latency (wrk), their ratios,
# and the gateway's resident memory when idle (after start) and after the load.
#
# Usage: scripts/load.sh            (defaults: 10 s per run, 32 connections, 1 wrk thread)
# Environment: LOAD_SECONDS, LOAD_CONNECTIONS, LOAD_THREADS, LOAD_WORKERS, CARGO_TARGET_DIR.
# Two gateways run on the embedded default (log level info): one with its access log off, as
# nginx's is here (the like-for-like figure), one with it on (one log line per request).
# Installs nginx-light and wrk (Debian) when missing. Ports are picked free on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dc-gateway/target}"
SECS=${LOAD_SECONDS:-10}
CONNS=${LOAD_CONNECTIONS:-32}
THREADS=${LOAD_THREADS:-1}
# Server workers, the same for nginx and the gateway; by default the CPUs wrk leaves free.
WORKERS=${LOAD_WORKERS:-$(( $(nproc) > THREADS + 1 ? $(nproc) - THREADS : 1 ))}

apt_install nginx-light wrk curl
cargo build --release --locked --quiet --bin dc-gateway
BIN="$CARGO_TARGET_DIR/release/dc-gateway"

WORK=$(mktemp -d /tmp/dcgw-load.XXXXXX)
chmod 755 "$WORK"  # nginx workers (another user when run as root) read the files
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_gateway ACCESS_LOG: starts a gateway, sets GW_PORT and GW_PID.
start_gateway() {
  GW_PORT=$(free_port)
  DCGW__SERVER__WORKERS="$WORKERS" DCGW__SERVER__LISTEN="127.0.0.1:$GW_PORT" DCGW__SERVER__PUBLIC_URL="http://127.0.0.1:$GW_PORT" \
    DCGW__SERVER__DATA_DIR="$WORK/data-$1" DCGW__TELEMETRY__ACCESS_LOG="$1" DCGW_LOG=info \
    "$BIN" serve >/dev/null 2>&1 &
  GW_PID=$!; PIDS+=("$GW_PID")
  wait_for gateway 30 curl -sf "http://127.0.0.1:$GW_PORT/readyz" -o /dev/null
}
start_gateway true
LOG_PORT=$GW_PORT
start_gateway false
SETTINGS=/v2/example.com/settings
TEMPLATE=/v2/domainTemplates/providers/demo.dc-gateway.example/services/website
sleep 2
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
IDLE_RSS=$(rss "$GW_PID")

# nginx serves the very bytes the gateway answers, with the same content type.
NG_PORT=$(free_port)
mkdir -p "$WORK/www/v2/example.com" "$WORK/www/v2/domainTemplates/providers/demo.dc-gateway.example/services" "$WORK/nginx"
curl -sf "http://127.0.0.1:$GW_PORT$SETTINGS" -o "$WORK/www$SETTINGS"
curl -sf "http://127.0.0.1:$GW_PORT$TEMPLATE" -o "$WORK/www$TEMPLATE"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server { listen 127.0.0.1:$NG_PORT; root $WORK/www; }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)
wait_for nginx 10 curl -sf "http://127.0.0.1:$NG_PORT$SETTINGS" -o /dev/null

# run NAME URL: prints "rps p99_ms" (wrk's own figures), after a short warm-up.
run() {
  wrk -t"$THREADS" -c"$CONNS" -d2s "$2" >/dev/null
  wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "$2" > "$WORK/$1.txt"
  python3 - "$WORK/$1.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", t).group(1))
m = re.search(r"^\s+99%\s+([0-9.]+)(us|ms|s)\s*$", t, re.M)
p99 = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if errs:
    sys.exit(f"{sys.argv[1]}: {errs.group(1)} non-2xx responses")
print(f"{rps:.0f} {p99:.3f}")
PY
}

printf '\n%s\n' "wrk: $THREADS thread(s), $CONNS connections, ${SECS}s per run; $WORKERS worker(s) each for nginx and the gateway; $(nproc) CPUs"
printf '%-30s %12s %10s %12s %10s %9s %9s\n' endpoint "nginx rps" "nginx p99" "gateway rps" "gw p99" "rps ×" "p99 ok"
for ep in settings template; do
  path=$SETTINGS; [ "$ep" = template ] && path=$TEMPLATE
  read -r n_rps n_p99 < <(run "nginx-$ep" "http://127.0.0.1:$NG_PORT$path")
  for variant in "access log off:$GW_PORT" "access log on:$LOG_PORT"; do
    port=${variant##*:}
    read -r g_rps g_p99 < <(run "gw-$ep-$port" "http://127.0.0.1:$port$path")
    ratio=$(python3 -c "print(f'{$g_rps / $n_rps:.2f}')")
    ok=$(python3 -c "print('yes' if $g_p99 <= 2.0 else 'NO')")
    printf '%-30s %12s %8sms %12s %8sms %9s %9s\n' "$ep (${variant%%:*})" "$n_rps" "$n_p99" "$g_rps" "$g_p99" "$ratio" "$ok"
  done
done
AFTER_RSS=$(rss "$GW_PID")
printf '\ngateway RSS: idle after start %s kB (%.1f MB), after the load %s kB (%.1f MB); target idle ≤ 30 MB\n' \
  "$IDLE_RSS" "$(python3 -c "print($IDLE_RSS/1024)")" "$AFTER_RSS" "$(python3 -c "print($AFTER_RSS/1024)")"
