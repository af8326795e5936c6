#!/usr/bin/env python3
"""Compare our engine with the Python reference library ("AZ", PyPI domainconnectzone 4.0.0)
on every template of the public registry, and compare their throughput.

For each template: plausible values are generated for its variables (from where each
variable is used: IPv4 for A pointsTo, IPv6 for AAAA, host names for targets, labels for
hosts, digits for integer fields, tokens for TXT data), then the template is applied by both
engines to an empty zone and to a small sample zone (A, www CNAME, SPF TXT and MX at the
applied root). The resulting zones are compared RRset by RRset after normalising the model
differences (AZ's relative names, trailing dots, TXT quoting, MX/SRV fields). Every
disagreement is classified: explained by a POLICY.md decision, a reference bug of AZ 4.0.0
(the PyPI release is far older than the 4.7 line; POLICY.md notes it fails 138 of its own
tests), or unexplained (listed with details).

Throughput: AZ is timed in-process around `process_records` calls only; ours is the engine
time reported by `dc-gateway plan-batch` (only the `engine::plan` calls), plus the wall-clock
time of the whole plan-batch process (start, JSON in and out).

The script creates its own virtualenv under $HOME/.cache/dc-gateway/venv (override with
DCGW_VENV) and builds the release binary (`cargo build --release`, in CARGO_TARGET_DIR,
default $HOME/.cache/dc-gateway/target). The registry is read from
$DC_SHARED/domainconnect/templates (default: `shared` beside the repository). Exit status is 0
whatever the outcome of the comparison (non-zero only when it cannot run).

Usage: scripts/compare_reference.py [--no-build] [--repeat N] [--show N] [--json FILE]
"""

import argparse
import copy
import glob
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "dc-gateway")
VENV = os.environ.get("DCGW_VENV") or os.path.join(CACHE, "venv")
AZ_VERSION = "4.0.0"

DOMAIN = "example.com"
APEX = DOMAIN + "."
HOST_WHEN_REQUIRED = "dc"
# The web-forwarding service both engines are given for REDIR301/302 (POLICY.md 11).
REDIRECT_A = "192.0.2.80"
REDIRECT_TTL = 600


# --------------------------------------------------------------------------------------
# Bootstrap: re-run inside the virtualenv that holds domainconnectzone.


def venv_python():
    return os.path.join(VENV, "bin", "python")


def ensure_venv():
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    py = venv_python()
    if not os.path.exists(py):
        print(f"creating virtualenv {VENV}", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    probe = subprocess.run(
        [py, "-c", "import domainconnectzone, importlib.metadata as m; print(m.version('domainconnectzone'))"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0 or probe.stdout.strip() != AZ_VERSION:
        subprocess.check_call([py, "-m", "pip", "install", "-q", f"domainconnectzone=={AZ_VERSION}"])
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


# --------------------------------------------------------------------------------------
# Variable values.

VAR_RE = re.compile(r"%([^%]*)%")
BUILTIN = {"domain", "host", "fqdn"}
# Strongest constraint first: a value that satisfies it also fits the weaker uses.
KIND_ORDER = ["ipv4", "ipv6", "int", "proto", "service", "url", "label", "hostname", "email", "token"]


def label_of(name, k):
    s = re.sub(r"[^a-z0-9-]", "", name.lower()).strip("-")[:40]
    return s or f"v{k}"


def spf_context(text, start):
    before = text[:start]
    m = re.search(r"([a-z0-9]+)[:=]$", before.lower())
    return m.group(1) if m else None


def var_uses(t):
    """Yields (variable, kind, int_field_name) for every variable occurrence."""
    for r in t.get("records", []):
        rtype = str(r.get("type", "")).upper()
        for field, value in r.items():
            if isinstance(value, (int, float)) or not isinstance(value, str) or "%" not in value:
                continue
            for m in VAR_RE.finditer(value):
                name = m.group(1)
                if name in BUILTIN:
                    continue
                whole = m.group(0) == value.strip()
                yield name, classify_use(rtype, field, value, m, whole), field


def classify_use(rtype, field, value, m, whole):
    if field in ("ttl", "priority", "weight", "port"):
        return "int"
    if field in ("host", "name"):
        return "label"
    if field == "protocol":
        return "proto"
    if field == "service":
        return "service"
    if field in ("pointsTo", "target"):
        if rtype == "A":
            return "ipv4"
        if rtype == "AAAA":
            return "ipv6"
        if rtype.startswith("REDIR"):
            return "url" if whole else "label"
        return "hostname" if whole else "label"
    if field == "spfRules":
        if whole:
            return "spfrules"
        ctx = spf_context(value, m.start())
        if ctx == "ip4":
            return "ipv4"
        if ctx == "ip6":
            return "ipv6"
        return "hostname"
    if field == "data":
        before = value[: m.start()].lower()
        if before.endswith("mailto:"):
            return "email"
        if rtype == "CAA":
            return "caa"
        return "token"
    return "token"


def gen_params(t):
    uses = defaultdict(set)
    for name, kind, _field in var_uses(t):
        uses[name].add(kind)
    params = {}
    for k, (name, kinds) in enumerate(sorted(uses.items())):
        lab = label_of(name, k)
        if "spfrules" in kinds:
            params[name] = f"include:_spf.{lab}.example.net"
            continue
        if "caa" in kinds:
            params[name] = "letsencrypt.org"
            continue
        kind = next((x for x in KIND_ORDER if x in kinds), "token")
        params[name] = {
            "ipv4": f"192.0.2.{(k % 200) + 1}",
            "ipv6": f"2001:db8::{k + 1:x}",
            "int": {"ttl": "3600", "priority": "10", "weight": "5", "port": "443"}.get(
                next((f for n, kd, f in var_uses(t) if n == name and kd == "int"), "ttl"), "10"
            ),
            "proto": "_tcp",
            "service": "_sip",
            "url": f"https://www.{lab}.example.net/landing",
            "label": lab,
            "hostname": f"{lab}.target.example.net",
            "email": f"dmarc@{lab}.example.net",
            "token": f"{lab}-t0k3n-{k}",
        }[kind]
    return params


# --------------------------------------------------------------------------------------
# Zones in both models.


def sample_zone(host):
    """The sample zone at the applied root: (AZ records, our records)."""
    rel = host or "@"
    www = f"www.{host}" if host else "www"
    root = f"{host}.{APEX}" if host else APEX
    az = [
        {"type": "A", "name": rel, "data": "192.0.2.10", "ttl": 3600},
        {"type": "CNAME", "name": www, "data": "old.host.example", "ttl": 3600},
        {"type": "TXT", "name": rel, "data": "v=spf1 mx -all", "ttl": 3600},
        {"type": "MX", "name": rel, "data": "mx.old-mail.example", "ttl": 3600, "priority": 10},
    ]
    ours = [
        {"name": root, "type": "A", "ttl": 3600, "data": "192.0.2.10"},
        {"name": "www." + root, "type": "CNAME", "ttl": 3600, "data": "old.host.example."},
        {"name": root, "type": "TXT", "ttl": 3600, "data": '"v=spf1 mx -all"'},
        {"name": root, "type": "MX", "ttl": 3600, "data": "10 mx.old-mail.example."},
    ]
    return az, ours


def parse_txt_presentation(data):
    """Joined text of TXT presentation data (quoted strings, \\X and \\DDD escapes)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c.isspace():
            i += 1
            continue
        quoted = c == '"'
        if quoted:
            i += 1
        while i < n:
            c = data[i]
            if quoted and c == '"':
                i += 1
                break
            if not quoted and c.isspace():
                break
            if c == "\\" and i + 1 < n:
                if data[i + 1 : i + 4].isdigit() and len(data[i + 1 : i + 4]) == 3:
                    out.append(int(data[i + 1 : i + 4]))
                    i += 4
                    continue
                out.extend(data[i + 1].encode())
                i += 2
                continue
            out.extend(c.encode())
            i += 1
    return out.decode("utf-8", "replace")


def abs_name(rel):
    rel = (rel or "").strip().lower()
    if rel in ("", "@"):
        return APEX
    if rel.endswith("."):
        return rel
    return f"{rel}.{APEX}"


def abs_target(t):
    t = str(t).strip().lower()
    if t == ".":
        return "."
    return t if t.endswith(".") else t + "."


def canon(rtype, data):
    """Canonical data for comparison (our presentation data or AZ's fields, see below)."""
    if rtype == "A":
        return data
    if rtype == "AAAA":
        try:
            return ipaddress.ip_address(data).compressed
        except ValueError:
            return data
    if rtype in ("CNAME", "NS"):
        return abs_target(data)
    return data


def to_int(x):
    try:
        return int(x)
    except (TypeError, ValueError):
        return str(x)


def az_rrsets(records):
    """AZ final records → {(owner, type): {"data": set, "ttls": set}}; REDIR pseudo records
    separately; duplicate RRs counted."""
    sets = {}
    redirects = set()
    dups = 0
    for r in records:
        rtype = str(r["type"]).upper()
        name = abs_name(r.get("name"))
        if rtype in ("REDIR301", "REDIR302"):
            redirects.add((name, 301 if rtype == "REDIR301" else 302, str(r.get("data"))))
            continue
        data = r.get("data")
        if rtype == "MX":
            data = f"{to_int(r['priority'])} {abs_target(data)}"
        elif rtype == "SRV":
            service = str(r["service"]).lower()
            if not service.startswith("_"):
                service = "_" + service
            proto = str(r["protocol"]).lower().lstrip("_")
            name = f"{service}._{proto}.{name}"
            data = f"{to_int(r['priority'])} {to_int(r['weight'])} {to_int(r['port'])} {abs_target(data)}"
        elif rtype == "TXT":
            d = str(data)
            data = parse_txt_presentation(d) if d.startswith('"') and d.endswith('"') and len(d) > 1 else d
        else:
            data = canon(rtype, str(data))
        s = sets.setdefault((name, rtype), {"data": set(), "ttls": set()})
        if data in s["data"]:
            dups += 1
        s["data"].add(data)
        s["ttls"].add(to_int(r["ttl"]) if r.get("ttl") is not None else None)
    return sets, redirects, dups


def our_canon(rtype, data):
    if rtype == "TXT":
        return parse_txt_presentation(data)
    if rtype == "MX":
        p, _, t = data.partition(" ")
        return f"{int(p)} {abs_target(t)}"
    if rtype == "SRV":
        parts = data.split()
        return " ".join(parts[:3] + [abs_target(parts[3])]) if len(parts) == 4 else data
    return canon(rtype, data)


def our_rrsets(zone, plan):
    cur = defaultdict(list)
    for r in zone:
        cur[(r["name"], r["type"])].append((r["ttl"], r["data"]))
    for d in plan["rrsets"]:
        if d["before"] == d["after"]:
            continue
        key = (d["name"], d["type"])
        cur.pop(key, None)
        if d["after"]:
            cur[key] = [(d["after"]["ttl"], x) for x in d["after"]["data"]]
    sets = {}
    for (name, rtype), recs in cur.items():
        sets[(name, rtype)] = {
            "data": {our_canon(rtype, x) for _, x in recs},
            "ttls": {ttl for ttl, _ in recs},
        }
    redirects = {(r["name"], r["status"], r["target"]) for r in plan.get("redirects", [])}
    return sets, redirects


# --------------------------------------------------------------------------------------
# Running AZ.


def run_az(az, t, zone, host, params):
    """Returns (ok, result or exception, seconds spent in process_records)."""
    if t.get("hostRequired") and not host:
        return False, az.HostRequired("Template requires a host name"), 0.0
    records = copy.deepcopy(t["records"])
    zone = copy.deepcopy(zone)
    redirect = [{"type": "A", "pointsTo": REDIRECT_A, "ttl": REDIRECT_TTL}]
    start = time.perf_counter()
    try:
        res = az.process_records(
            records, zone, DOMAIN, host, params, None, redirect_records=redirect
        )
        return True, res, time.perf_counter() - start
    except Exception as e:  # noqa: BLE001 - every failure of the reference is data here
        return False, e, time.perf_counter() - start


# --------------------------------------------------------------------------------------
# Classification.


def has_adjacent_vars(t):
    return any(
        isinstance(v, str) and re.search(r"%[A-Za-z0-9_-]+%%[A-Za-z0-9_-]+%", v)
        for r in t["records"]
        for v in r.values()
    )


def classify_az_error(e, t, our_ok, our_err):
    """Why AZ failed where we produced a plan."""
    msg = f"{type(e).__name__}: {e}"
    types = {str(r.get("type", "")).upper() for r in t["records"]}
    if isinstance(e, TypeError) and "Unknown record type" in str(e):
        return "reference bug", "4.0.0 knows only A/AAAA/CNAME/MX/TXT/SRV/SPFM/NS (generic types like CAA are refused; AZ 4.7 and the draft allow them)"
    if isinstance(e, ValueError) and "invalid literal for int()" in str(e):
        return "reference bug", "4.0.0 does not substitute variables in integer fields (ttl/priority/weight/port: int('%var%'))"
    if type(e).__name__ == "InvalidTemplate" and "Unpaired" in str(e) and has_adjacent_vars(t):
        return "reference bug", "4.0.0 skips one character after each substituted value, so adjacent %a%%b% fail as 'unpaired'"
    if isinstance(e, TypeError) and "NoneType" in str(e):
        return "reference bug", "4.0.0 crashes in SPFM when the rule is already in the SPF record (new_record is None)"
    if isinstance(e, KeyError):
        return "reference bug", f"4.0.0 needs field {e} that the record omits (the draft makes it optional)"
    if type(e).__name__ == "MissingParameter" and "''" in str(e) and has_adjacent_vars(t):
        return "reference bug", "4.0.0 skips one character after each substituted value, so adjacent %a%%b% fail as 'unpaired'"
    if type(e).__name__ == "InvalidData" and re.search(r"SRV host: _*_(tcp|udp|tls)", str(e)):
        return "reference bug", "4.0.0 builds SRV owners as '__proto.@' when service/protocol start with '_' (POLICY 5: _service._proto.name)"
    if type(e).__name__ == "InvalidData" and re.search(r"host: \S*_", str(e)):
        return "reference bug", "4.0.0 refuses '_' inside owner names (valid in DNS names, RFC 2181 §11; _domainkey, x_verification)"
    if type(e).__name__ == "InvalidData" and "*" in str(e):
        return "reference bug", "4.0.0 rejects wildcard owners ('*' as the leftmost label is valid; AZ 4.7 accepts it)"
    return None, msg


def classify_our_error(err, t):
    cat, msg = err.get("category"), err.get("error", "")
    if "at the zone apex is refused" in msg:
        if "NS" in msg.split("at the zone apex")[0]:
            return "POLICY 6", "NS at the apex refused"
        return "POLICY 4", "CNAME at the apex refused"
    if "are alternatives" in msg:
        return "POLICY 10", "groups are alternatives; applying all at once fails"
    if "conflict with each other" in msg or "CNAME beside other data" in msg:
        return "POLICY 4", "the template's own records would put a CNAME beside other data"
    if "two SPF records" in msg:
        return "POLICY 7", "one SPF record per owner"
    if cat == "unsupported type":
        return "POLICY 11", "APEXCNAME/REDIR need configuration"
    if cat == "invalid data" and re.search(r"field (pointsTo|ttl|priority|weight|port|data)", msg):
        return "POLICY 3", "strict values"
    if "outside the zone" in msg:
        return "POLICY 2", "absolute host outside the zone"
    if cat == "invalid data" and re.search(r"field (host|name)", msg):
        return "POLICY 2", "owner-name rules"
    return None, f"{cat}: {msg}"


def diff_zones(az_sets, our_sets):
    out = []
    for key in sorted(set(az_sets) | set(our_sets)):
        a, o = az_sets.get(key), our_sets.get(key)
        if a is not None and o is not None and a["data"] == o["data"] and a["ttls"] == o["ttls"]:
            continue
        out.append((key, a, o))
    return out


def classify_diff(key, a, o, az_sets, our_sets, zone_ttls, template):
    name, rtype = key
    datas = (a["data"] if a else set()) | (o["data"] if o else set())
    if a and any("%" in str(d) for d in a["data"]) and not (o and any("%" in str(d) for d in o["data"])):
        return "reference bug", "4.0.0 does not substitute variables in integer fields (MX priority kept as '%var%')"
    if rtype == "TXT" and any(str(d).startswith("v=spf1") for d in datas):
        return "POLICY 7", "SPF merge (order of terms, final qualifier, TTL kept / default)"
    # CNAME exclusivity: at this owner, one side has a CNAME beside other data.
    for side in (az_sets, our_sets):
        types_here = {t for (n, t) in side if n == name}
        if "CNAME" in types_here and len(types_here) > 1:
            return "POLICY 4", "CNAME beside other data in AZ's result; ours removes it"
    if a and o and a["data"] == o["data"]:
        at, ot = a["ttls"], o["ttls"]
        if len(at) > 1 and len(ot) == 1:
            return "POLICY 9", "one TTL per RRset"
        if all(x is not None and x < 60 for x in at) and ot == {60}:
            return "POLICY 3", "TTL raised to min_ttl 60"
        if key in zone_ttls and (at == zone_ttls[key] or ot != zone_ttls[key]):
            return "POLICY 9", "identical record re-written / RRset takes the template TTL"
    if a and o and a["data"] == o["data"] and any(
        str(r.get("type", "")).upper().startswith("REDIR") for r in template["records"]
    ):
        return "POLICY 11", "redirect records take the configured web-forwarding records' TTL"
    if rtype == "SRV" or any(t == "SRV" for (n, t) in az_sets if n == name):
        return "POLICY 5", "SRV owner is _service._proto.name"
    if a and o and o["data"] < a["data"] and o["ttls"] <= a["ttls"]:
        return "POLICY 9", "identical records are not written twice"
    return None, None


# --------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-build", action="store_true", help="use the existing release binary")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the jobs for throughput (default 3)")
    ap.add_argument("--show", type=int, default=40, help="unexplained disagreements to list (default 40)")
    ap.add_argument("--json", help="also write the full report to this file")
    args = ap.parse_args()

    import domainconnectzone as az  # noqa: PLC0415 - only importable inside the venv

    shared = os.environ.get("DC_SHARED") or os.path.join(REPO, "..", "shared")
    tdir = os.path.join(shared, "domainconnect", "templates")
    files = sorted(glob.glob(os.path.join(tdir, "*.json")))
    if not files:
        sys.exit(f"no templates in {tdir} (set DC_SHARED)")

    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(CACHE, "target")
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    if not args.no_build:
        subprocess.check_call(
            ["cargo", "build", "--release", "--quiet", "--bin", "dc-gateway"], cwd=REPO, env=env
        )
    binary = os.path.join(target, "release", "dc-gateway")

    # Jobs: every template × (empty zone, sample zone).
    jobs = []
    for f in files:
        base = os.path.basename(f)
        try:
            with open(f, encoding="utf-8") as fh:
                t = json.load(fh)
        except (OSError, ValueError) as e:
            jobs.append({"file": base, "load_error": str(e)})
            continue
        host = HOST_WHEN_REQUIRED if t.get("hostRequired") else ""
        params = gen_params(t)
        for zname in ("empty", "sample"):
            az_zone, our_zone = sample_zone(host) if zname == "sample" else ([], [])
            jobs.append(
                {"file": base, "t": t, "zone_name": zname, "host": host, "params": params,
                 "az_zone": az_zone, "our_zone": our_zone}
            )
    runnable = [j for j in jobs if "t" in j]

    # Ours: one plan-batch process over all jobs, `repeat` times over.
    work = tempfile.mkdtemp(prefix="dcgw-compare-")
    jpath = os.path.join(work, "jobs.jsonl")
    redirect = [{"type": "A", "data": REDIRECT_A, "ttl": REDIRECT_TTL}]
    with open(jpath, "w", encoding="utf-8") as out:
        for _ in range(args.repeat):
            for i, j in enumerate(runnable):
                out.write(json.dumps({
                    "id": i, "template": j["t"], "domain": DOMAIN, "host": j["host"],
                    "params": j["params"], "zone": j["our_zone"], "force": True,
                    "redirect_records": redirect,
                }) + "\n")
    start = time.perf_counter()
    proc = subprocess.run([binary, "plan-batch", jpath], capture_output=True, text=True)
    our_wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"plan-batch failed ({proc.returncode}): {proc.stderr}")
    m = re.search(r"engine time ([0-9.]+) µs total", proc.stderr)
    our_engine_us = float(m.group(1)) if m else float("nan")
    results = [json.loads(line) for line in proc.stdout.splitlines()][: len(runnable)]

    # AZ, in-process, timing only process_records.
    az_seconds = 0.0
    az_results = []
    for rep in range(args.repeat):
        for j in runnable:
            ok, res, secs = run_az(az, j["t"], j["az_zone"], j["host"], copy.deepcopy(j["params"]))
            az_seconds += secs
            if rep == 0:
                az_results.append((ok, res))

    # Compare.
    stats = Counter()
    by_class = Counter()
    reasons = defaultdict(Counter)
    unexplained = []
    per_template = defaultdict(list)
    for j, ours, (az_ok, az_res) in zip(runnable, results, az_results):
        verdicts = []
        key = f"{j['file']} [{j['zone_name']} zone{', host ' + j['host'] if j['host'] else ''}]"
        if not az_ok and not ours["ok"]:
            stats["both refuse"] += 1
            verdicts.append(("agree", None))
        elif not az_ok:
            cls, why = classify_az_error(az_res, j["t"], True, None)
            verdicts.append((cls, why))
            if cls is None:
                unexplained.append({"job": key, "kind": "AZ refuses, ours applies",
                                    "az": why, "params": j["params"],
                                    "ours_adds": ours["plan"]["adds"]})
        elif not ours["ok"]:
            cls, why = classify_our_error(ours, j["t"])
            verdicts.append((cls, why))
            if cls is None:
                new, _deleted, _final = az_res
                unexplained.append({"job": key, "kind": "ours refuses, AZ applies", "ours": why,
                                    "params": j["params"], "az_new": new})
        else:
            _new, _deleted, final = az_res
            a_sets, a_redir, dups = az_rrsets(final)
            o_sets, o_redir = our_rrsets(j["our_zone"], ours["plan"])
            zone_ttls = {}
            for r in j["our_zone"]:
                zone_ttls.setdefault((r["name"], r["type"]), set()).add(r["ttl"])
            diffs = diff_zones(a_sets, o_sets)
            if dups:
                verdicts.append(("POLICY 9", "AZ 4.0.0 writes an RR that is already there (duplicate RR)"))
            if a_redir != o_redir:
                verdicts.append((None, f"redirects differ: AZ {sorted(a_redir)} ours {sorted(o_redir)}"))
            for k, a, o in diffs:
                cls, why = classify_diff(k, a, o, a_sets, o_sets, zone_ttls, j["t"])
                fmt = lambda s: None if s is None else {"data": sorted(s["data"]), "ttls": sorted(s["ttls"], key=str)}  # noqa: E731
                verdicts.append((cls, why))
                if cls is None:
                    unexplained.append({"job": key, "kind": "zones differ", "rrset": list(k),
                                        "az": fmt(a), "ours": fmt(o), "params": j["params"]})
            if not verdicts:
                verdicts.append(("agree", None))
        for cls, why in verdicts:
            if cls == "agree":
                continue
            label = cls or "unexplained"
            by_class[label] += 1
            reasons[label][why if cls else "see list"] += 1
        job_agrees = all(c == "agree" for c, _ in verdicts)
        stats["jobs"] += 1
        stats["agree" if job_agrees else "disagree"] += 1
        if not job_agrees:
            stats["disagree, unexplained" if any(c is None for c, _ in verdicts) else "disagree, explained"] += 1
        per_template[j["file"]].append(job_agrees)

    n_templates = len(per_template)
    full_agree = sum(all(v) for v in per_template.values())
    load_errors = [j for j in jobs if "load_error" in j]

    print(f"AZ (domainconnectzone {AZ_VERSION}) vs dc-gateway, registry {tdir}")
    print(f"templates compared: {n_templates} (+{len(load_errors)} unreadable), jobs: {stats['jobs']} "
          f"(empty zone and sample zone each; host '{HOST_WHEN_REQUIRED}' for hostRequired)")
    print(f"templates agreeing on both zones: {full_agree}")
    print(f"jobs agreeing: {stats['agree']} (of which both refuse: {stats['both refuse']}); "
          f"disagreeing: {stats['disagree']} = {stats['disagree, explained']} explained "
          f"+ {stats['disagree, unexplained']} with something unexplained")
    print("\ndisagreements (RRsets or whole-job outcomes) by explanation:")
    for label, n in sorted(by_class.items(), key=lambda x: (x[0] == "unexplained", x[0])):
        print(f"  {label:16} {n:5}")
        for why, c in reasons[label].most_common():
            print(f"      {c:5}  {why}")
    if unexplained:
        print(f"\nunexplained ({len(unexplained)}; first {min(args.show, len(unexplained))}):")
        for u in unexplained[: args.show]:
            print("  " + json.dumps(u, sort_keys=True)[:1500])
    else:
        print("\nunexplained: none")

    n = len(runnable) * args.repeat
    az_us = az_seconds * 1e6
    print(f"\nthroughput over the same {n} jobs ({len(runnable)} × {args.repeat}):")
    print(f"  AZ process_records:        {az_us:12.0f} µs total, {az_us / n:9.2f} µs/job")
    print(f"  ours engine::plan:         {our_engine_us:12.0f} µs total, {our_engine_us / n:9.2f} µs/job")
    print(f"  ours plan-batch wall-clock:{our_wall * 1e6:12.0f} µs total, {our_wall * 1e6 / n:9.2f} µs/job "
          f"(process start, JSON in/out)")
    print(f"  ratio AZ / ours engine:     {az_us / our_engine_us:8.1f}×  (target ≥ 100×)")
    print(f"  ratio AZ / ours wall-clock: {az_us / (our_wall * 1e6):8.1f}×")
    print(f"  plan-batch: {proc.stderr.strip().splitlines()[-1]}")

    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"stats": stats, "by_class": by_class,
                       "reasons": {k: dict(v) for k, v in reasons.items()},
                       "unexplained": unexplained,
                       "throughput": {"jobs": n, "az_us": az_us, "ours_engine_us": our_engine_us,
                                      "ours_wall_us": our_wall * 1e6}}, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    ensure_venv()
    sys.exit(main())
