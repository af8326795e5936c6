//! One real browser through the synchronous flow: headless Chromium (driven over W3C WebDriver
//! by chromedriver, started by scripts/services/chromium.sh) opens an apply URL, signs in on
//! the login page, reads the consent page (a screenshot is kept), clicks Approve and lands on
//! the Service Provider's redirect with `state`; the zone is checked afterwards.
//!
//! Skipped when WEBDRIVER_URL is not set, unless DCGW_REQUIRE_BROWSER is.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use common::TestApp;
use serde_json::{Value, json};

/// A minimal W3C WebDriver session (the few commands this test needs).
struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn start(webdriver: &str, chromium: &str) -> Browser {
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=600,700"]
        }}}});
        let v: Value = http
            .post(format!("{webdriver}/session"))
            .json(&caps)
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("session json");
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"));
        Browser {
            http,
            session: format!("{webdriver}/session/{id}"),
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.expect("webdriver").json().await.expect("json");
        assert!(v["value"].get("error").is_none(), "webdriver {path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("element {css}: {v}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn text(&self) -> String {
        let body = self.find("body").await;
        self.cmd(reqwest::Method::GET, &format!("/element/{body}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 png"))
            .expect("png")
    }

    /// Waits until the current URL starts with `prefix`.
    async fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let u = self.url().await;
            if u.starts_with(prefix) {
                return u;
            }
            assert!(Instant::now() < deadline, "still at {u}, waiting for {prefix}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_consent_approve_redirect_in_chromium() {
    let Ok(webdriver) = std::env::var("WEBDRIVER_URL") else {
        assert!(
            std::env::var_os("DCGW_REQUIRE_BROWSER").is_none(),
            "DCGW_REQUIRE_BROWSER is set but WEBDRIVER_URL is not"
        );
        eprintln!("skipped: no chromedriver (WEBDRIVER_URL)");
        return;
    };
    let chromium = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());

    // A template whose redirect domain is the test's own address, so the browser really
    // arrives somewhere after Approve: the gateway's /healthz stands in for the SP's page.
    let dir = tempfile::tempdir().expect("tempdir");
    let t = json!({
        "providerId": "browser.example", "providerName": "Browser SP",
        "serviceId": "site", "serviceName": "Website",
        "syncRedirectDomain": "127.0.0.1",
        "records": [
            {"type": "A", "host": "@", "pointsTo": "%ip%", "ttl": 600},
            {"type": "TXT", "host": "_browser", "data": "browser-verification=%token%", "ttl": 600}
        ]
    });
    std::fs::write(dir.path().join("browser.example.site.json"), t.to_string()).expect("template");
    let app = TestApp::spawn(&format!("[templates]\ndir = \"{}\"\n", dir.path().display())).await;
    let before = app.zone_text("example.com");
    assert!(before.contains("192.0.2.1"), "the demo zone's apex A: {before}");

    let back = app.url("/healthz");
    let apply = app.url(&format!(
        "/v2/domainTemplates/providers/browser.example/services/site/apply?domain=example.com\
         &ip=192.0.2.77&token=from-chromium&state=st-42&redirect_uri={}",
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    ));

    let b = Browser::start(&webdriver, &chromium).await;
    b.goto(&apply).await;
    // Not signed in: the login page, which returns to the apply URL afterwards.
    b.wait_for_url(&app.url("/login")).await;
    b.type_into("#username", "demo").await;
    b.type_into("#password", "demo").await;
    b.click("button[type=submit]").await;
    b.wait_for_url(&app.url("/v2/domainTemplates/providers/browser.example/services/site/apply"))
        .await;

    let text = b.text().await;
    for expected in [
        "Browser SP",
        "example.com",
        "192.0.2.77",
        "browser-verification=from-chromium",
        "Approve",
        "Cancel",
    ] {
        assert!(text.contains(expected), "consent page lacks {expected:?}: {text}");
    }
    assert!(
        text.contains("192.0.2.1"),
        "the apex A that will be replaced is shown: {text}"
    );
    let png = b.screenshot().await;
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "a real screenshot"
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&shots).expect("screenshots dir");
    let shot = shots.join("consent.png");
    std::fs::write(&shot, &png).expect("screenshot");
    println!("consent page screenshot: {}", shot.display());
    assert_eq!(
        app.zone_text("example.com"),
        before,
        "showing the consent page changes nothing"
    );

    b.click("button[value=approve]").await;
    let landed = b.wait_for_url(&back).await;
    assert_eq!(landed, format!("{back}?state=st-42"));
    b.quit().await;

    let after = app.zone_text("example.com");
    assert!(after.contains("192.0.2.77"), "{after}");
    assert!(
        after.contains("\"browser-verification=from-chromium\""),
        "{after}"
    );
    let records = dcgw_zonefile::master::parse(&after, "example.com.").expect("zone parses");
    let apex_a: Vec<&str> = records
        .iter()
        .filter(|r| r.name == "example.com." && r.rtype == "A")
        .map(|r| r.data.as_str())
        .collect();
    assert_eq!(apex_a, ["192.0.2.77"], "the old apex A is replaced: {after}");
}
