//! Faults against a real PowerDNS (PDNS_API_URL, PDNS_API_KEY; zone testkit.example.): the
//! server unreachable, too slow, answering 5xx, refusing part of a change set, a wrong key, a
//! failed precondition. Each gives a typed error, and reading the zone back from the real
//! server shows it unchanged. The API key never appears in an error.

use std::time::Duration;

use dcgw_adapter::{Adapter, AdapterError, ChangeSet, Expect, RRset, RRsetChange, ReadFilter};
use dcgw_powerdns::{PowerDnsAdapter, PowerDnsOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ZONE: &str = "testkit.example.";

fn live() -> Option<(String, String)> {
    match (std::env::var("PDNS_API_URL"), std::env::var("PDNS_API_KEY")) {
        (Ok(u), Ok(k)) => Some((u, k)),
        _ => {
            assert!(
                std::env::var("DCGW_REQUIRE_PDNS").as_deref() != Ok("1"),
                "DCGW_REQUIRE_PDNS=1 but PDNS_API_URL/PDNS_API_KEY are not set"
            );
            eprintln!("skipped: no PowerDNS (PDNS_API_URL)");
            None
        }
    }
}

fn adapter(url: &str, key: &str, timeout_ms: u64) -> PowerDnsAdapter {
    let mut o = PowerDnsOptions::new(url, key);
    o.timeout = Duration::from_millis(timeout_ms);
    PowerDnsAdapter::new(o).expect("adapter")
}

fn set(name: &str, rtype: &str, data: &[&str]) -> RRset {
    RRset::new(name, rtype, 300, data.iter().map(|d| d.to_string()).collect())
}

fn replace(name: &str, rtype: &str, data: &[&str]) -> RRsetChange {
    RRsetChange {
        name: name.into(),
        rtype: rtype.into(),
        expect: Expect::Any,
        new: Some(set(name, rtype, data)),
    }
}

fn delete(name: &str, rtype: &str) -> RRsetChange {
    RRsetChange {
        name: name.into(),
        rtype: rtype.into(),
        expect: Expect::Any,
        new: None,
    }
}

async fn names(a: &PowerDnsAdapter, owners: &[&str]) -> Vec<RRset> {
    let mut v = a
        .read(
            ZONE,
            &ReadFilter::Names(owners.iter().map(|s| s.to_string()).collect()),
        )
        .await
        .expect("read back");
    v.sort_by(|x, y| (&x.name, &x.rtype).cmp(&(&y.name, &y.rtype)));
    v
}

/// An HTTP server on 127.0.0.1 that answers every request with `status` after `delay` (or
/// never, with `delay` None). Returns its base URL.
async fn stub(status: u16, delay: Option<Duration>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                match delay {
                    None => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Some(d) => {
                        tokio::time::sleep(d).await;
                        let body = r#"{"error": "Internal Server Error"}"#;
                        let resp = format!(
                            "HTTP/1.1 {status} Oops\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.write_all(resp.as_bytes()).await;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn assert_no_key(e: &AdapterError, key: &str) {
    assert!(!e.to_string().contains(key), "{e}");
    assert!(!format!("{e:?}").contains(key), "{e:?}");
}

#[tokio::test]
async fn unreachable_slow_and_failing_servers_are_transient_and_change_nothing() {
    let Some((url, key)) = live() else { return };
    let real = adapter(&url, &key, 10_000);
    let owner = "tk-fault.testkit.example.";
    real.apply(&ChangeSet {
        zone: ZONE.into(),
        changes: vec![replace(owner, "A", &["192.0.2.1"])],
    })
    .await
    .expect("seed");
    let before = names(&real, &[owner]).await;
    let change = ChangeSet {
        zone: ZONE.into(),
        changes: vec![replace(owner, "A", &["192.0.2.99"])],
    };

    // Stopped: nothing listens on the port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        drop(l);
        format!("http://{a}")
    };
    let e = adapter(&closed, &key, 2000)
        .apply(&change)
        .await
        .expect_err("refused");
    assert!(matches!(e, AdapterError::Transient(_)), "{e:?}");
    assert_no_key(&e, &key);
    let e = adapter(&closed, &key, 2000)
        .find_zone(owner)
        .await
        .expect_err("refused");
    assert!(matches!(e, AdapterError::Transient(_)), "{e:?}");

    // Slow: accepts and never answers.
    let slow = stub(200, None).await;
    let e = adapter(&slow, &key, 300)
        .apply(&change)
        .await
        .expect_err("timeout");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("timed out")),
        "{e:?}"
    );
    assert_no_key(&e, &key);

    // 5xx.
    let broken = stub(500, Some(Duration::ZERO)).await;
    let e = adapter(&broken, &key, 2000)
        .read(ZONE, &ReadFilter::All)
        .await
        .expect_err("500");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("500")),
        "{e:?}"
    );
    assert_no_key(&e, &key);

    assert_eq!(names(&real, &[owner]).await, before, "the zone is unchanged");
}

#[tokio::test]
async fn a_change_set_refused_halfway_leaves_the_zone_unchanged() {
    let Some((url, key)) = live() else { return };
    let a = adapter(&url, &key, 10_000);
    let (first, second) = ("tk-half-a.testkit.example.", "tk-half-b.testkit.example.");
    a.apply(&ChangeSet {
        zone: ZONE.into(),
        changes: vec![
            delete(first, "A"),
            replace(second, "A", &["192.0.2.7"]),
            delete(second, "CNAME"),
        ],
    })
    .await
    .expect("clean");
    let before = names(&a, &[first, second]).await;
    // The first change is fine; the last puts a CNAME beside the A record: PowerDNS refuses
    // it, and with it the whole PATCH.
    let e = a
        .apply(&ChangeSet {
            zone: ZONE.into(),
            changes: vec![
                replace(first, "A", &["192.0.2.8"]),
                replace(second, "CNAME", &["elsewhere.example."]),
            ],
        })
        .await
        .expect_err("refused");
    assert!(
        matches!(e, AdapterError::Rejected(ref m) if m.contains("Conflicts")),
        "{e:?}"
    );
    assert_eq!(
        names(&a, &[first, second]).await,
        before,
        "none of the change set was applied"
    );
    assert!(names(&a, &[first]).await.is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_and_never_printed() {
    let Some((url, key)) = live() else { return };
    let wrong = "wrong-key-0123456789";
    let e = adapter(&url, wrong, 5000)
        .read(ZONE, &ReadFilter::All)
        .await
        .expect_err("401");
    assert!(matches!(e, AdapterError::Unauthorized(_)), "{e:?}");
    assert_no_key(&e, wrong);
    assert_no_key(&e, &key);
}

#[tokio::test]
async fn a_failed_precondition_changes_nothing() {
    let Some((url, key)) = live() else { return };
    let a = adapter(&url, &key, 10_000);
    let owner = "tk-pre.testkit.example.";
    a.apply(&ChangeSet {
        zone: ZONE.into(),
        changes: vec![replace(owner, "TXT", &["\"current\""])],
    })
    .await
    .expect("seed");
    let before = names(&a, &[owner]).await;
    let e = a
        .apply(&ChangeSet {
            zone: ZONE.into(),
            changes: vec![
                replace("tk-pre-other.testkit.example.", "A", &["192.0.2.9"]),
                RRsetChange {
                    name: owner.into(),
                    rtype: "TXT".into(),
                    expect: Expect::Exactly(vec!["\"stale\"".into()]),
                    new: Some(set(owner, "TXT", &["\"new\""])),
                },
            ],
        })
        .await
        .expect_err("stale");
    assert!(matches!(e, AdapterError::PreconditionFailed { .. }), "{e:?}");
    assert_eq!(names(&a, &[owner]).await, before);
    assert!(names(&a, &["tk-pre-other.testkit.example."]).await.is_empty());
    let e = a
        .find_zone("no-such-zone.invalid.")
        .await
        .expect("a name in no zone is not an error");
    assert_eq!(e, None);
    assert_eq!(
        a.find_zone("deep.tk-pre.testkit.example.")
            .await
            .expect("zone")
            .as_deref(),
        Some(ZONE)
    );
}

#[tokio::test]
async fn apply_locked_trusts_the_callers_lock_and_apply_does_not() {
    let Some((url, key)) = live() else { return };
    let a = adapter(&url, &key, 10_000);
    let owner = "tk-locked.testkit.example.";
    a.apply(&ChangeSet {
        zone: ZONE.into(),
        changes: vec![replace(owner, "TXT", &["\"now\""])],
    })
    .await
    .expect("seed");
    let stale = ChangeSet {
        zone: ZONE.into(),
        changes: vec![RRsetChange {
            name: owner.into(),
            rtype: "TXT".into(),
            expect: Expect::Exactly(vec!["\"read long ago\"".into()]),
            new: Some(set(owner, "TXT", &["\"next\""])),
        }],
    };
    // apply reads again under its lock and sees the precondition fail...
    let e = a.apply(&stale).await.expect_err("stale");
    assert!(matches!(e, AdapterError::PreconditionFailed { .. }), "{e:?}");
    assert_eq!(names(&a, &[owner]).await[0].data, vec!["\"now\"".to_string()]);
    // ...apply_locked relies on the caller's read under the caller's lock: one PATCH, no read.
    a.apply_locked(&stale).await.expect("written");
    assert_eq!(names(&a, &[owner]).await[0].data, vec!["\"next\"".to_string()]);
    a.apply(&ChangeSet {
        zone: ZONE.into(),
        changes: vec![delete(owner, "TXT")],
    })
    .await
    .expect("clean");
}
