# Helpers for the service scripts (sourced, not run). Every service script takes
# install | start | stop | status; `start` installs when needed, starts the server on
# 127.0.0.1 in the background, waits until it answers and writes KEY=VALUE lines for the
# tests to $RUN_ROOT/<name>/env.

RUN_ROOT=${RUN_ROOT:-/tmp/dcgw-run}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now_ms() { date +%s%3N; }

# apt_install PKG... : installs what is missing; `apt-get update` first when the lists are empty,
# and again when an install fails.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then $SUDO apt-get update -qq; fi
  local t0; t0=$(now_ms)
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  log "apt-get install ${missing[*]}: $(( $(now_ms) - t0 )) ms"
}

# wait_for DESC TIMEOUT_S CMD... : polls CMD every 50 ms.
wait_for() {
  local desc=$1 timeout=$2; shift 2
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(now_ms)" -gt "$deadline" ]; then log "timeout waiting for $desc"; return 1; fi
    sleep 0.05
  done
}

# alive PID : the process exists and is not a zombie (PID 1 may reap orphans late).
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# stop_pidfile FILE : SIGTERM the recorded PID, wait up to 10 s, then SIGKILL.
stop_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill "$pid"
    for _ in $(seq 1 200); do alive "$pid" || break; sleep 0.05; done
    alive "$pid" && kill -9 "$pid"
  fi
  rm -f "$f"
}

is_running() { [ -f "$1" ] && alive "$(cat "$1")"; }
