//! Black-box test support: the gateway spawned on port 0 with its own data directory.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dc_gateway::adapter::{Adapter, AdapterError, Capabilities, ChangeSet, RRset, ReadFilter};
use dc_gateway::backends::{Backend, Router};

use dc_gateway::config::Config;
use dc_gateway::http::{self, AppState};
use dc_gateway::server;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running gateway.
pub struct TestApp {
    pub base: String,
    pub state: Arc<AppState>,
    pub data: tempfile::TempDir,
    pub handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    /// Starts the gateway on the embedded default with `overrides` (TOML) layered on top.
    /// Relative template and seed paths resolve against the repository.
    pub async fn spawn(overrides: &str) -> TestApp {
        Self::spawn_with(overrides, |r| r).await
    }

    /// As [`TestApp::spawn`], with the backends passed through `wrap` first.
    pub async fn spawn_with(
        overrides: &str,
        wrap: impl FnOnce(dc_gateway::backends::Router) -> dc_gateway::backends::Router,
    ) -> TestApp {
        let data = tempfile::tempdir().expect("tempdir");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let repo = repo();
        let toml = format!(
            "[server]\npublic_url = \"{base}\"\ndata_dir = \"{}\"\nlisten = \"127.0.0.1:{port}\"\n\
             [templates]\ndir = \"{}\"\nreload_secs = 0\n",
            data.path().display(),
            repo.join("templates").display(),
        );
        let mut config = Config::from_toml_layers(&[&toml, overrides]).expect("config");
        for b in &mut config.backends {
            if let dc_gateway::config::BackendKind::Zonefile { seed, .. } = &mut b.kind {
                for s in seed.iter_mut() {
                    if s.is_relative() {
                        *s = repo.join(&*s);
                    }
                }
            }
        }
        let config = Arc::new(config);
        let router = wrap(server::build_router(&config).expect("backends"));
        let templates = server::load_templates(&config).expect("templates");
        let store = dc_gateway::store::Store::open(&config.database_url())
            .await
            .expect("store");
        let state = Arc::new(AppState::new(config, router, templates, store).expect("state"));
        let srv = http::serve(state.clone(), listener).expect("serve");
        let handle = srv.handle();
        tokio::spawn(srv);
        TestApp {
            base,
            state,
            data,
            handle,
        }
    }

    /// Starts the metrics server on a port of its own; returns its base URL.
    pub fn spawn_metrics(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let srv = http::serve_metrics(self.state.clone(), listener).expect("serve metrics");
        tokio::spawn(srv);
        format!("http://127.0.0.1:{port}")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client that keeps cookies and does not follow redirects.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// The demo zone file as it is on disk now.
    pub fn zone_text(&self, zone: &str) -> String {
        std::fs::read_to_string(self.data.path().join("zones").join(format!("{zone}.zone")))
            .expect("zone file")
    }
}

/// The hidden fields of a consent form (query, digest, csrf), unescaped.
pub fn consent_fields(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in ["query", "digest", "csrf"] {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html
            .find(&marker)
            .map(|i| i + marker.len())
            .expect("field present");
        let end = html[start..].find('"').expect("value ends") + start;
        let v = html[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&#x2F;", "/")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#x27;", "'");
        out.push((name.to_string(), v));
    }
    out
}

/// The consent form's fields with the decision to approve.
pub fn approve_form(html: &str) -> Vec<(String, String)> {
    let mut out = consent_fields(html);
    out.push(("decision".into(), "approve".into()));
    out
}

/// The demo website template's synchronous apply path.
pub const DEMO_APPLY: &str = "/v2/domainTemplates/providers/demo.dc-gateway.example/services/website/apply";

/// Signs the demo user in.
pub async fn login_demo(c: &reqwest::Client, app: &TestApp) {
    let r = c
        .post(app.url("/login"))
        .form(&[("username", "demo"), ("password", "demo"), ("next", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
}

/// The consent page of the demo website template for `zone`.
pub async fn demo_consent(c: &reqwest::Client, app: &TestApp, zone: &str, ip: &str, token: &str) -> String {
    let html = c
        .get(app.url(&format!("{DEMO_APPLY}?domain={zone}&ip={ip}&token={token}")))
        .send()
        .await
        .expect("consent")
        .text()
        .await
        .expect("body");
    assert!(html.contains(ip), "{zone}: {html}");
    html
}

/// Approves the consent page `html`; the answer as it comes.
pub async fn approve(c: &reqwest::Client, app: &TestApp, html: &str) -> reqwest::Response {
    c.post(app.url(DEMO_APPLY))
        .form(&approve_form(html))
        .send()
        .await
        .expect("approve")
}

/// A backend seen through a tap: the read filters it is asked for are kept in `reads`, and
/// while `fail` holds an error its writes fail with it instead of reaching the backend.
#[derive(Debug)]
pub struct Tap {
    pub inner: Arc<dyn Adapter>,
    pub reads: Arc<Mutex<Vec<ReadFilter>>>,
    pub fail: Arc<Mutex<Option<AdapterError>>>,
}

#[async_trait::async_trait]
impl Adapter for Tap {
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
        self.injected()?;
        self.inner.apply(changes).await
    }
    async fn apply_locked(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        self.injected()?;
        self.inner.apply_locked(changes).await
    }
}

impl Tap {
    /// The error writes fail with now, if any.
    fn injected(&self) -> Result<(), AdapterError> {
        match self.fail.lock().expect("fail").clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Every backend of `router` behind one shared [`Tap`].
pub fn tap_backends(
    router: Router,
    reads: &Arc<Mutex<Vec<ReadFilter>>>,
    fail: &Arc<Mutex<Option<AdapterError>>>,
) -> Router {
    Router::new(
        router
            .backends()
            .iter()
            .map(|b| Backend {
                adapter: Arc::new(Tap {
                    inner: b.adapter.clone(),
                    reads: reads.clone(),
                    fail: fail.clone(),
                }),
                ..b.clone()
            })
            .collect(),
    )
}
