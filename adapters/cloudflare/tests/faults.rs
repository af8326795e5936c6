//! The Cloudflare adapter against the stand-in (cf.example): one batch request per change set
//! with the provenance comment, paginated reads, and faults (server gone, too slow, 5xx, a
//! batch refused halfway, a wrong token, a failed precondition), each a typed error with the
//! zone read back unchanged and the token never printed. Then the contract test: the official
//! Cloudflare SDK (PyPI `cloudflare`) drives the same fake and parses every answer.

use std::time::Duration;

use dcgw_adapter::{Adapter, AdapterError, ChangeSet, Expect, RRset, RRsetChange, ReadFilter};
use dcgw_cloudflare::{CloudflareAdapter, CloudflareOptions, PROVENANCE};
use serde_json::Value;

const ZONE: &str = "cf.example.";

fn live() -> Option<(String, String)> {
    match (std::env::var("CF_API_URL"), std::env::var("CF_API_TOKEN")) {
        (Ok(u), Ok(t)) => Some((u, t)),
        _ => {
            assert!(
                std::env::var("DCGW_REQUIRE_CLOUDFLARE").as_deref() != Ok("1"),
                "DCGW_REQUIRE_CLOUDFLARE=1 but CF_API_URL is not set"
            );
            eprintln!("skipped: no Cloudflare stand-in");
            None
        }
    }
}

fn adapter(url: &str, token: &str, timeout_ms: u64, page: u32) -> CloudflareAdapter {
    let mut o = CloudflareOptions::new(token);
    o.api_url = url.into();
    o.timeout = Duration::from_millis(timeout_ms);
    o.page_size = page;
    CloudflareAdapter::new(o).expect("adapter")
}

/// The fake's admin endpoints (outside the API's paths).
async fn admin(url: &str, path: &str, body: Option<Value>) -> Value {
    let root = url.trim_end_matches("/client/v4");
    let c = reqwest::Client::new();
    let r = match body {
        Some(b) => c.post(format!("{root}{path}")).json(&b).send().await,
        None => c.get(format!("{root}{path}")).send().await,
    };
    r.expect("admin").json().await.expect("json")
}

fn replace(name: &str, rtype: &str, data: &[&str]) -> RRsetChange {
    RRsetChange {
        name: name.into(),
        rtype: rtype.into(),
        expect: Expect::Any,
        new: Some(RRset::new(
            name,
            rtype,
            300,
            data.iter().map(|d| d.to_string()).collect(),
        )),
    }
}

async fn owners(a: &CloudflareAdapter, names: &[&str]) -> Vec<RRset> {
    a.read(
        ZONE,
        &ReadFilter::Names(names.iter().map(|s| s.to_string()).collect()),
    )
    .await
    .expect("read back")
}

fn no_token(e: &AdapterError, token: &str) {
    assert!(
        !e.to_string().contains(token) && !format!("{e:?}").contains(token),
        "{e:?}"
    );
}

// One test: the fault switch is global to the fake, so these steps must not interleave.
#[tokio::test]
async fn batches_pages_provenance_faults_and_the_official_sdk() {
    let Some((url, token)) = live() else { return };
    let a = adapter(&url, &token, 5000, 2);
    // No fault left over from an earlier run.
    admin(&url, "/__fake/faults", Some(serde_json::json!({}))).await;
    let owner = "cf-fault.cf.example.";
    a.apply(&ChangeSet {
        zone: ZONE.into(),
        changes: vec![replace(owner, "A", &["192.0.2.1", "192.0.2.2", "192.0.2.3"])],
    })
    .await
    .expect("seed");

    // One batch per change set, and the provenance comment on what was written.
    let before_stats = admin(&url, "/__fake/stats", None).await;
    a.apply(&ChangeSet {
        zone: ZONE.into(),
        changes: vec![
            replace(owner, "A", &["192.0.2.4", "192.0.2.5", "192.0.2.6"]),
            replace("cf-fault-txt.cf.example.", "TXT", &["\"v=tk\""]),
        ],
    })
    .await
    .expect("apply");
    let after_stats = admin(&url, "/__fake/stats", None).await;
    let state = admin(&url, "/__fake/state", None).await;
    let zid = state
        .as_object()
        .expect("zones")
        .iter()
        .find(|(_, z)| z["zone"]["name"] == "cf.example")
        .map(|(id, _)| id.clone())
        .expect("cf.example");
    let batches = |s: &Value| s[format!("POST batch {zid}")].as_u64().unwrap_or(0);
    assert_eq!(
        batches(&after_stats) - batches(&before_stats),
        1,
        "one batch request"
    );
    let state = admin(&url, "/__fake/state", None).await;
    let written: Vec<&Value> = state
        .as_object()
        .expect("zones")
        .values()
        .flat_map(|z| z["records"].as_object().expect("records").values())
        .filter(|r| r["name"] == "cf-fault.cf.example")
        .collect();
    assert_eq!(written.len(), 3);
    assert!(written.iter().all(|r| r["comment"] == PROVENANCE));

    // Paginated reads: three records, two per page.
    let sets = owners(&a, &[owner]).await;
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].data.len(), 3, "{sets:?}");
    let all = a.read(ZONE, &ReadFilter::All).await.expect("all");
    assert!(all.iter().any(|s| s.name == owner && s.data.len() == 3));
    let before = owners(&a, &[owner]).await;
    let change = ChangeSet {
        zone: ZONE.into(),
        changes: vec![replace(owner, "A", &["192.0.2.99"])],
    };

    // Gone: nothing listens.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        format!("http://{addr}/client/v4")
    };
    let e = adapter(&closed, &token, 2000, 100)
        .apply(&change)
        .await
        .expect_err("refused");
    assert!(matches!(e, AdapterError::Transient(_)), "{e:?}");
    no_token(&e, &token);

    // Slow, then 5xx.
    admin(
        &url,
        "/__fake/faults",
        Some(serde_json::json!({"zone": "cf.example", "delay_ms": 1500})),
    )
    .await;
    let e = adapter(&url, &token, 300, 100)
        .apply(&change)
        .await
        .expect_err("timeout");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("timed out")),
        "{e:?}"
    );
    admin(
        &url,
        "/__fake/faults",
        Some(serde_json::json!({"zone": "cf.example", "status": 502})),
    )
    .await;
    let e = adapter(&url, &token, 2000, 100)
        .apply(&change)
        .await
        .expect_err("502");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("502")),
        "{e:?}"
    );
    no_token(&e, &token);
    admin(&url, "/__fake/faults", Some(serde_json::json!({}))).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(owners(&a, &[owner]).await, before, "unchanged after the faults");

    // Refused halfway: the batch's first change is fine, its last posts the same record twice,
    // which Cloudflare refuses (81058, an identical record exists): nothing of it is applied.
    let e = a
        .apply(&ChangeSet {
            zone: ZONE.into(),
            changes: vec![
                replace(owner, "A", &["192.0.2.50"]),
                replace("cf-fault-dup.cf.example.", "TXT", &["\"same\"", "\"same\""]),
            ],
        })
        .await
        .expect_err("refused");
    assert!(
        matches!(e, AdapterError::Rejected(ref m) if m.contains("81058")),
        "{e:?}"
    );
    assert_eq!(
        owners(&a, &[owner]).await,
        before,
        "none of the batch was applied"
    );
    assert!(owners(&a, &["cf-fault-dup.cf.example."]).await.is_empty());

    // A wrong token.
    let e = adapter(&url, "wrong-token-77", 2000, 100)
        .read(ZONE, &ReadFilter::All)
        .await
        .expect_err("403");
    assert!(matches!(e, AdapterError::Unauthorized(_)), "{e:?}");
    no_token(&e, "wrong-token-77");

    // A failed precondition.
    let e = a
        .apply(&ChangeSet {
            zone: ZONE.into(),
            changes: vec![RRsetChange {
                expect: Expect::Exactly(vec!["192.0.2.250".into()]),
                ..replace(owner, "A", &["192.0.2.60"])
            }],
        })
        .await
        .expect_err("stale");
    assert!(matches!(e, AdapterError::PreconditionFailed { .. }), "{e:?}");
    assert_eq!(owners(&a, &[owner]).await, before);

    // The contract test: the official SDK against the same fake.
    let Ok(python) = std::env::var("CF_SDK_PYTHON") else {
        assert!(
            std::env::var("DCGW_REQUIRE_CLOUDFLARE").as_deref() != Ok("1"),
            "CF_SDK_PYTHON is not set"
        );
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fake/test_sdk_contract.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .env("CF_API_URL", &url)
        .env("CF_API_TOKEN", &token)
        .output()
        .expect("run the SDK contract test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SDK contract OK"), "{text}");
}
