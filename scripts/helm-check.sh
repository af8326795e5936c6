#!/usr/bin/env bash
# The Helm chart, checked without a cluster and without a helm binary (none is packaged for
# Debian 12): Helm v4's own engine from PyPI (helm-python-sdk, behind scripts/helm/helm_shim.py)
# lints (--strict) and renders helm/dc-gateway for the default values and every file in
# helm/dc-gateway/ci/, kubernetes-validate checks every manifest against the Kubernetes
# schemas (strict: unknown fields are errors), then the chart tests (tests/helm/test_chart.py)
# assert what the manifests say. With DCGW_BIN set, the gateway itself checks each rendered
# config.toml.
#
# Environment: KUBE_VERSIONS (default "1.25.0 1.30.0"), HELM_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

VENV=${HELM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dc-gateway/helm-venv}
KUBE_VERSIONS=${KUBE_VERSIONS:-1.25.0 1.30.0}
if ! "$VENV/bin/python" -c 'import helm_python, yaml' 2>/dev/null || [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  t0=$(now_ms)
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 pyyaml
  log "helm tools installed in $(( $(now_ms) - t0 )) ms"
fi
printf '#!/bin/sh\nexec "%s/bin/python" "%s/scripts/helm/helm_shim.py" "$@"\n' "$VENV" "$PWD" > "$VENV/bin/helm"
chmod +x "$VENV/bin/helm"
HELM="$VENV/bin/helm"
CHART=helm/dc-gateway
OUT=$(mktemp -d /tmp/dcgw-helm.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

for values in default "$CHART"/ci/*.yaml; do
  flags=(); name=default
  if [ "$values" != default ]; then flags=(-f "$values"); name=$(basename "$values" .yaml); fi
  "$HELM" lint "$CHART" --strict "${flags[@]}" >"$OUT/lint.txt" 2>&1 || { cat "$OUT/lint.txt"; exit 1; }
  "$HELM" template release "$CHART" "${flags[@]}" > "$OUT/$name.yaml"
  for k in $KUBE_VERSIONS; do
    # A ServiceMonitor (a CRD) has no bundled schema: kubernetes-validate warns and passes it;
    # the chart tests check its fields.
    "$VENV/bin/kubernetes-validate" --strict --quiet -k "$k" "$OUT/$name.yaml" \
      || { echo "helm chart ($name): not valid on Kubernetes $k" >&2; exit 1; }
  done
  echo "helm chart ($name): lint --strict, render, schema-valid on Kubernetes $KUBE_VERSIONS"
done

HELM="$HELM" "$VENV/bin/python" tests/helm/test_chart.py
