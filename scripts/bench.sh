#!/usr/bin/env bash
# Engine benchmarks (benches/engine.rs) with short criterion settings, then a summary with
# ratios to the baselines measured in the same run and the targets of the issue.
#
# Usage: scripts/bench.sh [extra criterion arguments, e.g. a filter such as 'plan/']
# Environment: CARGO_TARGET_DIR (default $HOME/.cache/dc-gateway/target), DC_SHARED (the
# directory holding domainconnect/templates; default: `shared` beside the repository),
# BENCH_WARMUP / BENCH_MEASURE (seconds; default 1 and 3).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dc-gateway/target}"
export DC_SHARED="${DC_SHARED:-$(cd .. && pwd)/shared}"
export CRITERION_HOME="${CRITERION_HOME:-$CARGO_TARGET_DIR/criterion}"

cargo bench --bench engine -- \
  --warm-up-time "${BENCH_WARMUP:-1}" --measurement-time "${BENCH_MEASURE:-3}" "$@"

python3 - "$CRITERION_HOME" <<'EOF'
import json, os, sys

home = sys.argv[1]

def est(bench):
    """Point estimate and 95% interval of the mean, in ns (None if not run)."""
    group, _, ident = bench.partition("/")
    # criterion keeps "group/id/with/slashes" as <group>/<id_with_underscores>
    p = os.path.join(home, group, ident.replace("/", "_"), "new", "estimates.json")
    try:
        with open(p) as f:
            m = json.load(f)["mean"]
    except (OSError, ValueError, KeyError):
        return None
    return m["point_estimate"], m["confidence_interval"]["lower_bound"], m["confidence_interval"]["upper_bound"]

def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:9.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:9.3f} µs"
    return f"{ns:9.1f} ns"

rows = [
    ("plan/typical/1k", 20e3), ("plan/typical/100k", 2e6),
    ("plan/subdomain/1k", 20e3), ("plan/subdomain/100k", 2e6),
    ("baseline/clone_vec_1k", None), ("baseline/hashmap_lookup_100k", None),
    ("baseline/zone_index_1k", None), ("zone_index/100k", None),
    ("templates/load_dir", None), ("templates/parse_validate", None),
]
got = {name: est(name) for name, _ in rows}
clone = got.get("baseline/clone_vec_1k")
lookup = got.get("baseline/hashmap_lookup_100k")
print()
print(f"{'benchmark':32} {'mean':>12}   {'95% interval':>27}  {'×clone1k':>8} {'×lookup':>9}  target")
for name, target in rows:
    e = got[name]
    if e is None:
        print(f"{name:32} {'(not run)':>12}")
        continue
    mean, lo, hi = e
    r1 = f"{mean / clone[0]:8.2f}" if clone else "       -"
    r2 = f"{mean / lookup[0]:9.0f}" if lookup else "        -"
    tgt = ""
    if target:
        tgt = f"≤ {fmt(target).strip()}: " + ("ok" if mean <= target else "MISSED")
    print(f"{name:32} {fmt(mean):>12}   [{fmt(lo)} .. {fmt(hi)}]  {r1} {r2}  {tgt}")
for kind in ("typical", "subdomain"):
    a, b = got.get(f"plan/{kind}/1k"), got.get(f"plan/{kind}/100k")
    if a and b:
        print(f"plan/{kind}: 100k / 1k = {b[0] / a[0]:.2f} (1.0 = independent of zone size)")
EOF
