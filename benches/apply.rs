//! The gateway's end-to-end apply against the raw backend calls the same change needs, on a
//! real PowerDNS, in the same run (scripts/apply-bench.sh starts PowerDNS and runs this).
//!
//! * gateway: `POST .../apply?force=1` with a Bearer token (OAuth consent and token obtained
//!   first), each one changing the apex A record of bench.example. The gateway authenticates
//!   the token, locks the zone, finds the zone, reads the owners the template touches, plans,
//!   checks preconditions, PATCHes, and records template state and the audit entry.
//! * raw: the HTTP calls a hand-written client would need for the same change: one GET of
//!   each owner the template touches (`rrset_name`, sent concurrently) and one PATCH.
//!
//! The three take turns, request by request. Prints p50/p90/p99 of each, their ratios, and
//! where the gateway's time goes (from its own metrics). Environment: PDNS_API_URL, PDNS_API_KEY,
//! APPLY_BENCH_N (default 300).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use dc_gateway::store::oauth::Client;

const PID: &str = "demo.dc-gateway.example";
const CB: &str = "https://demo.dc-gateway.example/oauth/cb";

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).expect("field");
    let end = html[start..].find('"').expect("end") + start;
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn token(app: &TestApp) -> String {
    let secret = dc_gateway::store::oauth::new_secret();
    let client = Client {
        client_id: PID.into(),
        redirect_uris: vec![CB.into()],
        require_pkce: false,
        access_ttl: 3600,
        refresh_ttl: 86400,
        created_at: 0,
    };
    app.state
        .store
        .add_client(&client, &secret, std::time::SystemTime::now())
        .await
        .expect("client");
    let c = TestApp::client();
    c.post(app.url("/login"))
        .form(&[("username", "demo"), ("password", "demo"), ("next", "/")])
        .send()
        .await
        .expect("login");
    let path = format!(
        "/v2/domainTemplates/providers/{PID}?client_id={PID}&redirect_uri={}&scope=website&domain=bench.example&host=&state=s&response_type=code",
        enc(CB)
    );
    let html = c
        .get(app.url(&path))
        .send()
        .await
        .expect("consent")
        .text()
        .await
        .expect("html");
    let r = c
        .post(app.url(&format!("/v2/domainTemplates/providers/{PID}")))
        .form(&[
            ("query", hidden(&html, "query")),
            ("csrf", hidden(&html, "csrf")),
            ("decision", "approve".into()),
        ])
        .send()
        .await
        .expect("allow");
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("redirect")
        .to_string();
    let code = url::Url::parse(&loc)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let t: serde_json::Value = reqwest::Client::new()
        .post(app.url(&format!(
            "/v2/oauth/access_token?code={}&grant_type=authorization_code&redirect_uri={}",
            enc(&code),
            enc(CB)
        )))
        .json(&serde_json::json!({"client_id": PID, "client_secret": secret}))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    t["access_token"].as_str().expect("access token").to_string()
}

#[tokio::main]
async fn main() {
    let (Ok(url), Ok(key)) = (std::env::var("PDNS_API_URL"), std::env::var("PDNS_API_KEY")) else {
        eprintln!("apply bench: set PDNS_API_URL and PDNS_API_KEY (scripts/apply-bench.sh does)");
        return;
    };
    let n: usize = std::env::var("APPLY_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let app = TestApp::spawn(&format!(
        "[[backends]]\nname = \"local\"\nkind = \"zonefile\"\nzones = [\"example.com\"]\ndir = \"zones\"\nseed = [\"config/example.com.zone\"]\n\
         [[backends]]\nname = \"pdns\"\nkind = \"powerdns\"\nzones = [\"*.example\"]\napi_url = \"{url}\"\napi_key = \"{key}\"\n\
         [[authz.rules]]\nuser = \"demo\"\nzones = [\"example.com\", \"bench.example\"]\n"
    ))
    .await;
    let access = token(&app).await;
    let http = reqwest::Client::new();
    let apply_url = app.url(&format!(
        "/v2/domainTemplates/providers/{PID}/services/website/apply"
    ));

    let base = format!(
        "{}/api/v1/servers/localhost/zones/bench.example.",
        url.trim_end_matches('/')
    );
    let owners = [
        "bench.example.",
        "www.bench.example.",
        "_demo-verify.bench.example.",
    ];
    // The three paths take turns, so each sees the same machine and the same PowerDNS
    // database. gateway: POST apply; raw: read + write; raw_checked: the same plus the re-read
    // of the owners just before the PATCH that the adapter makes when it checks preconditions
    // itself (PowerDNS has no conditional PATCH). The first 20 rounds warm up.
    let mut gateway = Vec::with_capacity(n);
    let mut raw = Vec::with_capacity(n);
    let mut raw_checked = Vec::with_capacity(n);
    for i in 0..(n + 20) {
        for path in 0..3 {
            let t0 = Instant::now();
            if path == 0 {
                let ip = format!("192.0.2.{}", i % 250 + 1);
                let r = http
                    .post(format!(
                        "{apply_url}?domain=bench.example&host=&ip={ip}&token=bench&force=1"
                    ))
                    .bearer_auth(&access)
                    .send()
                    .await
                    .expect("apply");
                let status = r.status();
                let _ = r.bytes().await;
                assert!(status.is_success(), "apply answered {status}");
            } else {
                let ip = format!("198.51.100.{}", i % 250 + 1);
                for _ in 0..path {
                    let gets = owners.iter().map(|o| {
                        http.get(&base)
                            .query(&[("rrset_name", *o)])
                            .header("X-API-Key", &key)
                            .send()
                    });
                    for r in futures_util::future::join_all(gets).await {
                        let r = r.expect("get");
                        assert!(r.status().is_success());
                        let _ = r.bytes().await;
                    }
                }
                let r = http
                    .patch(&base)
                    .header("X-API-Key", &key)
                    .json(&serde_json::json!({"rrsets": [{"name": "bench.example.", "type": "A", "ttl": 3600, "changetype": "REPLACE",
                        "records": [{"content": ip, "disabled": false}]}]}))
                    .send()
                    .await
                    .expect("patch");
                assert!(r.status().is_success(), "{}", r.status());
            }
            if i >= 20 {
                [&mut gateway, &mut raw, &mut raw_checked][path].push(t0.elapsed());
            }
        }
    }
    // Where the gateway's time goes, from its own metrics (means over every apply above).
    let metrics = reqwest::get(format!("{}/metrics", app.spawn_metrics()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let mean = |name: &str, labels: &[&str]| -> f64 {
        let pick = |suffix: &str| {
            metrics
                .lines()
                .find(|l| {
                    l.starts_with(&format!("{name}_{suffix}{{")) && labels.iter().all(|x| l.contains(x))
                })
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let count = pick("count");
        if count > 0.0 {
            1000.0 * pick("sum") / count
        } else {
            0.0
        }
    };
    let http_ms = mean(
        "dcgw_http_request_duration_seconds",
        &["method=\"POST\"", "/apply"],
    );
    let read = mean(
        "dcgw_backend_request_duration_seconds",
        &["backend=\"pdns\"", "operation=\"read\""],
    );
    let write = mean(
        "dcgw_backend_request_duration_seconds",
        &["backend=\"pdns\"", "operation=\"apply\""],
    );
    let (g50, g90, g99) = (
        pct(&mut gateway, 0.5),
        pct(&mut gateway, 0.9),
        pct(&mut gateway, 0.99),
    );
    let (r50, r90, r99) = (pct(&mut raw, 0.5), pct(&mut raw, 0.9), pct(&mut raw, 0.99));
    let (c50, c90, c99) = (
        pct(&mut raw_checked, 0.5),
        pct(&mut raw_checked, 0.9),
        pct(&mut raw_checked, 0.99),
    );
    println!("apply against PowerDNS, {n} applies each, same run");
    println!("{:<34} {:>9} {:>9} {:>9}", "", "p50 ms", "p90 ms", "p99 ms");
    println!(
        "{:<34} {:>9.2} {:>9.2} {:>9.2}",
        "gateway (POST apply, end to end)",
        ms(g50),
        ms(g90),
        ms(g99)
    );
    println!(
        "{:<34} {:>9.2} {:>9.2} {:>9.2}",
        "raw (3 GETs at once, 1 PATCH)",
        ms(r50),
        ms(r90),
        ms(r99)
    );
    println!(
        "{:<34} {:>9.2} {:>9.2} {:>9.2}",
        "raw + precondition re-read",
        ms(c50),
        ms(c90),
        ms(c99)
    );
    println!(
        "gateway mean per apply: {http_ms:.2} ms in the handler = backend read {read:.2} + backend PATCH {write:.2} + the rest {:.2}",
        http_ms - read - write
    );
    println!(
        "ratio gateway/raw at p50: {:.2} (target <= 1.2)",
        g50.as_secs_f64() / r50.as_secs_f64()
    );
    println!(
        "ratio gateway/(raw + precondition re-read) at p50: {:.2}",
        g50.as_secs_f64() / c50.as_secs_f64()
    );
}
