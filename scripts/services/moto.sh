#!/usr/bin/env bash
# Route 53 emulated by moto's standalone server on 127.0.0.1:$MOTO_PORT (default 8094), for
# the Route 53 adapter's tests. moto 5.2.5 in a venv (moto + flask + flask-cors are enough for
# moto_server to serve Route 53 and STS; boto3 comes with it). Writes AWS_ENDPOINT_URL_ROUTE_53,
# AWS_ENDPOINT_URL_STS, MOTO_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
# MOTO_PYTHON to $RUN_ROOT/moto/env; creates the hosted zones in $MOTO_ZONES.
# Known limits (measured, see docs/adapters.md): moto does not check SigV4 signatures and
# checks a batch's DELETEs against its change journal, not the records, so batch atomicity is
# not faithful; the tests prove atomicity by the request the adapter sends.
# usage: moto.sh install | start | stop | status | reset
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd); . "$HERE/../lib.sh"

DIR=$RUN_ROOT/moto
PORT=${MOTO_PORT:-8094}
ZONES=${MOTO_ZONES:-testkit.example r53.example r53-faults.example}
VENV=${DCGW_MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dc-gateway/moto-venv}
MOTO_VERSION=5.2.5

install() {
  apt_install curl ca-certificates
  if [ ! -x "$VENV/bin/moto_server" ]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    local t0; t0=$(now_ms)
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "moto==$MOTO_VERSION" flask flask-cors
    log "moto installed in $(( $(now_ms) - t0 )) ms"
  fi
  patch_create_check
}

# moto 5.2.5 checks a CREATE for an existing RRset only when an identical CREATE is in its change
# journal, and then wrongly refuses it whenever *any* record sorts after the name
# (get_record_sets returns everything from the start name on): the second identical CREATE of a
# test run fails although nothing is there, and a CREATE of an existing RRset with other values
# makes a duplicate. Route 53 refuses a CREATE exactly when an RRset of that name, type and set
# identifier exists; this makes moto do the same (idempotent; fails loudly if moto changed).
patch_create_check() {
  "$VENV/bin/python" - <<'PY'
import pathlib, moto.route53.models as m
p = pathlib.Path(m.__file__)
s = p.read_text()
if "dcgw patch" in s:
    raise SystemExit(0)
old = """        for value in change_list:
            validate_domain_name(
                value["ResourceRecordSet"]["Name"], code="InvalidChangeBatch"
            )
            if value["Action"] == "CREATE" and value in the_zone.rr_changes:
                name = value["ResourceRecordSet"]["Name"] + "."
                _type = value["ResourceRecordSet"]["Type"]
                # check if the record exists or just in rr_changes (journal)
                all_records = list(
                    the_zone.get_record_sets(start_type=_type, start_name=name)
                )
                if all_records:
                    raise ResourceRecordAlreadyExists(name=name, _type=_type)
"""
new = """        # dcgw patch: a CREATE is refused when its RRset (name, type, set identifier) exists
        # at that point of the batch, the changes before it counted, as Route 53 does
        def _key(rs):
            return (rs["Name"].rstrip(".").lower() + ".", rs["Type"], rs.get("SetIdentifier"))
        _exists = {(r.name.rstrip(".").lower() + ".", r.type, r.set_identifier) for r in the_zone.rrsets}
        for value in change_list:
            validate_domain_name(
                value["ResourceRecordSet"]["Name"], code="InvalidChangeBatch"
            )
            _k = _key(value["ResourceRecordSet"])
            if value["Action"] == "DELETE":
                _exists.discard(_k)
            elif value["Action"] == "CREATE":
                if _k in _exists:
                    raise ResourceRecordAlreadyExists(name=_k[0], _type=_k[1])
                _exists.add(_k)
            else:
                _exists.add(_k)
"""
if old not in s:
    raise SystemExit("moto's CREATE check is not the one this script patches: check scripts/services/moto.sh")
p.write_text(s.replace(old, new))
PY
}

start() {
  install
  is_running "$DIR/moto.pid" && { log "moto already running"; return 0; }
  rm -rf "$DIR"; mkdir -p "$DIR"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$DIR/moto.log" 2>&1 &
  echo $! > "$DIR/moto.pid"
  wait_for moto 30 curl -sf "http://127.0.0.1:$PORT/moto-api/" -o /dev/null || { cat "$DIR/moto.log" >&2; return 1; }
  # The hosted zones the tests use (moto gives each an SOA and four NS records).
  MOTO_PORT=$PORT "$VENV/bin/python" - $ZONES <<'PY'
import os, sys, boto3
r53 = boto3.client("route53", endpoint_url=f"http://127.0.0.1:{os.environ['MOTO_PORT']}", region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
for i, z in enumerate(sys.argv[1:]):
    r53.create_hosted_zone(Name=z, CallerReference=f"dcgw-{i}-{z}")
PY
  cat > "$DIR/env" <<ENV
MOTO_URL=http://127.0.0.1:$PORT
AWS_ENDPOINT_URL_ROUTE_53=http://127.0.0.1:$PORT
AWS_ENDPOINT_URL_STS=http://127.0.0.1:$PORT
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_REGION=us-east-1
MOTO_PYTHON=$VENV/bin/python
ENV
  log "moto ready on 127.0.0.1:$PORT"
}

reset() { curl -sf -X POST "http://127.0.0.1:$PORT/moto-api/reset" >/dev/null; }
stop() { stop_pidfile "$DIR/moto.pid"; }
status() { is_running "$DIR/moto.pid" && echo running || { echo stopped; return 1; }; }

cmd=${1:-start}; shift || true; "$cmd" "$@"
