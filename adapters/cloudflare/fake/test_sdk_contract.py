"""Holds the Cloudflare stand-in to the real API: the official SDK (PyPI `cloudflare`) drives
it and must parse every answer into its typed models. Run by tests/faults.rs with CF_API_URL
and CF_API_TOKEN naming the fake (zone cf.example)."""
import os
import sys

import cloudflare
from cloudflare.types.zones import Zone
from pydantic import BaseModel

URL, TOKEN = os.environ["CF_API_URL"], os.environ["CF_API_TOKEN"]
c = cloudflare.Cloudflare(api_token=TOKEN, base_url=URL, max_retries=0)

zones = c.zones.list(name="cf.example")
zone = zones.result[0]
assert isinstance(zone, Zone) and zone.name == "cf.example", zone
zid = zone.id
assert isinstance(c.zones.get(zone_id=zid), Zone)

created = []
for i in range(5):
    r = c.dns.records.create(zone_id=zid, type="TXT", name=f"sdk{i}.cf.example", content=f'"sdk {i}"', ttl=300,
                             comment="dc-gateway")
    assert isinstance(r, BaseModel) and type(r).__name__ == "TXTRecord", type(r)
    assert r.id and r.name == f"sdk{i}.cf.example" and r.comment == "dc-gateway", r
    created.append(r)

# Pagination: the SDK's auto-paging iterator walks every page the fake reports.
seen = [r.id for r in c.dns.records.list(zone_id=zid, per_page=2) if r.name.startswith("sdk")]
assert sorted(seen) == sorted(r.id for r in created), (seen, created)
page = c.dns.records.list(zone_id=zid, per_page=2)
assert page.result_info.total_pages >= 3, page.result_info

got = c.dns.records.get(dns_record_id=created[0].id, zone_id=zid)
assert got.content == '"sdk 0"', got
upd = c.dns.records.edit(dns_record_id=created[0].id, zone_id=zid, type="TXT", name="sdk0.cf.example",
                         content='"edited"', ttl=300)
assert upd.content == '"edited"', upd
mx = c.dns.records.create(zone_id=zid, type="MX", name="cf.example", content="mail.cf.example", priority=10, ttl=300)
assert mx.priority == 10 and mx.type == "MX", mx

b = c.dns.records.batch(zone_id=zid, deletes=[{"id": r.id} for r in created] + [{"id": mx.id}],
                        posts=[{"type": "A", "name": "sdk-batch.cf.example", "content": "192.0.2.7", "ttl": 300}])
assert [p.name for p in b.posts] == ["sdk-batch.cf.example"], b
assert len(b.deletes) == 6, b
c.dns.records.delete(dns_record_id=b.posts[0].id, zone_id=zid)

# Errors parse into the SDK's typed exceptions.
try:
    c.dns.records.get(dns_record_id="0" * 32, zone_id=zid)
    sys.exit("a missing record did not raise")
except cloudflare.NotFoundError as e:
    assert e.status_code == 404
try:
    cloudflare.Cloudflare(api_token="wrong", base_url=URL, max_retries=0).zones.list()
    sys.exit("a wrong token did not raise")
except cloudflare.PermissionDeniedError as e:
    assert e.status_code == 403
try:
    c.dns.records.batch(zone_id=zid, deletes=[{"id": "0" * 32}],
                        posts=[{"type": "A", "name": "never.cf.example", "content": "192.0.2.8", "ttl": 300}])
    sys.exit("a batch with a missing id did not raise")
except cloudflare.NotFoundError:
    pass
assert not [r for r in c.dns.records.list(zone_id=zid) if r.name == "never.cf.example"], "batch not rolled back"
print("SDK contract OK")
