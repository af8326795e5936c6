//! What a failing backend does to an apply, through the synchronous flow: each adapter error
//! class gets its own answer (503 and "try again" for a transient failure or throttling, 502
//! for a refusal, a lack of rights or a partial write, never the backend's words), and
//! nothing is recorded: the zone file and the template state are as before. The failures are
//! injected by a tap on the real zone-file backend (tests/common).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestApp, approve, demo_consent, login_demo, tap_backends};
use dc_gateway::adapter::AdapterError;

#[tokio::test]
async fn each_backend_failure_has_its_answer_and_records_nothing() {
    let fail: Arc<Mutex<Option<AdapterError>>> = Arc::default();
    let reads = Arc::default();
    let f2 = fail.clone();
    let app = TestApp::spawn_with("", move |router| tap_backends(router, &reads, &f2)).await;
    let c = TestApp::client();
    login_demo(&c, &app).await;
    let before = app.zone_text("example.com");
    let secret_detail = "pdns-at-10.0.0.7 said: key dcgw-secret-0123 refused";
    for (error, status, says) in [
        (
            AdapterError::Transient(secret_detail.into()),
            503,
            "try again later",
        ),
        (
            AdapterError::Throttled {
                retry_after: Some(Duration::from_secs(2)),
            },
            503,
            "try again later",
        ),
        (
            AdapterError::Rejected(secret_detail.into()),
            502,
            "refused the change",
        ),
        (
            AdapterError::Unauthorized(secret_detail.into()),
            502,
            "cannot be written to",
        ),
        (
            AdapterError::PartiallyApplied {
                applied: 1,
                total: 3,
                cause: secret_detail.into(),
            },
            502,
            "only part of the change",
        ),
    ] {
        let class = error.class();
        *fail.lock().expect("fail") = Some(error);
        let html = demo_consent(&c, &app, "example.com", "192.0.2.99", "f1").await;
        let r = approve(&c, &app, &html).await;
        assert_eq!(r.status().as_u16(), status, "{class}");
        let page = r.text().await.expect("page");
        assert!(page.contains(says), "{class}: {page}");
        assert!(
            !page.contains("10.0.0.7") && !page.contains("dcgw-secret"),
            "{class}: the backend's words stay in the log"
        );
        assert_eq!(
            app.zone_text("example.com"),
            before,
            "{class}: the zone is unchanged"
        );
        assert!(
            app.state
                .store
                .instances("example.com.")
                .await
                .expect("state")
                .is_empty(),
            "{class}: no template state recorded"
        );
    }
    // The same backend working again: the apply lands.
    *fail.lock().expect("fail") = None;
    let html = demo_consent(&c, &app, "example.com", "192.0.2.99", "f1").await;
    assert_eq!(approve(&c, &app, &html).await.status(), 200);
    assert!(app.zone_text("example.com").contains("192.0.2.99"));
    assert_eq!(
        app.state
            .store
            .instances("example.com.")
            .await
            .expect("state")
            .len(),
        1
    );
}
