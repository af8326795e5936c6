#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, compliance, conformance and black-box tests.
# Works on a fresh Debian 12 machine with the Rust toolchain; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Reuse one build cache outside the clone (CI clones afresh every run).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dc-gateway/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# The public registry and the compliance suites live beside the clone.
export DC_SHARED="${DC_SHARED:-$(cd .. && pwd)/shared}"

if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

# Real servers the tests use, on 127.0.0.1 (stopped again on exit).
export RUN_ROOT="${RUN_ROOT:-$(mktemp -d /tmp/dcgw-run.XXXXXX)}"
SERVICES=(postgres knot bind9 chromium oidc pdns moto cloudflare)
stop_services() { for s in "${SERVICES[@]}"; do scripts/services/$s.sh stop || true; done; }
trap stop_services EXIT
for s in "${SERVICES[@]}"; do
  scripts/services/$s.sh start
  set -a; . "$RUN_ROOT/$s/env"; set +a
done
export DCGW_REQUIRE_POSTGRES=1 DCGW_REQUIRE_KNOT=1 DCGW_REQUIRE_BIND=1 DCGW_REQUIRE_BROWSER=1 DCGW_REQUIRE_OIDC=1 DCGW_REQUIRE_PDNS=1 DCGW_REQUIRE_MOTO=1 DCGW_REQUIRE_CLOUDFLARE=1
# The Service Provider's client for the end-to-end test.
DCGW_E2E_PYTHON=$(scripts/setup-e2e.sh)
export DCGW_E2E_PYTHON DCGW_REQUIRE_E2E=1

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== container image (Dockerfile lint)"
scripts/container-check.sh
echo "== helm chart (lint, render, Kubernetes schemas, chart tests)"
cargo build --workspace --locked --bin dc-gateway
DCGW_BIN="$CARGO_TARGET_DIR/debug/dc-gateway" scripts/helm-check.sh
echo "== doc tests"
cargo test --workspace --locked --doc
echo "== tests"
cargo nextest run --workspace --locked --no-fail-fast "$@"
