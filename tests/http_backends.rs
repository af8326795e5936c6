//! One gateway serving zones from two backends at once: the demo zone from the zone-file
//! directory and bench.example from a real PowerDNS (scripts/services/pdns.sh; PDNS_API_URL,
//! PDNS_API_KEY). Discovery routes by zone, applies land in the right backend, and the other
//! backend is untouched. Skipped without PowerDNS unless DCGW_REQUIRE_PDNS=1.

mod common;

use std::sync::Arc;

use common::{TestApp, approve, demo_consent, login_demo};
use dc_gateway::adapter::{Adapter, ChangeSet, Expect, RRsetChange, ReadFilter};
use dcgw_powerdns::{PowerDnsAdapter, PowerDnsOptions};

fn pdns() -> Option<(String, String)> {
    match (std::env::var("PDNS_API_URL"), std::env::var("PDNS_API_KEY")) {
        (Ok(u), Ok(k)) => Some((u, k)),
        _ => {
            assert!(
                std::env::var("DCGW_REQUIRE_PDNS").as_deref() != Ok("1"),
                "DCGW_REQUIRE_PDNS=1 but PDNS_API_URL is not set"
            );
            eprintln!("skipped: no PowerDNS");
            None
        }
    }
}

/// Asks the settings endpoint about each domain and checks the status.
async fn assert_settings(c: &reqwest::Client, app: &TestApp, expected: &[(&str, u16)]) {
    for (domain, status) in expected {
        let r = c
            .get(app.url(&format!("/v2/{domain}/settings")))
            .send()
            .await
            .expect("settings");
        assert_eq!(r.status(), *status, "{domain}");
    }
}

/// Opens the demo website template's consent page for `zone` and approves it; returns the
/// page as shown.
async fn approve_demo(c: &reqwest::Client, app: &TestApp, zone: &str, ip: &str, token: &str) -> String {
    let html = demo_consent(c, app, zone, ip, token).await;
    assert_eq!(approve(c, app, &html).await.status(), 200, "{zone}");
    html
}

#[tokio::test]
async fn zones_route_to_their_backend_and_applies_land_there() {
    let Some((url, key)) = pdns() else { return };
    let direct = Arc::new(PowerDnsAdapter::new(PowerDnsOptions::new(&url, &key)).expect("adapter"));
    // A clean bench.example: only what PowerDNS created (SOA, NS).
    let current = direct
        .read("bench.example.", &ReadFilter::All)
        .await
        .expect("read");
    let cleanup: Vec<RRsetChange> = current
        .iter()
        .filter(|s| s.rtype != "SOA" && s.rtype != "NS")
        .map(|s| RRsetChange {
            name: s.name.clone(),
            rtype: s.rtype.clone(),
            expect: Expect::Any,
            new: None,
        })
        .collect();
    direct
        .apply(&ChangeSet {
            zone: "bench.example.".into(),
            changes: cleanup,
        })
        .await
        .expect("clean");

    let app = TestApp::spawn(&format!(
        r#"
[[backends]]
name = "local"
kind = "zonefile"
zones = ["example.com"]
dir = "zones"
seed = ["config/example.com.zone"]

[[backends]]
name = "pdns"
kind = "powerdns"
zones = ["*.example"]
api_url = "{url}"
api_key = "{key}"
timeout_ms = 5000

[[authz.rules]]
user = "demo"
zones = ["example.com", "bench.example"]
"#
    ))
    .await;
    let c = TestApp::client();
    assert_settings(
        &c,
        &app,
        &[
            ("bench.example", 200),
            ("example.com", 200),
            ("unknown.example", 404),
            ("example.org", 404),
        ],
    )
    .await;
    let r = c
        .get(app.url("/v2/bench.example/settings"))
        .send()
        .await
        .expect("settings")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    assert_eq!(
        r["nameServers"],
        serde_json::json!(["ns1.bench.example", "ns2.bench.example"]),
        "{r}"
    );

    login_demo(&c, &app).await;
    let local_before = app.zone_text("example.com");
    let html = approve_demo(&c, &app, "bench.example", "192.0.2.77", "pd1").await;
    assert!(!html.contains("as one unit"), "PowerDNS applies atomically");

    let mut after = direct
        .read("bench.example.", &ReadFilter::All)
        .await
        .expect("read");
    after.retain(|s| s.rtype != "SOA" && s.rtype != "NS");
    after.sort_by(|a, b| (&a.name, &a.rtype).cmp(&(&b.name, &b.rtype)));
    let got: Vec<(String, String, Vec<String>)> =
        after.into_iter().map(|s| (s.name, s.rtype, s.data)).collect();
    assert_eq!(
        got,
        vec![
            (
                "_demo-verify.bench.example.".into(),
                "TXT".into(),
                vec!["\"demo-verification=pd1\"".into()]
            ),
            ("bench.example.".into(), "A".into(), vec!["192.0.2.77".into()]),
            (
                "bench.example.".into(),
                "TXT".into(),
                vec!["\"v=spf1 include:_spf.demo.dc-gateway.example ~all\"".into()]
            ),
            (
                "www.bench.example.".into(),
                "CNAME".into(),
                vec!["bench.example.".into()]
            ),
        ]
    );
    assert_eq!(
        app.zone_text("example.com"),
        local_before,
        "the zone-file backend is untouched"
    );
    let instances = app.state.store.instances("bench.example.").await.expect("state");
    assert_eq!(instances.len(), 1);
}

#[tokio::test]
async fn one_config_serves_zone_files_powerdns_and_cloudflare_at_once() {
    let Some((url, key)) = pdns() else { return };
    let (Ok(cf_url), Ok(cf_token)) = (std::env::var("CF_API_URL"), std::env::var("CF_API_TOKEN")) else {
        assert!(
            std::env::var("DCGW_REQUIRE_CLOUDFLARE").as_deref() != Ok("1"),
            "DCGW_REQUIRE_CLOUDFLARE=1 but CF_API_URL is not set"
        );
        return;
    };
    let mut o = dcgw_cloudflare::CloudflareOptions::new(&cf_token);
    o.api_url = cf_url.clone();
    let cf = dcgw_cloudflare::CloudflareAdapter::new(o).expect("cloudflare");
    let app = TestApp::spawn(&format!(
        r#"
[[backends]]
name = "local"
kind = "zonefile"
zones = ["example.com"]
dir = "zones"
seed = ["config/example.com.zone"]

[[backends]]
name = "pdns"
kind = "powerdns"
zones = ["bench.example"]
api_url = "{url}"
api_key = "{key}"

[[backends]]
name = "cf"
kind = "cloudflare"
zones = ["gw.example"]
api_url = "{cf_url}"
api_token = "{cf_token}"

[[authz.rules]]
user = "demo"
zones = ["example.com", "bench.example", "gw.example"]
"#
    ))
    .await;
    let c = TestApp::client();
    assert_settings(
        &c,
        &app,
        &[("example.com", 200), ("bench.example", 200), ("gw.example", 200)],
    )
    .await;
    let settings: serde_json::Value = c
        .get(app.url("/v2/gw.example/settings"))
        .send()
        .await
        .expect("settings")
        .json()
        .await
        .expect("json");
    assert_eq!(
        settings["nameServers"],
        serde_json::json!(["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]),
        "the zone's Cloudflare name servers"
    );
    // The demo template's types are all writable on Cloudflare: the template query answers.
    let r = c
        .get(app.url("/v2/domainTemplates/providers/demo.dc-gateway.example/services/website"))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 200);

    login_demo(&c, &app).await;
    approve_demo(&c, &app, "gw.example", "192.0.2.78", "cf1").await;
    let mut sets = cf.read("gw.example.", &ReadFilter::All).await.expect("read");
    sets.retain(|s| s.rtype != "NS");
    sets.sort_by(|a, b| (&a.name, &a.rtype).cmp(&(&b.name, &b.rtype)));
    let got: Vec<(String, String, Vec<String>)> =
        sets.into_iter().map(|s| (s.name, s.rtype, s.data)).collect();
    assert_eq!(
        got,
        vec![
            (
                "_demo-verify.gw.example.".into(),
                "TXT".into(),
                vec!["\"demo-verification=cf1\"".into()]
            ),
            ("gw.example.".into(), "A".into(), vec!["192.0.2.78".into()]),
            (
                "gw.example.".into(),
                "TXT".into(),
                vec!["\"v=spf1 include:_spf.demo.dc-gateway.example ~all\"".into()]
            ),
            (
                "www.gw.example.".into(),
                "CNAME".into(),
                vec!["gw.example.".into()]
            ),
        ]
    );
}

/// The variables a backend's tests need, or None (a failure when `require` is set to 1).
fn env_or_skip(vars: &[&str], require: &str) -> Option<Vec<String>> {
    let values: Option<Vec<String>> = vars.iter().map(|v| std::env::var(v).ok()).collect();
    if values.is_none() {
        assert!(
            std::env::var(require).as_deref() != Ok("1"),
            "{require}=1 but one of {vars:?} is not set"
        );
        eprintln!("skipped: {vars:?} not set");
    }
    values
}

/// The records the demo website template writes at `zone` (SOA and NS left out).
async fn demo_records(adapter: &dyn Adapter, zone: &str) -> Vec<(String, String, Vec<String>)> {
    let mut sets = adapter.read(zone, &ReadFilter::All).await.expect("read");
    sets.retain(|s| s.rtype != "SOA" && s.rtype != "NS");
    sets.sort_by(|a, b| (&a.name, &a.rtype).cmp(&(&b.name, &b.rtype)));
    sets.into_iter().map(|s| (s.name, s.rtype, s.data)).collect()
}

fn demo_expected(zone: &str, ip: &str, token: &str) -> Vec<(String, String, Vec<String>)> {
    let apex = format!("{zone}.");
    vec![
        (
            format!("_demo-verify.{apex}"),
            "TXT".into(),
            vec![format!("\"demo-verification={token}\"")],
        ),
        (apex.clone(), "A".into(), vec![ip.to_string()]),
        (
            apex.clone(),
            "TXT".into(),
            vec!["\"v=spf1 include:_spf.demo.dc-gateway.example ~all\"".into()],
        ),
        (format!("www.{apex}"), "CNAME".into(), vec![apex.clone()]),
    ]
}

/// Removes everything but SOA and NS from `zone`.
async fn empty_zone(adapter: &dyn Adapter, zone: &str) {
    let sets = adapter.read(zone, &ReadFilter::All).await.expect("read");
    let changes: Vec<RRsetChange> = sets
        .iter()
        .filter(|s| s.rtype != "SOA" && !(s.rtype == "NS" && s.name == zone))
        .map(|s| RRsetChange {
            name: s.name.clone(),
            rtype: s.rtype.clone(),
            expect: Expect::Any,
            new: None,
        })
        .collect();
    adapter
        .apply(&ChangeSet {
            zone: zone.into(),
            changes,
        })
        .await
        .expect("empty the zone");
}

#[tokio::test]
async fn one_config_serves_zone_files_powerdns_route53_and_rfc2136_at_once() {
    let Some(p) = env_or_skip(&["PDNS_API_URL", "PDNS_API_KEY"], "DCGW_REQUIRE_PDNS") else {
        return;
    };
    let Some(m) = env_or_skip(&["MOTO_URL"], "DCGW_REQUIRE_MOTO") else {
        return;
    };
    let Some(k) = env_or_skip(&["KNOT_DNS", "KNOT_TSIG"], "DCGW_REQUIRE_KNOT") else {
        return;
    };
    let (pdns_url, pdns_key, moto_url, knot_addr) = (&p[0], &p[1], &m[0], &k[0]);
    let tsig = dcgw_rfc2136::TsigKey::parse(&k[1]).expect("TSIG key");
    let secret = k[1].rsplit(':').next().expect("secret");

    let pdns = PowerDnsAdapter::new(PowerDnsOptions::new(pdns_url, pdns_key)).expect("pdns");
    let r53 = dcgw_route53::Route53Adapter::new(dcgw_route53::Route53Options {
        endpoint_url: Some(moto_url.clone()),
        ..Default::default()
    });
    let knot = dcgw_rfc2136::Rfc2136Adapter::new(dcgw_rfc2136::Rfc2136Options::new(
        knot_addr.parse().expect("address"),
        Some(tsig.clone()),
    ))
    .expect("rfc2136");
    empty_zone(&pdns, "mix.example.").await;
    empty_zone(&r53, "r53.example.").await;
    empty_zone(&knot, "rfc-gw.example.").await;

    let app = TestApp::spawn(&format!(
        r#"
[[backends]]
name = "local"
kind = "zonefile"
zones = ["example.com"]
dir = "zones"
seed = ["config/example.com.zone"]

[[backends]]
name = "pdns"
kind = "powerdns"
zones = ["mix.example"]
api_url = "{pdns_url}"
api_key = "{pdns_key}"

[[backends]]
name = "aws"
kind = "route53"
zones = ["r53.example", "nohost.example"]
endpoint_url = "{moto_url}"
split_batches = true

[[backends]]
name = "knot"
kind = "rfc2136"
zones = ["*.example"]
server = "{knot_addr}"
tsig_key_name = "{}"
tsig_algorithm = "{}"
tsig_secret = "{secret}"

[[authz.rules]]
user = "demo"
zones = ["example.com", "mix.example", "r53.example", "rfc-gw.example"]
"#,
        tsig.name, tsig.algorithm
    ))
    .await;
    let c = TestApp::client();
    // Discovery routes by zone; a zone its backend does not host is 404.
    assert_settings(
        &c,
        &app,
        &[
            ("example.com", 200),
            ("mix.example", 200),
            ("r53.example", 200),
            ("rfc-gw.example", 200),
            ("nohost.example", 404),
            ("elsewhere.example", 404),
            ("example.org", 404),
        ],
    )
    .await;
    login_demo(&c, &app).await;
    let local_before = app.zone_text("example.com");
    for (zone, ip, token, atomic) in [
        ("mix.example", "192.0.2.81", "mix1", true),
        ("r53.example", "192.0.2.82", "r531", false),
        ("rfc-gw.example", "192.0.2.83", "rfc1", true),
    ] {
        let html = approve_demo(&c, &app, zone, ip, token).await;
        // Route 53 with split_batches promises batches only, and the consent page says so.
        assert_eq!(!html.contains("as one unit"), atomic, "{zone}");
    }
    assert_eq!(
        demo_records(&pdns, "mix.example.").await,
        demo_expected("mix.example", "192.0.2.81", "mix1")
    );
    assert_eq!(
        demo_records(&r53, "r53.example.").await,
        demo_expected("r53.example", "192.0.2.82", "r531")
    );
    assert_eq!(
        demo_records(&knot, "rfc-gw.example.").await,
        demo_expected("rfc-gw.example", "192.0.2.83", "rfc1")
    );
    assert_eq!(
        app.zone_text("example.com"),
        local_before,
        "the zone-file backend is untouched"
    );
    for zone in ["mix.example.", "r53.example.", "rfc-gw.example."] {
        assert_eq!(
            app.state.store.instances(zone).await.expect("state").len(),
            1,
            "{zone}"
        );
    }
    // The TSIG secret reaches no page the gateway serves.
    let account = c
        .get(app.url("/account"))
        .send()
        .await
        .expect("account")
        .text()
        .await
        .expect("body");
    assert!(!account.contains(secret));
}
