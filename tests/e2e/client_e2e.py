"""End to end with the real Service Provider client (PyPI `domain-connect` 0.0.11).

Run by tests/e2e_client.rs, which starts Knot (for `_domainconnect`), the gateway with TLS,
and registers the OAuth client. Environment:
  GATEWAY      https://127.0.0.1:PORT (TLS with a test certificate, REQUESTS_CA_BUNDLE trusts it;
               the client itself never checks certificates)
  KNOT_DNS     127.0.0.1:PORT of the Knot server holding example.com
  KNOT_TSIG    hmac-sha256:NAME:SECRET for updates to it
  ZONE_FILE    the gateway's zone file for example.com (checked after each step)
  CLIENT_ID / CLIENT_SECRET / REDIRECT_URI   the registered OAuth client
Prints one line per check and a closing "N passed, N failed" line; exits 1 on any failure.
"""

import html
import os
import re
import subprocess
import sys
import urllib.parse

import requests
from domainconnect import (ConflictOnApplyException, DomainConnect, DomainConnectAsyncCredentials,
                           NetworkContext)

GATEWAY = os.environ["GATEWAY"]
DNS_HOST, DNS_PORT = os.environ["KNOT_DNS"].split(":")
ZONE_FILE = os.environ["ZONE_FILE"]
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
REDIRECT_URI = os.environ["REDIRECT_URI"]
SERVICE = "website"

passed, failed = 0, 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def zone():
    with open(ZONE_FILE) as f:
        return f.read()


def nsupdate(commands, zone_name="example.com"):
    alg, name, secret = os.environ["KNOT_TSIG"].split(":")
    script = f"server {DNS_HOST} {DNS_PORT}\nzone {zone_name}\n{commands}\nsend\n"
    subprocess.run(["nsupdate", "-y", f"{alg}:{name}:{secret}"], input=script, text=True, check=True)


def main():
    gw = urllib.parse.urlsplit(GATEWAY)
    # Discovery: the _domainconnect TXT record in real DNS points at the gateway.
    nsupdate(f"update delete _domainconnect.example.com TXT\nupdate add _domainconnect.example.com 60 TXT \"{gw.netloc}\"")
    dc = DomainConnect(NetworkContext(nameservers=DNS_HOST))
    dc._resolver.port = int(DNS_PORT)
    dc._resolver.timeout = dc._resolver.lifetime = 3

    config = dc.get_domain_config("example.com")
    check("discovery finds the settings", config.providerId == "dc-gateway.example", vars(config))
    check("urlAPI is the gateway", config.urlAPI == GATEWAY, config.urlAPI)
    check("the async flow is offered", config.urlAsyncUX == GATEWAY, config.urlAsyncUX)

    dc.check_template_supported(config, CLIENT_ID, [SERVICE])
    check("the template is supported", True)
    try:
        dc.check_template_supported(config, CLIENT_ID, ["no-such-service"])
        check("an unknown template is not supported", False)
    except Exception as e:  # TemplateNotSupportedException
        check("an unknown template is not supported", type(e).__name__ == "TemplateNotSupportedException", repr(e))

    # Async consent, approved through the UI.
    params = {"ip": "192.0.2.123", "token": "from-pyc"}
    ctx = dc.get_domain_connect_template_async_context(
        "example.com", CLIENT_ID, SERVICE, redirect_uri=REDIRECT_URI, params=params, state="pyc-state")
    check("consent URL on the async UX", ctx.asyncConsentUrl.startswith(GATEWAY + "/v2/domainTemplates/providers/"),
          ctx.asyncConsentUrl)
    ui = requests.Session()  # trusts the test CA through REQUESTS_CA_BUNDLE
    r = ui.post(GATEWAY + "/login", data={"username": "demo", "password": "demo", "next": "/"}, allow_redirects=False)
    check("login", r.status_code == 303, r.status_code)
    r = ui.get(ctx.asyncConsentUrl, allow_redirects=False)
    check("consent page", r.status_code == 200 and "Allow" in r.text, r.status_code)
    fields = {n: html.unescape(v) for n, v in re.findall(r'name="(query|csrf)" value="([^"]*)"', r.text)}
    fields["decision"] = "approve"
    r = ui.post(GATEWAY + f"/v2/domainTemplates/providers/{CLIENT_ID}", data=fields, allow_redirects=False)
    loc = r.headers.get("location", "")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    check("approval redirects with code and state", loc.startswith(REDIRECT_URI) and q.get("state") == ["pyc-state"], loc)
    ctx.code = q["code"][0]

    creds = DomainConnectAsyncCredentials(CLIENT_ID, CLIENT_SECRET, config.urlAPI)
    ctx = dc.get_async_token(ctx, creds)
    check("token", bool(ctx.access_token) and bool(ctx.refresh_token))

    before = zone()
    try:
        dc.apply_domain_connect_template_async(ctx, host="", service_id=SERVICE, params=params, force=False)
        check("apply without force conflicts (409)", False, "no exception")
    except ConflictOnApplyException as e:
        check("apply without force conflicts (409)", "192.0.2.1" in str(e), str(e))
    check("the zone is unchanged after 409", zone() == before)

    dc.apply_domain_connect_template_async(ctx, host="", service_id=SERVICE, params=params, force=True)
    z = zone()
    check("apply with force writes the zone", "IN A 192.0.2.123" in z and "demo-verification=from-pyc" in z, z)

    # Expire the access token locally: the client refreshes with its refresh token.
    old = ctx.access_token
    ctx.iat = 1  # (0 would read as "no token yet" to the client)
    ctx = dc.get_async_token(ctx, creds)
    check("refresh gives a new access token", ctx.access_token and ctx.access_token != old)

    # Revert (the client has no call for it).
    r = requests.post(GATEWAY + f"/v2/domainTemplates/providers/{CLIENT_ID}/services/{SERVICE}/revert?domain=example.com&host=",
                      headers={"Authorization": "Bearer " + ctx.access_token})
    check("revert", r.status_code == 200 and r.json().get("status") == "reverted", (r.status_code, r.text))
    z = zone()
    check("revert removes the template's records", "192.0.2.123" not in z and "demo-verification" not in z, z)
    r = requests.post(GATEWAY + f"/v2/domainTemplates/providers/{CLIENT_ID}/services/{SERVICE}/revert?domain=example.com&host=",
                      headers={"Authorization": "Bearer " + ctx.access_token})
    check("revert again is 410", r.status_code == 410, r.status_code)

    # The same client builds a sync URL the gateway accepts (unsigned: the demo template has no
    # syncPubKeyDomain).
    url = dc.get_domain_connect_template_sync_url(
        "example.com", CLIENT_ID, SERVICE, redirect_uri="https://demo.dc-gateway.example/done",
        params={"ip": "192.0.2.124", "token": "sync-pyc"}, state="s2")
    r = ui.get(url, allow_redirects=False)
    check("the client's sync URL opens a consent page", r.status_code == 200 and "Approve" in r.text, (r.status_code, url))

    # A signed sync URL built by the same client: a fresh key published in real DNS at
    # <label>.keys.sp.example (split over two TXT records), the template `signed` names that
    # syncPubKeyDomain; the consent page shows no phishing warning and Approve applies.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    b64 = __import__("base64").b64encode(der).decode()
    half = (len(b64) + 1) // 2
    label = "_pyc1"
    nsupdate(f"update delete {label}.keys.sp.example TXT\n"
             f"update add {label}.keys.sp.example 300 TXT \"p=2,a=RS256,d={b64[half:]}\"\n"
             f"update add {label}.keys.sp.example 300 TXT \"p=1,a=RS256,d={b64[:half]}\"",
             zone_name="keys.sp.example")
    url = dc.get_domain_connect_template_sync_url(
        "example.com", CLIENT_ID, "signed", redirect_uri="https://anywhere.sp.example/back",
        params={"token": "signed by pyc"}, state="s3", sign=True, private_key=pem, keyid=label)
    check("the signed URL carries sig and key", "&sig=" in url and url.endswith("&key=" + label), url)
    r = ui.get(url, allow_redirects=False)
    check("the signed sync URL opens a consent page without a phishing warning",
          r.status_code == 200 and "Approve" in r.text and "Check that you started this" not in r.text,
          (r.status_code, r.text[:300]))
    fields = {n: html.unescape(v) for n, v in re.findall(r'name="(query|digest|csrf)" value="([^"]*)"', r.text)}
    fields["decision"] = "approve"
    r = ui.post(urllib.parse.urlsplit(url)._replace(query="").geturl(), data=fields, allow_redirects=False)
    loc = r.headers.get("location", "")
    check("approval of the signed request redirects to its redirect_uri (any domain, as it is signed)",
          r.status_code == 303 and loc == "https://anywhere.sp.example/back?state=s3", (r.status_code, loc))
    check("the signed template's record is in the zone", '"signed-by-pyc=signed by pyc"' in zone(), zone())
    before = zone()
    tampered = url.replace("signed+by+pyc", "signed+by+eve")
    r = ui.get(tampered, allow_redirects=False)
    check("a tampered signed URL is refused", r.status_code == 403 and "Nothing was changed" in r.text,
          r.status_code)
    check("the zone is unchanged after the refusal", zone() == before)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
