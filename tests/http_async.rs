//! The asynchronous flow, black-box: consent, code, token, apply (409 without force, 200
//! with it), refresh, revert (200, then 410), and bad codes and tokens, each refused with the
//! right status and no change to the zone.

mod common;

use common::TestApp;
use dc_gateway::store::grants::pkce_s256;
use dc_gateway::store::oauth::Client;
use reqwest::StatusCode;
use serde_json::Value;

const PID: &str = "demo.dc-gateway.example";
const CB: &str = "https://demo.dc-gateway.example/oauth/cb";
const VERIFIER: &str = "verifier-with-enough-entropy-0123456789-abcdefghijklmnop";

async fn register(app: &TestApp, require_pkce: bool) -> String {
    let secret = dc_gateway::store::oauth::new_secret();
    let c = Client {
        client_id: PID.into(),
        redirect_uris: vec![CB.into()],
        require_pkce,
        access_ttl: 3600,
        refresh_ttl: 86400,
        created_at: 0,
    };
    app.state
        .store
        .add_client(&c, &secret, std::time::SystemTime::now())
        .await
        .expect("client");
    secret
}

async fn login(app: &TestApp, c: &reqwest::Client) {
    let r = c
        .post(app.url("/login"))
        .form(&[("username", "demo"), ("password", "demo"), ("next", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).expect("field");
    let end = html[start..].find('"').expect("end") + start;
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Consent through the UI; returns the code.
async fn consent(app: &TestApp, c: &reqwest::Client, extra: &str) -> String {
    let path = format!(
        "/v2/domainTemplates/providers/{PID}?client_id={PID}&redirect_uri={}&scope=website&domain=example.com&host=&state=s1&response_type=code{extra}",
        urlencode(CB)
    );
    let r = c.get(app.url(&path)).send().await.expect("consent");
    assert_eq!(r.status(), 200, "{}", location(&r));
    let html = r.text().await.expect("body");
    assert!(
        html.contains("Allow dc-gateway demo") || html.contains("Allow "),
        "{html}"
    );
    assert!(html.contains("Website and mail"));
    let form = [
        ("query", hidden(&html, "query")),
        ("csrf", hidden(&html, "csrf")),
        ("decision", "approve".into()),
    ];
    let r = c
        .post(app.url(&format!("/v2/domainTemplates/providers/{PID}")))
        .form(&form)
        .send()
        .await
        .expect("allow");
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(loc.starts_with(CB), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
    query_param(&loc, "code").expect("code")
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The token request as the PyPI client sends it: code and grant_type in the query, client
/// credentials in a JSON body.
async fn token(app: &TestApp, code: &str, secret: &str, verifier: Option<&str>) -> reqwest::Response {
    let mut q = format!(
        "code={}&grant_type=authorization_code&redirect_uri={}",
        urlencode(code),
        urlencode(CB)
    );
    if let Some(v) = verifier {
        q.push_str(&format!("&code_verifier={v}"));
    }
    reqwest::Client::new()
        .post(app.url(&format!("/v2/oauth/access_token?{q}")))
        .json(&serde_json::json!({"client_id": PID, "client_secret": secret}))
        .send()
        .await
        .expect("token")
}

async fn apply(app: &TestApp, access: &str, q: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(&format!(
            "/v2/domainTemplates/providers/{PID}/services/website/apply?{q}"
        )))
        .bearer_auth(access)
        .send()
        .await
        .expect("apply")
}

async fn revert(app: &TestApp, access: &str, q: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url(&format!(
            "/v2/domainTemplates/providers/{PID}/services/website/revert?{q}"
        )))
        .bearer_auth(access)
        .send()
        .await
        .expect("revert")
}

#[tokio::test]
async fn consent_token_apply_conflict_force_refresh_and_revert() {
    let app = TestApp::spawn("").await;
    let secret = register(&app, false).await;
    let c = TestApp::client();
    login(&app, &c).await;
    let code = consent(&app, &c, "").await;

    let r = token(&app, &code, &secret, None).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.expect("json");
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 3600);
    let access = t["access_token"].as_str().expect("access").to_string();
    let refresh = t["refresh_token"].as_str().expect("refresh").to_string();

    let before = app.zone_text("example.com");
    let q = "domain=example.com&host=&ip=192.0.2.90&token=async1";
    let r = apply(&app, &access, &format!("{q}&force=false")).await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.expect("409 is JSON");
    assert_eq!(body["code"], "409");
    let recs = body["records"].as_array().expect("records");
    assert!(
        recs.iter()
            .any(|r| r["type"] == "A" && r["host"] == "@" && r["data"] == "192.0.2.1"),
        "{body}"
    );
    assert!(
        recs.iter().any(|r| r["type"] == "A" && r["host"] == "www"),
        "{body}"
    );
    assert_eq!(app.zone_text("example.com"), before, "a 409 changes nothing");

    let r = apply(&app, &access, &format!("{q}&force=true")).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("200 is JSON");
    assert_eq!(body["status"], "applied");
    let applied = app.zone_text("example.com");
    assert!(
        applied.contains("IN A 192.0.2.90") && applied.contains("demo-verification=async1"),
        "{applied}"
    );

    // Refresh: a new pair; the old refresh token is spent.
    let r = reqwest::Client::new()
        .post(app.url(&format!(
            "/v2/oauth/access_token?client_id={PID}&client_secret={secret}&grant_type=refresh_token&redirect_uri={}&refresh_token={refresh}",
            urlencode(CB)
        )))
        .json(&serde_json::json!({"client_id": PID, "client_secret": secret}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(r.status(), 200);
    let t2: Value = r.json().await.expect("json");
    let access2 = t2["access_token"].as_str().expect("access").to_string();
    assert_ne!(access2, access);

    let r = revert(&app, &access2, "domain=example.com&host=").await;
    assert_eq!(r.status(), 200);
    let reverted = app.zone_text("example.com");
    assert!(
        !reverted.contains("192.0.2.90") && !reverted.contains("demo-verification"),
        "{reverted}"
    );
    assert!(
        reverted.contains("\"v=spf1 mx -all\""),
        "the SPF term is taken out again: {reverted}"
    );
    let r = revert(&app, &access2, "domain=example.com&host=").await;
    assert_eq!(r.status(), 410);
    assert_eq!(app.zone_text("example.com"), reverted);

    let log = app.state.store.audit_log(None, 20).await.expect("audit");
    let actions: Vec<&str> = log.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["consent", "token", "apply", "token_refresh", "revert"]
    );
    assert!(log[0].actor.starts_with(&format!("client:{PID} for user:demo")));
}

#[tokio::test]
async fn bad_codes_tokens_and_scopes_are_refused_and_change_nothing() {
    let app = TestApp::spawn("").await;
    let secret = register(&app, true).await;
    let c = TestApp::client();
    login(&app, &c).await;
    let before = app.zone_text("example.com");

    // PKCE required: a consent without a challenge is sent back with an error.
    let path = format!(
        "/v2/domainTemplates/providers/{PID}?client_id={PID}&redirect_uri={}&scope=website&domain=example.com&state=x",
        urlencode(CB)
    );
    let r = c.get(app.url(&path)).send().await.expect("consent");
    assert_eq!(r.status(), 303);
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    // A redirect URI that is not registered never gets a redirect.
    let path = format!(
        "/v2/domainTemplates/providers/{PID}?client_id={PID}&redirect_uri={}&scope=website&domain=example.com",
        urlencode("https://evil.test/cb")
    );
    let r = c.get(app.url(&path)).send().await.expect("consent");
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // Unknown scope.
    let path = format!(
        "/v2/domainTemplates/providers/{PID}?client_id={PID}&redirect_uri={}&scope=nothing&domain=example.com&code_challenge={}",
        urlencode(CB),
        pkce_s256(VERIFIER)
    );
    let r = c.get(app.url(&path)).send().await.expect("consent");
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_scope")
    );

    let code = consent(
        &app,
        &c,
        &format!(
            "&code_challenge={}&code_challenge_method=S256",
            pkce_s256(VERIFIER)
        ),
    )
    .await;
    // Wrong secret, missing verifier, wrong verifier: refused; the code is then spent.
    assert_eq!(
        token(&app, &code, "wrong-secret", Some(VERIFIER)).await.status(),
        400
    );
    let r = token(&app, &code, &secret, None).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.expect("json")["error"], "invalid_grant");
    let code = consent(
        &app,
        &c,
        &format!(
            "&code_challenge={}&code_challenge_method=S256",
            pkce_s256(VERIFIER)
        ),
    )
    .await;
    let r = token(&app, &code, &secret, Some(VERIFIER)).await;
    assert_eq!(r.status(), 200);
    let access = r.json::<Value>().await.expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    // The same code again: refused, and the grant behind it is revoked.
    assert_eq!(token(&app, &code, &secret, Some(VERIFIER)).await.status(), 400);
    let r = apply(&app, &access, "domain=example.com&ip=192.0.2.5&token=t&force=1").await;
    assert_eq!(r.status(), 401, "the token died with its grant");
    assert!(r.headers().get("www-authenticate").is_some());

    let code = consent(&app, &c, &format!("&code_challenge={}", pkce_s256(VERIFIER))).await;
    let access = token(&app, &code, &secret, Some(VERIFIER))
        .await
        .json::<Value>()
        .await
        .expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let cases = [
        ("domain=example.org&ip=192.0.2.5&token=t&force=1", 403), // another domain
        ("domain=example.com&host=shop&ip=192.0.2.5&token=t&force=1", 403), // a host not granted
        ("domain=example.com&ip=192.0.2.5&token=t&force=maybe", 400), // bad force
        ("domain=example.com&ip=192.0.2.5&force=1", 400),         // missing variable
        (
            "domain=example.com&ip=192.0.2.5&token=t&force=1&instanceId=x",
            400,
        ), // not multiInstance
    ];
    for (q, want) in cases {
        assert_eq!(apply(&app, &access, q).await.status().as_u16(), want, "{q}");
    }
    let r = reqwest::Client::new()
        .post(
            app.url("/v2/domainTemplates/providers/other.example/services/website/apply?domain=example.com"),
        )
        .bearer_auth(&access)
        .send()
        .await
        .expect("apply");
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a token for another provider");
    assert_eq!(
        apply(&app, "not-a-token", "domain=example.com").await.status(),
        401
    );
    let huge = "a".repeat(100 * 1024);
    let r = reqwest::Client::new()
        .post(app.url(&format!(
            "/v2/domainTemplates/providers/{PID}/services/website/apply?domain=example.com"
        )))
        .bearer_auth(&access)
        .header("content-type", "application/json")
        .body(format!("{{\"x\":\"{huge}\"}}"))
        .send()
        .await
        .expect("apply");
    assert_eq!(r.status(), 413, "oversized bodies are refused");
    assert_eq!(app.zone_text("example.com"), before);
}

#[tokio::test]
async fn the_user_revokes_a_grant_and_its_tokens_stop_working() {
    let app = TestApp::spawn("").await;
    let secret = register(&app, false).await;
    let c = TestApp::client();
    login(&app, &c).await;
    let code = consent(&app, &c, "").await;
    let t: Value = token(&app, &code, &secret, None)
        .await
        .json()
        .await
        .expect("json");
    let access = t["access_token"].as_str().expect("token").to_string();

    let page = c
        .get(app.url("/account"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("Services allowed to change your DNS later") && page.contains(PID),
        "{page}"
    );
    let grant = hidden(&page, "grant");
    let csrf = {
        let at = page.find("name=\"grant\"").expect("grant form");
        hidden(&page[at..], "csrf")
    };
    let r = c
        .post(app.url("/account/revoke"))
        .form(&[("grant", grant.as_str()), ("csrf", "forged")])
        .send()
        .await;
    assert_eq!(r.expect("post").status(), 403);
    assert_eq!(
        apply(&app, &access, "domain=example.com&ip=192.0.2.5&token=t&force=1")
            .await
            .status(),
        200
    );
    let r = c
        .post(app.url("/account/revoke"))
        .form(&[("grant", grant.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await;
    let body = r.expect("post").text().await.expect("body");
    assert!(body.contains("The permission was withdrawn."), "{body}");
    let before = app.zone_text("example.com");
    assert_eq!(
        apply(&app, &access, "domain=example.com&ip=192.0.2.6&token=u&force=1")
            .await
            .status(),
        401
    );
    let r = reqwest::Client::new()
        .post(app.url(&format!(
            "/v2/oauth/access_token?grant_type=refresh_token&refresh_token={}",
            t["refresh_token"].as_str().expect("refresh")
        )))
        .form(&[("client_id", PID), ("client_secret", secret.as_str())])
        .send()
        .await
        .expect("refresh");
    assert_eq!(
        r.status(),
        400,
        "a refresh of a revoked grant is refused (form body accepted too)"
    );
    assert_eq!(app.zone_text("example.com"), before);
}
