#!/usr/bin/env bash
# The Service Provider side of the end-to-end test: the PyPI `domain-connect` client in a venv
# outside the clone. Prints the venv's python.
set -euo pipefail
VENV=${DCGW_E2E_VENV:-$HOME/.cache/dc-gateway/e2e-venv}
if ! "$VENV/bin/python" -c 'import domainconnect, dns.resolver, requests' 2>/dev/null; then
  command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null; }
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt-get install -y -qq python3-venv >/dev/null
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q domain-connect==0.0.11 dnspython requests >&2
fi
command -v openssl >/dev/null || apt-get install -y -qq openssl >/dev/null
echo "$VENV/bin/python"
