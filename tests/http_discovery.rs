//! Discovery and the template-support query, black-box against a server on port 0.

mod common;

use common::TestApp;
use serde_json::Value;

#[tokio::test]
async fn settings_for_a_hosted_zone_and_404_for_others() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    let r = c
        .get(app.url("/v2/example.com/settings"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["providerId"], "dc-gateway.example");
    assert_eq!(body["urlAPI"], app.base);
    assert_eq!(body["urlSyncUX"], app.base);
    assert_eq!(body["width"], 750);
    assert_eq!(
        body["nameServers"],
        serde_json::json!(["ns1.example.com", "ns2.example.com"])
    );
    assert_eq!(body["urlAsyncUX"], app.base);

    // Case and a trailing dot do not matter; sub-domains and unknown zones are not hosted.
    assert_eq!(
        c.get(app.url("/v2/EXAMPLE.com./settings"))
            .send()
            .await
            .expect("send")
            .status(),
        200
    );
    for d in [
        "www.example.com",
        "example.org",
        "com",
        "..",
        "a%20b.com",
        "%2e%2e",
        "example.com%00",
    ] {
        let r = c
            .get(app.url(&format!("/v2/{d}/settings")))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 404, "{d}");
    }
}

#[tokio::test]
async fn template_query_answers_200_with_version_or_404() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    let r = c
        .get(app.url("/v2/domainTemplates/providers/demo.dc-gateway.example/services/website"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        serde_json::json!({"version": 1})
    );
    // Lookup is case-insensitive; unknown ids and traversal attempts are 404.
    let r = c
        .get(app.url("/v2/domainTemplates/providers/DEMO.dc-gateway.example/services/WebSite"))
        .send()
        .await;
    assert_eq!(r.expect("send").status(), 200);
    for p in [
        "nobody/services/website",
        "demo.dc-gateway.example/services/..%2F..%2Fetc",
        "../services/x",
    ] {
        let r = c
            .get(app.url(&format!("/v2/domainTemplates/providers/{p}")))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 404, "{p}");
    }
}

#[tokio::test]
async fn templates_reload_and_cached_answers_are_dropped() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    let url = app.url("/v2/domainTemplates/providers/demo.dc-gateway.example/services/website");
    assert_eq!(c.get(&url).send().await.expect("send").status(), 200);
    app.state
        .replace_templates(dc_gateway::templates::TemplateStore::new());
    assert_eq!(c.get(&url).send().await.expect("send").status(), 404);
}

#[tokio::test]
async fn templates_a_backend_cannot_apply_are_not_offered() {
    // APEXCNAME needs an apex alias, which the zone-file backend does not hold (POLICY.md 12).
    let dir = tempfile::tempdir().expect("tempdir");
    let t = serde_json::json!({
        "providerId": "alias.example", "providerName": "A", "serviceId": "apex", "serviceName": "Apex",
        "records": [{"type": "APEXCNAME", "pointsTo": "target.example.net", "ttl": 300}]
    });
    std::fs::write(dir.path().join("alias.example.apex.json"), t.to_string()).expect("write");
    let app = TestApp::spawn(&format!("[templates]\ndir = \"{}\"\n", dir.path().display())).await;
    let r = TestApp::client()
        .get(app.url("/v2/domainTemplates/providers/alias.example/services/apex"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn health_and_readiness_and_oversized_queries() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    assert_eq!(
        c.get(app.url("/healthz")).send().await.expect("send").status(),
        200
    );
    assert_eq!(
        c.get(app.url("/readyz")).send().await.expect("send").status(),
        200
    );
    let long = "a".repeat(20_000);
    let r = c
        .get(app.url(&format!("/v2/example.com/settings?x={long}")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
}
