#!/usr/bin/env bash
# The gateway's end-to-end apply against the raw backend calls, on a real PowerDNS started
# here (scripts/services/pdns.sh), in the same run: benches/apply.rs prints p50/p90/p99 and
# the ratio. Environment: APPLY_BENCH_N (default 300), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dc-gateway/target}"
export RUN_ROOT="${RUN_ROOT:-$(mktemp -d /tmp/dcgw-bench.XXXXXX)}"
export PDNS_DNS_PORT=${PDNS_DNS_PORT:-5311} PDNS_API_PORT=${PDNS_API_PORT:-8092}
trap 'scripts/services/pdns.sh stop || true' EXIT
scripts/services/pdns.sh start
set -a; . "$RUN_ROOT/pdns/env"; set +a
cargo bench --bench apply
