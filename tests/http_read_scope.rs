//! An apply reads from the backend only the owners its plan needs (the template's owners,
//! their ancestors, recorded instances), never the whole zone: its cost does not grow with
//! the zone. Reads are recorded by a wrapper around the real zone-file backend.

mod common;

use std::sync::{Arc, Mutex};

use common::{TestApp, approve_form};
use dc_gateway::adapter::{Adapter, AdapterError, Capabilities, ChangeSet, RRset, ReadFilter};
use dc_gateway::backends::{Backend, Router};

#[derive(Debug)]
struct Recording {
    inner: Arc<dyn Adapter>,
    reads: Arc<Mutex<Vec<ReadFilter>>>,
}

#[async_trait::async_trait]
impl Adapter for Recording {
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
        self.reads.lock().expect("reads").push(filter.clone());
        self.inner.read(zone, filter).await
    }
    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        self.inner.apply(changes).await
    }
}

#[tokio::test]
async fn a_sync_apply_reads_only_the_owners_its_plan_needs() {
    let reads = Arc::new(Mutex::new(Vec::new()));
    let r2 = reads.clone();
    let app = TestApp::spawn_with("", move |router: Router| {
        Router::new(
            router
                .backends()
                .iter()
                .map(|b| Backend {
                    adapter: Arc::new(Recording {
                        inner: b.adapter.clone(),
                        reads: r2.clone(),
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
    let apply = "/v2/domainTemplates/providers/demo.dc-gateway.example/services/website/apply";
    let html = c
        .get(app.url(&format!("{apply}?domain=example.com&ip=192.0.2.77&token=t1")))
        .send()
        .await
        .expect("consent")
        .text()
        .await
        .expect("body");
    reads.lock().expect("reads").clear();
    let r = c
        .post(app.url(apply))
        .form(&approve_form(&html))
        .send()
        .await
        .expect("approve");
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
