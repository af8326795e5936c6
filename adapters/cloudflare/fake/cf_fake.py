#!/usr/bin/env python3
"""Tiny stateful stand-in for the Cloudflare v4 DNS Records API (stdlib only, in-memory).

Serves under /client/v4 (like api.cloudflare.com):
  GET  /zones[?name=]                         GET /zones/{zid}
  GET  /zones/{zid}/dns_records[?name=&type=&content=&page=&per_page=]
  POST /zones/{zid}/dns_records               GET|PUT|PATCH|DELETE /zones/{zid}/dns_records/{rid}
  POST /zones/{zid}/dns_records/batch         (deletes -> patches -> puts -> posts, all-or-nothing)
Test hooks (no auth, outside the API's paths): GET /__fake/state, POST /__fake/reset,
GET /__fake/stats (requests counted by method, path kind and zone id), POST /__fake/faults
{"zone": NAME, "delay_ms": N, "status": S} (requests for that zone wait N ms, or answer S;
{} clears).
Auth: "Authorization: Bearer $CF_FAKE_TOKEN" (default "test-token").
Zones: $CF_FAKE_ZONES (comma list, default "example.com"); zone id = md5(name).
Error codes are approximations of Cloudflare's (81044 record not found, 81058 identical record exists,
9109 invalid token, 1004 validation); check them against real responses before relying on them.
usage: cf_fake.py [--host 127.0.0.1] [--port 8787]
"""
import argparse, copy, hashlib, json, os, re, threading, uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TOKEN = os.environ.get("CF_FAKE_TOKEN", "test-token")
TYPES = {"A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA", "PTR"}
LOCK = threading.Lock()
STATE = {}
STATS = {}
FAULTS = {}


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reset():
    STATE.clear()
    for name in filter(None, os.environ.get("CF_FAKE_ZONES", "example.com").split(",")):
        zid = hashlib.md5(name.encode()).hexdigest()
        STATE[zid] = {"zone": {"id": zid, "name": name, "status": "active", "paused": False, "type": "full",
                               "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]},
                      "records": {}}


class ApiError(Exception):
    def __init__(self, status, code, message):
        self.status, self.code, self.message = status, code, message


def validate(zone, body, partial=False, rid=None):
    if not isinstance(body, dict):
        raise ApiError(400, 9207, "Request body is invalid.")
    rec = {} if partial else {"ttl": 1, "proxied": False, "comment": None, "tags": []}
    rec.update({k: v for k, v in body.items() if k in ("name", "type", "content", "ttl", "proxied", "comment", "tags", "priority", "data")})
    for k in ("name", "type", "content"):
        if not partial and k not in rec:
            raise ApiError(400, 1004, f"DNS Validation Error: {k} is required")
    if "type" in rec and rec["type"] not in TYPES:
        raise ApiError(400, 1004, "DNS Validation Error: invalid type")
    if "ttl" in rec and not (rec["ttl"] == 1 or 30 <= rec["ttl"] <= 86400):
        raise ApiError(400, 9021, "Invalid TTL. Must be between 30 and 86400 seconds, or 1 for Automatic.")
    if "name" in rec:
        n = rec["name"].rstrip(".").lower()
        zn = zone["zone"]["name"]
        if n == "@":
            n = zn
        elif not (n == zn or n.endswith("." + zn)):
            n = f"{n}.{zn}"  # Cloudflare accepts relative names
        rec["name"] = n
    return rec


def dup_check(zone, rec, skip_id=None):
    for r in zone["records"].values():
        if r["id"] != skip_id and (r["name"], r["type"], r["content"]) == (rec["name"], rec["type"], rec["content"]):
            raise ApiError(400, 81058, "An identical record already exists.")


def create(zone, body):
    rec = validate(zone, body)
    dup_check(zone, rec)
    rec.update(id=uuid.uuid4().hex, created_on=now(), modified_on=now(), proxiable=rec["type"] in ("A", "AAAA", "CNAME"),
               meta={}, settings={}, comment_modified_on=None, tags_modified_on=None)
    zone["records"][rec["id"]] = rec
    return rec


def get(zone, rid):
    if rid not in zone["records"]:
        raise ApiError(404, 81044, "Record does not exist.")
    return zone["records"][rid]


def update(zone, rid, body, partial):
    old = get(zone, rid)
    new = dict(old) if partial else {k: old[k] for k in ("id", "created_on", "proxiable", "meta", "settings")}
    new.update(validate(zone, body, partial=partial))
    for k, v in (("ttl", 1), ("proxied", False), ("comment", None), ("tags", [])):
        new.setdefault(k, v)
    dup_check(zone, new, skip_id=rid)
    new["modified_on"] = now()
    zone["records"][rid] = new
    return new


def delete(zone, rid):
    get(zone, rid)
    del zone["records"][rid]
    return {"id": rid}


def batch(zone, body):
    work = copy.deepcopy(zone)  # all-or-nothing: run on a copy, swap in on success
    out = {"deletes": [], "patches": [], "puts": [], "posts": []}
    for d in body.get("deletes") or []:
        out["deletes"].append(dict(get(work, d.get("id")))); delete(work, d["id"])
    for p in body.get("patches") or []:
        out["patches"].append(update(work, p.get("id"), {k: v for k, v in p.items() if k != "id"}, True))
    for p in body.get("puts") or []:
        out["puts"].append(update(work, p.get("id"), {k: v for k, v in p.items() if k != "id"}, False))
    for p in body.get("posts") or []:
        out["posts"].append(create(work, p))
    zone["records"] = work["records"]
    return out


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if os.environ.get("CF_FAKE_LOG"):
            super().log_message(fmt, *args)

    def send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def ok(self, result, info=None):
        body = {"success": True, "errors": [], "messages": [], "result": result}
        if info:
            body["result_info"] = info
        self.send(200, body)

    def handle_any(self, method):
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        body = None
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            try:
                body = json.loads(self.rfile.read(n))
            except ValueError:
                return self.send(400, {"success": False, "errors": [{"code": 6007, "message": "Malformed JSON in request body"}], "messages": [], "result": None})
        if u.path == "/__fake/state":
            return self.send(200, STATE)
        if u.path == "/__fake/reset":
            with LOCK:
                reset()
                STATS.clear()
                FAULTS.clear()
            return self.send(200, {"ok": True})
        if u.path == "/__fake/stats":
            return self.send(200, STATS)
        if u.path == "/__fake/faults":
            FAULTS.clear()
            FAULTS.update(body or {})
            return self.send(200, FAULTS)
        kind = "batch" if u.path.endswith("/batch") else ("dns_records" if "/dns_records" in u.path else "zones")
        zm = re.search(r"/zones/([0-9a-f]{32})", u.path)
        zone_of = zm.group(1) if zm else hashlib.md5(q.get("name", "").encode()).hexdigest()
        key = f"{method} {kind} {zone_of}"
        STATS[key] = STATS.get(key, 0) + 1
        # Faults hit only the zone they name, so tests on other zones run on undisturbed.
        faulty = FAULTS.get("zone") and hashlib.md5(FAULTS["zone"].encode()).hexdigest() == zone_of
        if faulty and FAULTS.get("delay_ms"):
            import time
            time.sleep(FAULTS["delay_ms"] / 1000)
        if faulty and FAULTS.get("status"):
            return self.send(int(FAULTS["status"]), {"success": False, "errors": [{"code": 10000, "message": "injected failure"}], "messages": [], "result": None})
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.send(400, {"success": False, "errors": [{"code": 6003, "message": "Invalid request headers", "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}]}], "messages": [], "result": None})
        if auth[7:] != TOKEN:
            return self.send(403, {"success": False, "errors": [{"code": 9109, "message": "Invalid access token"}], "messages": [], "result": None})
        m = re.fullmatch(r"/client/v4/zones(?:/([0-9a-f]{32})(?:/dns_records(?:/(batch|[0-9a-f]{32}))?)?)?/?", u.path)
        if not m:
            return self.send(404, {"success": False, "errors": [{"code": 7003, "message": "Could not route to " + u.path}], "messages": [], "result": None})
        zid, rid = m.group(1), m.group(2)
        try:
            with LOCK:
                if zid is None:
                    zs = [z["zone"] for z in STATE.values() if "name" not in q or z["zone"]["name"] == q["name"]]
                    return self.ok(zs, {"page": 1, "per_page": 20, "count": len(zs), "total_count": len(zs), "total_pages": 1})
                if zid not in STATE:
                    raise ApiError(404, 7003, "Could not route to /zones/" + zid + ", perhaps your object identifier is invalid?")
                zone = STATE[zid]
                if "/dns_records" not in u.path:
                    return self.ok(zone["zone"])
                if rid is None and method == "GET":
                    rs = [r for r in zone["records"].values()
                          if all(q.get(k) in (None, r[k]) for k in ("name", "type", "content"))]
                    page, per = int(q.get("page", 1)), int(q.get("per_page", 100))
                    chunk = rs[(page - 1) * per: page * per]
                    return self.ok(chunk, {"page": page, "per_page": per, "count": len(chunk), "total_count": len(rs),
                                           "total_pages": max(1, -(-len(rs) // per))})
                if rid is None and method == "POST":
                    return self.ok(create(zone, body or {}))
                if rid == "batch" and method == "POST":
                    return self.ok(batch(zone, body or {}))
                if method == "GET":
                    return self.ok(get(zone, rid))
                if method in ("PUT", "PATCH"):
                    return self.ok(update(zone, rid, body or {}, method == "PATCH"))
                if method == "DELETE":
                    return self.ok(delete(zone, rid))
                raise ApiError(405, 10000, "Method not allowed")
        except ApiError as e:
            return self.send(e.status, {"success": False, "errors": [{"code": e.code, "message": e.message}], "messages": [], "result": None})

    def do_GET(self): self.handle_any("GET")
    def do_POST(self): self.handle_any("POST")
    def do_PUT(self): self.handle_any("PUT")
    def do_PATCH(self): self.handle_any("PATCH")
    def do_DELETE(self): self.handle_any("DELETE")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8787)
    a = ap.parse_args()
    reset()
    ThreadingHTTPServer((a.host, a.port), H).serve_forever()
