//! What a failing backend does to an apply, through the synchronous flow: each adapter error
//! class gets its own answer (503 and "try again" for a transient failure or throttling, 502
//! for a refusal, a lack of rights or a partial write, never the backend's words), and
//! nothing is recorded: the zone file and the template state are as before. The failures are
//! injected by a wrapper around the real zone-file backend.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestApp, approve_form};
use dc_gateway::adapter::{Adapter, AdapterError, Capabilities, ChangeSet, RRset, ReadFilter};
use dc_gateway::backends::{Backend, Router};

/// The zone-file backend, whose writes fail with the error set in `fail`.
#[derive(Debug)]
struct Failing {
    inner: Arc<dyn Adapter>,
    fail: Arc<Mutex<Option<AdapterError>>>,
}

#[async_trait::async_trait]
impl Adapter for Failing {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }
    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError> {
        self.inner.find_zone(name).await
    }
    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError> {
        self.inner.read(zone, filter).await
    }
    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        let injected = self.fail.lock().expect("fail").clone();
        match injected {
            Some(e) => Err(e),
            None => self.inner.apply(changes).await,
        }
    }
}

#[tokio::test]
async fn each_backend_failure_has_its_answer_and_records_nothing() {
    let fail: Arc<Mutex<Option<AdapterError>>> = Arc::default();
    let f2 = fail.clone();
    let app = TestApp::spawn_with("", move |router: Router| {
        Router::new(
            router
                .backends()
                .iter()
                .map(|b| Backend {
                    adapter: Arc::new(Failing {
                        inner: b.adapter.clone(),
                        fail: f2.clone(),
                    }),
                    ..b.clone()
                })
                .collect(),
        )
    })
    .await;
    let c = TestApp::client();
    let r = c
        .post(app.url("/login"))
        .form(&[("username", "demo"), ("password", "demo"), ("next", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let before = app.zone_text("example.com");
    let apply = "/v2/domainTemplates/providers/demo.dc-gateway.example/services/website/apply";
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
        let html = c
            .get(app.url(&format!("{apply}?domain=example.com&ip=192.0.2.99&token=f1")))
            .send()
            .await
            .expect("consent")
            .text()
            .await
            .expect("body");
        let r = c
            .post(app.url(apply))
            .form(&approve_form(&html))
            .send()
            .await
            .expect("approve");
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
    let html = c
        .get(app.url(&format!("{apply}?domain=example.com&ip=192.0.2.99&token=f1")))
        .send()
        .await
        .expect("consent")
        .text()
        .await
        .expect("body");
    let r = c
        .post(app.url(apply))
        .form(&approve_form(&html))
        .send()
        .await
        .expect("approve");
    assert_eq!(r.status(), 200);
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
