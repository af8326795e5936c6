//! An apply reads from the backend only the owners its plan needs (the template's owners,
//! their ancestors, recorded instances), never the whole zone: its cost does not grow with
//! the zone. Reads are recorded by a wrapper around the real zone-file backend.

mod common;

use std::sync::{Arc, Mutex};

use common::{TestApp, approve, demo_consent, login_demo, tap_backends};
use dc_gateway::adapter::ReadFilter;

#[tokio::test]
async fn a_sync_apply_reads_only_the_owners_its_plan_needs() {
    let reads = Arc::new(Mutex::new(Vec::new()));
    let fail = Arc::new(Mutex::new(None));
    let (r2, f2) = (reads.clone(), fail.clone());
    let app = TestApp::spawn_with("", move |router| tap_backends(router, &r2, &f2)).await;
    let c = TestApp::client();
    login_demo(&c, &app).await;
    let html = demo_consent(&c, &app, "example.com", "192.0.2.77", "t1").await;
    reads.lock().expect("reads").clear();
    let r = approve(&c, &app, &html).await;
    assert_eq!(r.status(), 200);
    let zone = app.zone_text("example.com");
    assert!(
        zone.contains("192.0.2.77") && zone.contains("demo-verification=t1"),
        "{zone}"
    );

    let seen = reads.lock().expect("reads").clone();
    assert!(!seen.is_empty(), "the approval read the zone");
    for f in &seen {
        let ReadFilter::Names(names) = f else {
            panic!("an apply read the whole zone: {seen:?}");
        };
        let mut names = names.clone();
        names.sort();
        assert_eq!(
            names,
            ["_demo-verify.example.com.", "example.com.", "www.example.com."],
            "the template's owners (the apex is every owner's ancestor); never mail, ns1 or ns2"
        );
    }
}
