//! The synchronous flow, black-box: login, consent, approve, cancel, CSRF, a zone changed
//! between consent and approval, hostile query strings. Each test says what the zone file
//! looks like afterwards.

mod common;

use common::TestApp;
use reqwest::{Client, StatusCode};

const APPLY: &str = "/v2/domainTemplates/providers/demo.dc-gateway.example/services/website/apply";

fn q(extra: &str) -> String {
    format!("{APPLY}?domain=example.com&ip=192.0.2.77&token=tok1{extra}")
}

async fn login(app: &TestApp, c: &Client, user: &str, password: &str) -> StatusCode {
    c.post(app.url("/login"))
        .form(&[("username", user), ("password", password), ("next", "/")])
        .send()
        .await
        .expect("login")
        .status()
}

async fn consent(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let r = c.get(app.url(path)).send().await.expect("get");
    (r.status(), r.text().await.expect("body"))
}

async fn decide(app: &TestApp, c: &Client, fields: &[(String, String)], decision: &str) -> reqwest::Response {
    let mut f: Vec<(String, String)> = fields.to_vec();
    f.push(("decision".into(), decision.into()));
    c.post(app.url(APPLY)).form(&f).send().await.expect("post")
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn login_consent_approve_redirects_with_state_and_writes_the_zone() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    let path = q("&redirect_uri=https%3A%2F%2Fdemo.dc-gateway.example%2Fdone%3Fa%3D1&state=s%201");

    // Not logged in: to the login page, coming back here afterwards.
    let r = c.get(app.url(&path)).send().await.expect("get");
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).starts_with("/login?next=%2Fv2%2FdomainTemplates"),
        "{}",
        location(&r)
    );
    assert_eq!(login(&app, &c, "demo", "wrong").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, &c, "nobody", "demo").await, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&app, &c, "demo", "demo").await, StatusCode::SEE_OTHER);

    let before = app.zone_text("example.com");
    let r = c.get(app.url(&path)).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(
        h.get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("frame-ancestors 'none'"))
    );
    assert_eq!(
        h.get("x-frame-options").and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    assert_eq!(
        h.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(
        h.get("referrer-policy").and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    let html = r.text().await.expect("body");
    assert!(html.contains("Connect Website and mail"), "{html}");
    assert!(html.contains("192.0.2.77"));
    assert!(
        html.contains("class=\"conflict\""),
        "the old apex A is a conflict"
    );
    assert!(
        html.contains("Check that you started this"),
        "unsigned requests carry a phishing warning"
    );
    assert_eq!(
        app.zone_text("example.com"),
        before,
        "showing the consent page changes nothing"
    );

    let fields = common::consent_fields(&html);
    let r = decide(&app, &c, &fields, "approve").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://demo.dc-gateway.example/done?a=1&state=s+1");
    let after = app.zone_text("example.com");
    assert!(after.contains("@            3600 IN A 192.0.2.77"), "{after}");
    assert!(!after.contains("IN A 192.0.2.1\n"), "{after}");
    assert!(
        after.contains("www          3600 IN CNAME example.com."),
        "{after}"
    );

    // A second submit of the same form writes nothing again.
    let r = decide(&app, &c, &fields, "approve").await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.zone_text("example.com"), after);
}

#[tokio::test]
async fn cancel_redirects_with_user_cancel_and_changes_nothing() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    login(&app, &c, "demo", "demo").await;
    let before = app.zone_text("example.com");
    let (status, html) = consent(
        &app,
        &c,
        &q("&redirect_uri=https%3A%2F%2Fdemo.dc-gateway.example%2F&state=abc"),
    )
    .await;
    assert_eq!(status, 200);
    let r = decide(&app, &c, &common::consent_fields(&html), "cancel").await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        "https://demo.dc-gateway.example/?error=access_denied&error_description=user_cancel&state=abc"
    );
    assert_eq!(app.zone_text("example.com"), before);
}

#[tokio::test]
async fn csrf_token_missing_or_wrong_changes_nothing() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    login(&app, &c, "demo", "demo").await;
    let before = app.zone_text("example.com");
    let (_, html) = consent(&app, &c, &q("")).await;
    let mut fields = common::consent_fields(&html);
    fields[2].1 = "forged".into();
    let r = decide(&app, &c, &fields, "approve").await;
    assert_eq!(r.status(), 403);
    fields.remove(2);
    let r = decide(&app, &c, &fields, "approve").await;
    assert_eq!(r.status(), 400, "a form without its token is refused");
    // Another session's token does not work either.
    let other = TestApp::client();
    login(&app, &other, "demo", "demo").await;
    let r = decide(&app, &other, &common::consent_fields(&html), "approve").await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.zone_text("example.com"), before);
}

#[tokio::test]
async fn a_zone_changed_after_consent_gets_a_fresh_consent_page() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    login(&app, &c, "demo", "demo").await;
    let (_, html) = consent(&app, &c, &q("")).await;
    let fields = common::consent_fields(&html);
    // Someone else edits the zone in between.
    let file = app.data.path().join("zones/example.com.zone");
    let edited = app
        .zone_text("example.com")
        .replace("www     IN A    192.0.2.1", "www     IN A    198.51.100.9");
    std::fs::write(&file, &edited).expect("edit");
    let r = decide(&app, &c, &fields, "approve").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    assert!(html.contains("changed since this page was shown"), "{html}");
    assert!(
        html.contains("198.51.100.9"),
        "the fresh page shows the zone as it is now"
    );
    assert_eq!(app.zone_text("example.com"), edited, "nothing was written");
}

#[tokio::test]
async fn without_an_allowed_redirect_the_flow_ends_on_a_closing_page() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    login(&app, &c, "demo", "demo").await;
    let r = c
        .get(app.url(&q("&redirect_uri=https%3A%2F%2Fevil.test%2Fsteal&state=x")))
        .send()
        .await
        .expect("get");
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        csp.contains("form-action 'self';") && !csp.contains("evil.test"),
        "{csp}"
    );
    let html = r.text().await.expect("body");
    let r = decide(&app, &c, &common::consent_fields(&html), "approve").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("body");
    assert!(body.contains("close.js"), "{body}");
    assert!(app.zone_text("example.com").contains("192.0.2.77"));
}

#[tokio::test]
async fn errors_redirect_with_error_when_allowed_and_never_change_the_zone() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    login(&app, &c, "demo", "demo").await;
    let before = app.zone_text("example.com");
    let redirect = "&redirect_uri=https%3A%2F%2Fdemo.dc-gateway.example%2Fcb&state=st";
    // Missing variable.
    let r = c
        .get(app.url(&format!("{APPLY}?domain=example.com&ip=192.0.2.7{redirect}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(
        loc.starts_with(
            "https://demo.dc-gateway.example/cb?error=invalid_request&error_description=missing+variable"
        ),
        "{loc}"
    );
    assert!(loc.ends_with("&state=st"), "{loc}");
    // A zone the user may not touch (not hosted here, or not theirs).
    let r = c
        .get(app.url(&format!(
            "{APPLY}?domain=example.org&ip=192.0.2.7&token=t{redirect}"
        )))
        .send()
        .await
        .expect("get");
    assert!(location(&r).contains("error=access_denied"), "{}", location(&r));
    // Bad values.
    let r = c
        .get(app.url(&format!(
            "{APPLY}?domain=example.com&ip=192.0.2.300&token=t{redirect}"
        )))
        .send()
        .await
        .expect("get");
    assert!(location(&r).contains("error=invalid_request"), "{}", location(&r));
    assert_eq!(app.zone_text("example.com"), before);
}

#[tokio::test]
async fn users_only_reach_their_own_zones() {
    let app = TestApp::spawn(
        "[[login.users]]\nusername = \"mallory\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$aFpeta16WjKm8HeKcs2M7Q$DR/PhvmGIQr7Gz2VaMna/Bl6hN7atuVl+mEkoDQKoNw\"\n",
    )
    .await;
    let c = TestApp::client();
    assert_eq!(login(&app, &c, "mallory", "demo").await, StatusCode::SEE_OTHER);
    let before = app.zone_text("example.com");
    let r = c.get(app.url(&q(""))).send().await.expect("get");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("Nothing was changed"));
    assert_eq!(app.zone_text("example.com"), before);
}

#[tokio::test]
async fn hostile_query_strings_get_a_clear_error() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    login(&app, &c, "demo", "demo").await;
    let before = app.zone_text("example.com");
    let cases = [
        (q("&ip=192.0.2.8"), 400),                         // duplicate parameter
        (q("&x=%ff%fe"), 400),                             // invalid UTF-8
        (format!("{APPLY}?host=www"), 400),                // no domain
        (q(&format!("&big={}", "a".repeat(20_000))), 400), // too long
        (
            "/v2/domainTemplates/providers/..%2F..%2Fetc/services/passwd/apply?domain=example.com"
                .to_string(),
            404,
        ),
        (
            "/v2/domainTemplates/providers/nobody/services/none/apply?domain=example.com".to_string(),
            404,
        ),
    ];
    for (path, want) in cases {
        let r = c.get(app.url(&path)).send().await.expect("get");
        assert_eq!(r.status().as_u16(), want, "{}", &path[..path.len().min(120)]);
        assert!(
            r.headers().get("location").is_none(),
            "no redirect for {}",
            &path[..path.len().min(120)]
        );
    }
    // CR/LF in redirect_uri or state never reach a header.
    let r = c
        .get(app.url(&q("&redirect_uri=https%3A%2F%2Fdemo.dc-gateway.example%2F%0d%0aSet-Cookie%3A%20x%3D1&state=a%0d%0ab&ip2=1")))
        .send()
        .await
        .expect("get");
    let html = r.text().await.expect("body");
    let fields = common::consent_fields(&html);
    let r = decide(&app, &c, &fields, "cancel").await;
    assert!(r.headers().get("set-cookie").is_none());
    let loc = location(&r);
    assert!(!loc.contains('\r') && !loc.contains('\n'), "{loc:?}");
    assert_eq!(app.zone_text("example.com"), before);
}

#[tokio::test]
async fn sync_block_templates_refuse_the_sync_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = serde_json::json!({
        "providerId": "blocked.example", "providerName": "B", "serviceId": "s", "serviceName": "S",
        "syncBlock": true, "syncRedirectDomain": "blocked.example",
        "records": [{"type": "TXT", "host": "@", "data": "x", "ttl": 300}]
    });
    std::fs::write(dir.path().join("blocked.example.s.json"), t.to_string()).expect("write");
    let app = TestApp::spawn(&format!("[templates]\ndir = \"{}\"\n", dir.path().display())).await;
    let c = TestApp::client();
    login(&app, &c, "demo", "demo").await;
    let r = c
        .get(app.url("/v2/domainTemplates/providers/blocked.example/services/s/apply?domain=example.com&redirect_uri=https%3A%2F%2Fblocked.example%2F"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("not available through the synchronous flow")
    );
}

#[tokio::test]
async fn applies_are_recorded_as_template_state_and_audited() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    login(&app, &c, "demo", "demo").await;
    for (ip, token) in [("192.0.2.77", "one"), ("192.0.2.78", "two")] {
        let (_, html) = consent(
            &app,
            &c,
            &format!("{APPLY}?domain=example.com&ip={ip}&token={token}"),
        )
        .await;
        let r = decide(&app, &c, &common::consent_fields(&html), "approve").await;
        assert_eq!(r.status(), 200, "no redirect_uri: the flow ends on a page");
    }
    // Re-applying the template on the same host replaced the earlier instance (POLICY.md 14).
    let instances = app
        .state
        .store
        .instances("example.com.")
        .await
        .expect("instances");
    assert_eq!(instances.len(), 1, "{instances:?}");
    let inst = &instances[0];
    assert_eq!(
        (
            inst.provider_id.as_str(),
            inst.service_id.as_str(),
            inst.host.as_str()
        ),
        ("demo.dc-gateway.example", "website", "")
    );
    assert!(inst.records.iter().any(|r| r.record.data == "192.0.2.78"));
    assert_eq!(
        inst.spf_terms.len(),
        1,
        "the SPF terms it merged are remembered for revert"
    );
    let zone = app.zone_text("example.com");
    assert!(
        zone.contains("\"demo-verification=two\"") && !zone.contains("demo-verification=one"),
        "{zone}"
    );
    let log = app
        .state
        .store
        .audit_log(Some("example.com."), 10)
        .await
        .expect("audit");
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|e| e.action == "apply" && e.actor == "user:demo"));
    assert_eq!(log[0].detail["flow"], "sync");
    assert_eq!(log[0].provider_id.as_deref(), Some("demo.dc-gateway.example"));
}

#[tokio::test]
async fn the_account_page_lists_services_and_disconnect_reverts_them() {
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    // Not logged in: to the login page.
    let r = c.get(app.url("/account")).send().await.expect("get");
    assert_eq!(r.status(), 303);
    login(&app, &c, "demo", "demo").await;
    let (_, html) = consent(&app, &c, &q("")).await;
    decide(&app, &c, &common::consent_fields(&html), "approve").await;
    let applied = app.zone_text("example.com");
    assert!(applied.contains("include:_spf.demo.dc-gateway.example"));

    let page = c
        .get(app.url("/account"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(page.contains("demo.dc-gateway.example / website"), "{page}");
    let id = app
        .state
        .store
        .instances("example.com.")
        .await
        .expect("instances")[0]
        .id
        .clone();
    let csrf_start = page.find("name=\"csrf\" value=\"").map(|i| i + 19).expect("csrf");
    let csrf = &page[csrf_start..csrf_start + page[csrf_start..].find('"').expect("end")];

    // A forged token changes nothing.
    let r = c
        .post(app.url("/account/disconnect"))
        .form(&[
            ("zone", "example.com"),
            ("instance", id.as_str()),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    assert_eq!(app.zone_text("example.com"), applied);

    let r = c
        .post(app.url("/account/disconnect"))
        .form(&[("zone", "example.com"), ("instance", id.as_str()), ("csrf", csrf)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("was disconnected"));
    let after = app.zone_text("example.com");
    // The template's records and SPF term are gone; what it replaced does not come back.
    assert!(
        !after.contains("192.0.2.77") && !after.contains("demo-verification") && !after.contains("CNAME"),
        "{after}"
    );
    assert!(after.contains("IN TXT \"v=spf1 mx -all\""), "{after}");
    assert!(
        after
            .lines()
            .any(|l| l.starts_with("mail ") && l.ends_with("IN A 192.0.2.25")),
        "{after}"
    );
    assert!(
        app.state
            .store
            .instances("example.com.")
            .await
            .expect("instances")
            .is_empty()
    );
    let log = app
        .state
        .store
        .audit_log(Some("example.com."), 10)
        .await
        .expect("audit");
    assert_eq!(log[0].action, "revert");
    assert_eq!(log[0].service_id.as_deref(), Some("website"));
}
